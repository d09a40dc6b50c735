"""noisylab.data on the real data (skipped when ../shared/data is absent).

These decode each real source once per cache (the CI's ``NOISYLAB_CACHE`` when set), so a cold
run takes about a minute on two cores (mostly trainPart1's 2480 photos), a warm one seconds.
"""

from __future__ import annotations

import pytest
import torch

from noisylab.data import load
from noisylab.data.trainpart1 import CLASSES

pytestmark = pytest.mark.realdata


def test_real_mnist_task3(real_root, real_cache):
    d = load("mnistTask3", root=real_root, progress=False)
    assert len(d) == 60_000 and d.images.shape == (60_000, 1, 28, 28)
    assert d.classes == tuple("0123456789")
    assert sum(d.class_counts().values()) == 60_000 and min(d.class_counts().values()) > 5000
    assert len(set(d.ids)) == 60_000 and all(i.startswith("image_") for i in d.ids[:100])
    top_row = d.images[:, :, 0, :].float().mean()
    assert top_row < 0.1 * d.images.float().mean()  # white ink on black: the border is dark
    assert not d.meta["skipped"]


def test_real_train_part1(real_root, real_cache):
    d = load("trainPart1", root=real_root, progress=False)
    assert len(d) == 2480 and d.classes == CLASSES
    assert set(d.class_counts().values()) == {40}
    assert d.images[:, :, :, 0].max() <= 32 and d.images.amax(dim=(1, 2, 3)).min() == 255
    # fit: each image's ink box has a longer side of about 20 px
    ink = d.images[:, 0] > 64
    rows, cols = ink.any(2), ink.any(1)
    height = 28 - rows.int().argmax(1) - rows.flip(1).int().argmax(1)
    width = 28 - cols.int().argmax(1) - cols.flip(1).int().argmax(1)
    longer = torch.maximum(height, width).float()
    assert 19 <= longer.median() <= 21


def test_real_train_part1_digits(real_root, real_cache):
    d = load("trainPart1-digits", root=real_root, progress=False)
    assert len(d) == 400 and d.classes == tuple("0123456789")
    assert set(d.class_counts().values()) == {40}


def test_real_mnist_test(real_root, real_cache):
    d = load("mnist", root=real_root, split="test", progress=False)
    assert len(d) == 10_000 and d.class_counts()["1"] == 1135
    assert abs(d.images.float().mean().item() - 33.8) < 0.5  # published MNIST test mean ~33.8


def test_real_train_part1_test_split_is_absent(real_root):
    from noisylab.errors import NoisylabError

    if (real_root / "testPart1.zip").exists():
        pytest.skip("testPart1.zip is here")
    with pytest.raises(NoisylabError, match="testPart1.zip"):
        load("trainPart1", root=real_root, split="test")
