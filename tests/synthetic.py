"""Tiny synthetic image sets shared by the tests (built in memory, no files)."""

from __future__ import annotations

import numpy as np
import torch

from noisylab.data.base import LabeledImages


def blobs(n: int, *, seed: int = 0, classes: str = "abcd") -> LabeledImages:
    """``n`` images of 4 classes: class ``c`` is a bright 10x10 square in quadrant ``c`` on a
    noisy background. Ids are ``img_<i>``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 40, (n, 1, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 2)
        images[i, 0, 2 + 14 * r:12 + 14 * r, 2 + 14 * q:12 + 14 * q] = 255
    return LabeledImages(torch.from_numpy(images), torch.from_numpy(labels).long(), tuple(classes),
                         tuple(f"img_{i:05d}" for i in range(n)), "blobs")
