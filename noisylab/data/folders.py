"""Class-per-folder images: ``mnistTask3`` and ``folder:PATH`` (any such tree or zip).

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
from noisylab.data.archive import Archive, find_class_folders, signature
from noisylab.data.base import LabeledImages, from_arrays
from noisylab.data.decode import decode_files, default_workers
from noisylab.data.preprocess import (
    KEEP_SIZE_REFERENCE,
    PREPROCESS_MODES,
    ImageDecodeError,
    any_to_mnist,
    open_image,
)
from noisylab.data.roots import first_existing, not_found
from noisylab.errors import NoisylabError

MNIST_TASK3_CLASSES = tuple(str(d) for d in range(10))


def task3_candidates(root: Path) -> list[Path]:
    """Where mnistTask3 is looked for, in order."""
    return [root / "mnistTask3.zip", root / "mnistTask3"]


def _is_heavy(archive: Archive, rels: list[str]) -> bool:
    """Whether the images need the photo path (bigger than 64x64): then a process pool pays."""
    for rel in rels[:3]:
        try:
            img = open_image(archive.read(rel), rel)
        except ImageDecodeError:
            continue
        return max(img.size) > 64
    return False


def load_tree(
    path: Path,
    *,
    name: str,
    description: str,
    expect_classes: tuple[str, ...] | None = None,
    strict: bool = False,
    progress: bool = True,
    preprocess: str = "fit",
    reference: float = KEEP_SIZE_REFERENCE,
    workers: int | None = None,
) -> LabeledImages:
    """Load a class-per-folder tree or zip of images.

    Parameters
    ----------
    path : pathlib.Path
        The folder or ``.zip``.
    name : str
        Source name for messages and the cache (``"mnistTask3"``, ``"folder:..."``).
    description : str
        The start of the one-line ``source`` description.
    expect_classes : tuple of str or None
        When given, the class folders must be exactly these.
    preprocess, reference
        For dark-on-light images, as in `noisylab.data.chars62.load_chars62`.
    workers : int or None
        Decoding processes; None uses a pool only for images bigger than 64x64.

    Returns
    -------
    LabeledImages
        ``images`` uint8 ``(N, 1, 28, 28)``, ordered by class then file name (natural order).
    """
    if preprocess not in PREPROCESS_MODES:
        raise NoisylabError(
            f"preprocess must be one of {', '.join(PREPROCESS_MODES)}; got {preprocess!r}"
        )
    options = {"preprocess": preprocess}
    if preprocess == "keep-size":
        options["reference"] = float(reference)

    def decode() -> dict:
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
            fn = partial(
                any_to_mnist, preprocess=preprocess, reference=float(reference), with_kind=True
            )
            n_workers = workers or default_workers(len(rels), heavy=_is_heavy(archive, rels))
            images, kept, skipped, kinds, _ = decode_files(
                archive,
                rels,
                fn,
                workers=n_workers,
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
            ids = [rels[i][start:].split("/", 1)[1] for i in kept]
            return {
                "images": images,
                "labels": labels_arr,
                "ids": ids,
                "classes": list(classes),
                "meta": {
                    "skipped": [list(s) for s in skipped],
                    "files": len(rels),
                    "converted": kinds,
                },
            }

    arrays, state, entry = cache.load_or_decode(
        source=name,
        split="train",
        signatures=[signature(path)],
        options=options,
        decode=decode,
        strict=strict,
        where=str(path),
    )
    meta = {
        "split": "train",
        "preprocess": preprocess,
        "cache": state,
        "cache_file": str(entry),
        "skipped": arrays["meta"].get("skipped", []),
        "converted": arrays["meta"].get("converted", {}),
    }
    return from_arrays(arrays, source=description, path=path, meta=meta)


def load_task3(
    root: Path, origin: str, *, strict: bool = False, progress: bool = True, **options
) -> LabeledImages:
    """Load mnistTask3: 60,000 MNIST training images, 28x28 JPEGs, in folders ``0``..``9``.

    The folder is the given label, and it is corrupted: ``labels`` are *not* the true digits.
    """
    looked = task3_candidates(root)
    path = first_existing(looked)
    if path is None:
        raise not_found("mnistTask3", looked, root, origin, f"put mnistTask3.zip in {root}/")
    return load_tree(
        path,
        name="mnistTask3",
        description=(
            "mnistTask3 train: MNIST training images (28x28 JPEGs) in folders 0-9; the folder is the "
            "given, corrupted label"
        ),
        expect_classes=MNIST_TASK3_CLASSES,
        strict=strict,
        progress=progress,
        **options,
    )


def load_folder(
    spec: str, *, strict: bool = False, progress: bool = True, **options
) -> LabeledImages:
    """Load ``folder:PATH``: any class-per-folder tree or zip (PATH relative to the working folder)."""
    raw = spec.split(":", 1)[1]
    if not raw:
        raise NoisylabError("folder: needs a path, e.g. folder:my_images/ or folder:my_images.zip")
    path = Path(raw).expanduser()
    if not path.exists():
        raise NoisylabError(
            f"{path} does not exist (from {spec!r}); give folder:PATH a folder of class folders "
            "or a zip of them"
        )
    return load_tree(
        path,
        name=spec,
        description=f"folder {path}: class-per-folder images; the folder is the given label",
        strict=strict,
        progress=progress,
        **options,
    )
