"""``digits``: scikit-learn's bundled 8x8 handwritten digits, made MNIST-like (`Digits`).

The 1797 images of ``sklearn.datasets.load_digits`` (values 0..16) are upsampled bilinearly to
20x20, scaled to 0..255 and put in the middle of a 28x28 field (a 4 px border), white on black.
There is one split: ``split="train"`` returns all 1797; the set is too small to hold a test
split back, so ``split="test"`` is refused rather than invented.
"""

from __future__ import annotations

import numpy as np

from noisylab.data.base import LabeledImages, Source, from_arrays

CLASSES = tuple(str(d) for d in range(10))


def upsample_8x8(images: np.ndarray) -> np.ndarray:
    """float ``(N, 8, 8)`` in 0..16 -> uint8 ``(N, 28, 28)``: bilinear to 20x20, centred, 0..255."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(images, np.float32)).unsqueeze(1)
    up = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False).squeeze(1)
    out = np.zeros((len(images), 28, 28), np.uint8)
    out[:, 4:24, 4:24] = np.round(np.clip(up.numpy(), 0, 16) * (255.0 / 16.0)).astype(np.uint8)
    return out


class Digits(Source):
    """``digits``: all 1797 scikit-learn digits as ``images`` uint8 ``(1797, 1, 28, 28)``.

    Needs no files (``root`` is not used); ``ids`` are the indices as strings.
    """

    name = "digits"
    description = ("scikit-learn's bundled 8x8 digits (1797), upsampled to 28x28; needs no files")
    wants = "nothing (ships with scikit-learn)"
    needs_files = False

    def read(self, path: None, split: str, *, strict: bool = False,
             progress: bool = True) -> LabeledImages:
        return load_digits28()


def load_digits28() -> LabeledImages:
    """All 1797 scikit-learn digits as ``images`` uint8 ``(1797, 1, 28, 28)``; ids are indices."""
    from sklearn.datasets import load_digits

    d = load_digits()
    arrays = {
        "images": upsample_8x8(d.images),
        "labels": np.asarray(d.target, np.int64),
        "ids": [str(i) for i in range(len(d.target))],
        "classes": list(CLASSES),
    }
    return from_arrays(
        arrays,
        source="digits train: scikit-learn's bundled 8x8 digits (1797), bilinear to 20x20, centred in 28x28",
        path=None,
        meta={"split": "train", "cache": "not used (bundled, decoded in memory)", "skipped": []},
    )
