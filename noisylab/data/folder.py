"""``folder:PATH``: any class-per-folder tree or zip of images (`Folder`), and `ClassFolders`,
what every class-per-folder source shares (`noisylab.data.mnisttask3` is one).

The folder an image is in is its *given* label; class names are the folder names, sorted
naturally (``2`` before ``10``). The class folders may be wrapped in one top-level folder. The
sample id is the path inside the class folder (the file name, e.g. ``image_000123.jpg``).

Each image is converted the documented way (`noisylab.data.preprocess.any_to_mnist`):
grayscale; if its frame is mostly light (dark ink on light paper) it is inverted and
preprocessed like trainPart1 (crop to the ink, fit 20 px, centre of mass); otherwise, if it is
not 28x28, the whole image is resized to 28x28 with anti-aliasing; a 28x28 image with a dark
frame is used as it is.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from noisylab.data import cache
from noisylab.data.archive import Archive, UnreadableFile, find_class_folders, signature
from noisylab.data.base import LabeledImages, Source, from_arrays
from noisylab.data.decode import decode_files, default_workers
from noisylab.data.preprocess import (
    KEEP_SIZE_REFERENCE,
    PHOTO_OPTIONS,
    any_to_mnist,
    check_photo_options,
    open_image,
)
from noisylab.errors import NoisylabError


def _is_heavy(archive: Archive, rels: list[str]) -> bool:
    """Whether the images need the photo path (bigger than 64x64): then a process pool pays."""
    for rel in rels[:3]:
        try:
            img = open_image(archive.read(rel), rel)
        except UnreadableFile:
            continue
        return max(img.size) > 64
    return False


def _decode(path: Path, *, name: str, expect_classes: tuple[str, ...] | None, preprocess: str,
            reference: float, workers: int | None, strict: bool, progress: bool) -> dict:
    """Decode every image of the tree (what `cache.load_or_decode` stores)."""
    with Archive(path) as archive:
        tree = find_class_folders(archive)
        classes = tuple(tree.folders)
        if expect_classes is not None and classes != expect_classes:
            raise NoisylabError(
                f"{archive.describe(tree.prefix)} has class folders {', '.join(classes)}; "
                f"{name} should have exactly {', '.join(expect_classes)}; get the archive again"
            )
        rels, labels = [], []
        for k, files in enumerate(tree.folders.values()):
            rels += files
            labels += [k] * len(files)
        fn = partial(any_to_mnist, preprocess=preprocess, reference=float(reference), with_kind=True)
        images, kept, skipped, kinds, _ = decode_files(
            archive,
            rels,
            fn,
            workers=workers or default_workers(len(rels), heavy=_is_heavy(archive, rels)),
            progress=progress,
            desc=f"decoding {name}",
            strict=strict,
        )
        labels_arr = np.asarray(labels, np.int64)[kept]
        for k, c in enumerate(classes):
            if not np.any(labels_arr == k):
                raise NoisylabError(
                    f"class folder {c} in {archive.describe(tree.prefix)} has no readable image; "
                    "put its images back or remove the folder"
                )
        start = len(tree.prefix) + 1 if tree.prefix else 0
        return {
            "images": images,
            "labels": labels_arr,
            "ids": [rels[i][start:].split("/", 1)[1] for i in kept],
            "classes": list(classes),
            "meta": {"skipped": [list(s) for s in skipped], "files": len(rels),
                     "converted": kinds},
        }


class ClassFolders(Source):
    """A source whose images sit in one folder per class, in a folder or a zip.

    ``load(root, split, preprocess="fit", reference=0.72, workers=None)``: ``preprocess`` and
    ``reference`` apply to dark-on-light images, as for `noisylab.data.trainpart1.TrainPart1`;
    ``workers`` None uses a process pool only for images bigger than 64x64. The result's
    images are ordered by class, then file name (natural order).
    """

    options = PHOTO_OPTIONS
    expect_classes: tuple[str, ...] | None = None
    """When set, the class folders must be exactly these."""

    def check_options(self, **options) -> None:
        check_photo_options(**options)

    def describe(self, path: Path) -> str:
        """The one-line ``source`` of what was read from ``path``."""
        return f"{self.name}: class-per-folder images; the folder is the given label"

    def read(self, path: Path, split: str, *, strict: bool = False, progress: bool = True,
             preprocess: str = "fit", reference: float = KEEP_SIZE_REFERENCE,
             workers: int | None = None) -> LabeledImages:
        options = {"preprocess": preprocess}
        if preprocess == "keep-size":
            options["reference"] = float(reference)
        decode = partial(_decode, path, name=self.name, expect_classes=self.expect_classes,
                         preprocess=preprocess, reference=reference, workers=workers,
                         strict=strict, progress=progress)
        arrays, state, entry = cache.load_or_decode(
            source=self.name, split=split, signatures=[signature(path)], options=options,
            decode=decode, strict=strict, where=str(path),
        )
        meta = {
            "split": split,
            "preprocess": preprocess,
            "cache": state,
            "cache_file": str(entry),
            "skipped": arrays["meta"].get("skipped", []),
            "converted": arrays["meta"].get("converted", {}),
        }
        return from_arrays(arrays, source=self.describe(path), path=path, meta=meta)


class Folder(ClassFolders):
    """``folder:PATH``: the class-per-folder tree or zip at PATH.

    PATH is relative to the working folder, not to the data root (``root`` is not used). It
    has one split, ``train``; another folder is another source (``folder:PATH/test``).

    Parameters
    ----------
    spec : str
        ``"folder:PATH"``.
    """

    description = "any class-per-folder tree or zip of images (class = folder name)"
    wants = "a folder of class folders, or a zip of them"

    def __init__(self, spec: str) -> None:
        self.name = spec
        self.raw = spec.split(":", 1)[1]

    def check(self, split: str, download: bool, options: dict) -> None:
        if split == "test":
            raise NoisylabError(f"{self.name} has one split (train); to load another folder, name "
                                f"it: folder:PATH/{split}")
        super().check(split, download, options)

    def find(self, root: Path, origin: str, split: str, *, download: bool = False) -> Path:
        if not self.raw:
            raise NoisylabError("folder: needs a path, e.g. folder:my_images/ or folder:my_images.zip")
        path = Path(self.raw).expanduser()
        if not path.exists():
            raise NoisylabError(
                f"{path} does not exist (from {self.name!r}); give folder:PATH a folder of class "
                "folders or a zip of them"
            )
        return path

    def describe(self, path: Path) -> str:
        return f"folder {path}: class-per-folder images; the folder is the given label"
