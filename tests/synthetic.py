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


class Crash(Exception):
    """Stands for a process killed between two epochs."""


def crash_then_resume(data, cfg, out_dir, *, after_epoch: int = 1, **kwargs):
    """Train into ``out_dir``, crash right after epoch ``after_epoch`` is logged, then resume
    there; returns the resumed run's `noisylab.train.TrainResult` (``kwargs`` go to both calls of
    `noisylab.train.train`)."""
    import pytest

    from noisylab.train import train

    def crash(msg: str) -> None:
        if msg.startswith(f"epoch {after_epoch:>3}/"):
            raise Crash

    with pytest.raises(Crash):
        train(data, cfg, out_dir=out_dir, progress=False, log=crash, **kwargs)
    return train(data, cfg, out_dir=out_dir, resume=True, progress=False, log=lambda _: None,
                 **kwargs)


def timeless(history: list[dict]) -> list[dict]:
    """A run's per-epoch records without the wall-clock figures (which differ run to run)."""
    return [{k: v for k, v in m.items() if k not in ("seconds", "images_per_second")}
            for m in history]
