"""`Source`, what every data source is, and `LabeledImages`, what every source returns."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from noisylab.data.roots import first_existing, not_found, resolve_root
from noisylab.errors import NoisylabError

SPLITS = ("train", "test")
"""Every split a source may have."""


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
        ``(top, bottom, left, right)`` as fractions of the page's height and width: where the
        ink was and how big it was, which cropping to the ink throws away. None for other
        sources.
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


class Source:
    """One data source: where its files are looked for, and how they become `LabeledImages`.

    Every source is loaded the same way, ``source.load(root, split, **options)``. A subclass
    sets the class attributes and implements `candidates` (where to look) and `read` (how to
    turn what was found into images); a subclass that differs only in its files or in what it
    keeps overrides only those.

    Attributes
    ----------
    name : str
        The name `noisylab.data.load` takes.
    description : str
        One line: what it is.
    splits : tuple of str
        The splits it has (a subset of ``("train", "test")``).
    options : tuple of str
        The ``**options`` its `load` takes besides ``strict``, ``progress`` and ``download``.
    wants : str
        What to put under the data root (for ``noisylab data list``).
    needs_files : bool
        False for bundled data (then ``root`` is not used).
    downloadable : bool
        Whether ``download=True`` can fetch missing files.
    has_raw_photos : bool
        Whether `read_raw` gives the original photos (for before/after figures).
    """

    name: str = ""
    description: str = ""
    splits: tuple[str, ...] = ("train",)
    options: tuple[str, ...] = ()
    wants: str = ""
    needs_files: bool = True
    downloadable: bool = False
    has_raw_photos: bool = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def candidates(self, root: Path, split: str) -> list[Path]:
        """Where the files of ``split`` are looked for under ``root``, in order."""
        return []

    def locate(self, root: Path, split: str = "train") -> Path | None:
        """The first of `candidates` that exists, or None."""
        return first_existing(self.candidates(Path(root), split))

    def how(self, root: Path, split: str) -> str:
        """What to do when the files are missing (the end of the not-found message)."""
        return f"put {self.wants} in {root}/"

    def load(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        *,
        strict: bool = False,
        progress: bool = True,
        download: bool = False,
        **options,
    ) -> LabeledImages:
        """Load ``split`` from the data root as MNIST-style images with their given labels.

        Parameters
        ----------
        root : path-like, optional
            Data root. Default: ``$NOISYLAB_DATA``, else ``./datasets``.
        split : {"train", "test"}
            One of `splits`.
        strict : bool
            An unreadable file is an error naming it, instead of a skip with one warning.
        progress : bool
            A progress bar on stderr while decoding.
        download : bool
            Fetch missing files (only where `downloadable`).
        **options
            The source's `options`.

        Raises
        ------
        NoisylabError
            One line: a split or option it does not have, missing files (every place looked,
            and how to get them), unreadable data.
        """
        self.check(split, download, options)
        root_path, origin = resolve_root(root)
        path = self.find(root_path, origin, split, download=download)
        return self.read(path, split, strict=strict, progress=progress, **options)

    def check(self, split: str, download: bool, options: dict) -> None:
        """Refuse a split, an option or a download this source does not have, before any work."""
        if split not in SPLITS:
            raise NoisylabError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
        if split not in self.splits:
            raise NoisylabError(f"{self.name} has no {split} split; it has: {', '.join(self.splits)}"
                                f"{self.split_hint(split)}")
        bad = sorted(set(options) - set(self.options))
        if bad:
            ok = ", ".join(self.options) if self.options else "none"
            raise NoisylabError(f"{self.name} does not take option {', '.join(bad)}; it takes: {ok}")
        if download and not self.downloadable:
            raise NoisylabError(f"{self.name} cannot be downloaded; only mnist can (see `noisylab "
                                "data list` for what goes where)")
        self.check_options(**options)

    def split_hint(self, split: str) -> str:
        """Added to the message for a split the source does not have."""
        return ""

    def check_options(self, **options) -> None:
        """Refuse bad option values before any file is read (subclasses with options)."""

    def find(self, root: Path, origin: str, split: str, *, download: bool = False) -> Path | None:
        """The file or folder to read, or an error naming every place looked and how to get it.

        ``origin`` says where ``root`` came from (for the message). None for bundled data.
        """
        if not self.needs_files:
            return None
        looked = self.candidates(root, split)
        path = first_existing(looked)
        if path is None:
            what = f"{self.name} ({split} split)" if split != "train" else self.name
            raise not_found(what, looked, root, origin, self.how(root, split))
        return path

    def read(self, path: Path | None, split: str, *, strict: bool = False, progress: bool = True,
             **options) -> LabeledImages:
        """Turn the files at ``path`` (from `find`) into `LabeledImages`."""
        raise NotImplementedError

    def read_raw(self, root: Path, split: str, ids: list[str]) -> list:
        """The original images (PIL) of the samples with these ids (where `has_raw_photos`)."""
        raise NoisylabError(f"{self.name} has no raw photos to show")
