"""`LabeledImages`: what every source returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch


class DataWarning(UserWarning):
    """Something in the data was skipped; the message says what and how many (one line)."""


@dataclass(frozen=True, eq=False)
class LabeledImages:
    """Images with their *given* labels (which may be wrong), as every source returns them.

    Attributes
    ----------
    images : torch.Tensor
        uint8 ``(N, 1, 28, 28)``, white ink on black (MNIST style), values 0..255.
    labels : torch.Tensor
        int64 ``(N,)``: the given label of each image, an index into ``classes``. For noisy
        sources (mnistTask3) this is the corrupted label, not the truth.
    classes : tuple of str
        ``(K,)`` class names; ``labels[i] == k`` means image ``i`` is labelled ``classes[k]``.
    ids : tuple of str
        ``(N,)`` per-sample ids: the file name (``image_000123.jpg``) or the index as a string.
    source : str
        One line saying what this is and how it was made.
    path : pathlib.Path or None
        The file or folder it was read from (None for bundled data).
    meta : Mapping
        Extra facts about the load: ``split``, ``preprocess``, ``cache`` (``"hit"``,
        ``"written"``, ``"off"``...), ``cache_file``, ``skipped`` (files that could not be read).
    boxes : np.ndarray or None
        float32 ``(N, 4)``: for photos (trainPart1), each image's ink box on the original page,
        ``(top, bottom, left, right)`` as fractions of the page's height and width; the size
        that cropping to the ink threw away (see `noisylab.writer_size`). None for other sources.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    ids: tuple[str, ...]
    source: str
    path: Path | None = None
    meta: Mapping = field(default_factory=dict)
    boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.images.shape[0] if self.images.ndim else -1
        if self.images.dtype != torch.uint8 or tuple(self.images.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"images must be uint8 (N, 1, 28, 28), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (n,):
            raise ValueError(
                f"labels must be int64 ({n},), got {self.labels.dtype} {tuple(self.labels.shape)}"
            )
        if len(self.ids) != n:
            raise ValueError(f"ids must have {n} entries, got {len(self.ids)}")
        if self.boxes is not None and self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must be (N, 4) = ({n}, 4), got {self.boxes.shape}")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(f"labels must lie in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"LabeledImages(n={len(self)}, classes={len(self.classes)}, source={self.source!r}, "
            f"path={str(self.path) if self.path else None!r})"
        )

    def subset(self, indices) -> LabeledImages:
        """The samples at ``indices``, in that order.

        Parameters
        ----------
        indices : sequence of int, slice, bool mask ``(N,)``, numpy array or tensor
            Which samples to keep.

        Returns
        -------
        LabeledImages
            Same ``classes``, ``source``, ``path`` and ``meta``; ``images`` ``(M, 1, 28, 28)``.
        """
        if isinstance(indices, slice):
            idx = torch.arange(len(self))[indices]
        else:
            idx = torch.as_tensor(np.asarray(indices))
            if idx.dtype == torch.bool:
                if idx.shape != (len(self),):
                    raise ValueError(
                        f"a boolean mask must have shape ({len(self)},), got {tuple(idx.shape)}"
                    )
                idx = torch.nonzero(idx).flatten()
            idx = idx.to(torch.int64).reshape(-1)
        ids = tuple(self.ids[i] for i in idx.tolist())
        boxes = None if self.boxes is None else self.boxes[idx.numpy()]
        return replace(self, images=self.images[idx], labels=self.labels[idx], ids=ids,
                       boxes=boxes)

    def class_counts(self) -> dict[str, int]:
        """Number of images per given label, ``{class name: count}`` in class order (zeros included)."""
        counts = torch.bincount(self.labels, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, counts, strict=True))


def from_arrays(arrays: dict, *, source: str, path: Path | None, meta: dict) -> LabeledImages:
    """`LabeledImages` from numpy ``images`` uint8 ``(N, 28, 28)``, ``labels`` ``(N,)``, ``ids``,
    ``classes`` and, when present, ``boxes`` ``(N, 4)``."""
    images = torch.from_numpy(np.ascontiguousarray(arrays["images"], dtype=np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(np.asarray(arrays["labels"], dtype=np.int64))
    ids = tuple(str(i) for i in np.asarray(arrays["ids"]).tolist())
    classes = tuple(str(c) for c in np.asarray(arrays["classes"]).tolist())
    boxes = arrays.get("boxes")
    boxes = None if boxes is None else np.asarray(boxes, dtype=np.float32)
    return LabeledImages(images, labels, classes, ids, source, path, dict(meta), boxes)
