"""``trainPart1`` (62 handwritten characters) and ``trainPart1-digits`` (its digits 0-9):
`TrainPart1` and `TrainPart1Digits`.

Layout: ``trainPart1.zip`` (or the extracted ``trainPart1/`` or ``train/``) holding
``[train/]SampleNNN/imgNNN-MMM.png``; ``Sample001``..``Sample010`` are 0-9, ``Sample011``..
``Sample036`` A-Z, ``Sample037``..``Sample062`` a-z. 1200x900 RGB PNGs, black ink on white.
``split="test"`` reads ``testPart1.zip`` (``test/SampleNNN/``) from the same root.

Preprocessing (see `noisylab.data.preprocess`):

- ``"fit"`` (default): invert, crop to the ink, fit the longer side to 20 px with
  anti-aliasing, centre of mass at the centre of 28x28: what MNIST did.
- ``"keep-size"``: cropping to the ink throws away the size that tells c from C. This mode
  scales every image by one factor, ``20 / (reference * 900)`` for these 1200x900 pages; a
  character whose ink box is bigger than the reference box is still fit into 20 px.

The reference, measured on the real trainPart1 (2480 images; ink boxes at 1/4 resolution, so
to within 4 px; `measure_ink_boxes` reproduces it): the longer side of the ink box of digits and
capitals has percentiles 5/25/50/75/90/95/99 = 328/416/476/540/604/648/710 px, of the
x-height small letters (a c e m n o r s u v w x z) 228/300/352/412/476/512/571 px. Median box
height, small vs capital: c 296 vs C 458 (0.65), o 332 vs O 474 (0.70), s 348 vs S 506 (0.69),
x 284 vs X 480 (0.59), v 336 vs V 458, w 302 vs W 464, z 324 vs Z 438, u 312 vs U 470; but
1 472 vs l 460 (1.03: size does not tell them apart). The default reference is the 95th
percentile of digits and capitals, 648 px = 0.72 of the 900 px side: 95% of capitals keep
their size (median capital 476 px -> about 15 px, median x-height letter 352 px -> 11 px).
"""

from __future__ import annotations

import re
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
    check_photo_options,
    ink_box_size,
    open_image,
    photo_to_mnist_and_box,
)
from noisylab.data.roots import not_found
from noisylab.errors import NoisylabError

CLASSES: tuple[str, ...] = tuple(
    [str(d) for d in range(10)]
    + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
)
"""The 62 class names in label order: ``0``-``9``, ``A``-``Z``, ``a``-``z``."""

DIGITS: tuple[str, ...] = CLASSES[:10]

PAIRS = ("c", "C", "o", "O", "s", "S", "x", "X", "1", "l")
"""Classes shown by default in the before/after figure: pairs that differ mainly in size."""

_FOLDER = re.compile(r"^Sample(\d{3})$")


def candidates(root: Path, split: str) -> list[Path]:
    """Where the zip or folder is looked for, in order."""
    stem = "trainPart1" if split == "train" else "testPart1"
    inner = "train" if split == "train" else "test"
    return [root / f"{stem}.zip", root / stem, root / inner]


def _class_files(archive: Archive, keep: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """Files and labels of the first ``len(keep)`` classes, checking the SampleNNN folders."""
    tree = find_class_folders(archive, what="SampleNNN class folders")
    by_index: dict[int, list[str]] = {}
    for folder, files in tree.folders.items():
        m = _FOLDER.match(folder)
        if not m or not 1 <= int(m.group(1)) <= len(CLASSES):
            raise NoisylabError(
                f"unexpected folder {archive.describe(f'{tree.prefix}/{folder}'.lstrip('/'))}: "
                "trainPart1 holds only class folders Sample001..Sample062; move it out"
            )
        by_index[int(m.group(1)) - 1] = files
    missing = [f"Sample{k + 1:03d}" for k in range(len(keep)) if k not in by_index]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise NoisylabError(
            f"class folders missing in {archive.describe(tree.prefix)}: {', '.join(missing[:5])}{more} "
            f"(expected Sample001..Sample{len(keep):03d}); the archive is incomplete, get it again"
        )
    rels, labels = [], []
    for k in range(len(keep)):
        rels += by_index[k]
        labels += [k] * len(by_index[k])
    return rels, labels


def _decode(path: Path, keep: tuple[str, ...], *, name: str, preprocess: str, reference: float,
            workers: int | None, strict: bool, progress: bool) -> dict:
    """Decode the photos of the classes ``keep`` (what `cache.load_or_decode` stores)."""
    with Archive(path) as archive:
        rels, labels = _class_files(archive, keep)
        fn = partial(photo_to_mnist_and_box, preprocess=preprocess, reference=float(reference))
        images, kept, skipped, _, boxes = decode_files(
            archive,
            rels,
            fn,
            workers=workers or default_workers(len(rels), heavy=True),
            progress=progress,
            desc=f"decoding {name}",
            strict=strict,
        )
        labels_arr = np.asarray(labels, np.int64)[kept]
        for k in range(len(keep)):
            if not np.any(labels_arr == k):
                raise NoisylabError(
                    f"class folder Sample{k + 1:03d} in {archive.describe()} has no readable image; "
                    "put its images back"
                )
        return {
            "images": images,
            "labels": labels_arr,
            "boxes": boxes,
            "ids": [rels[i].rsplit("/", 1)[-1] for i in kept],
            "classes": list(keep),
            "meta": {"skipped": [list(s) for s in skipped], "files": len(rels)},
        }


def _first_classes(full: dict, keep: tuple[str, ...]) -> dict:
    """The first ``len(keep)`` classes of a cached 62-class decode."""
    rows = np.flatnonzero(full["labels"] < len(keep))

    def is_kept_file(rel: str) -> bool:
        m = _FOLDER.match(rel.split("/")[-2] if "/" in rel else "")
        return bool(m) and int(m.group(1)) <= len(keep)

    skipped = [s for s in full["meta"].get("skipped", []) if is_kept_file(s[0])]
    return {
        "images": full["images"][rows],
        "labels": full["labels"][rows],
        "boxes": full["boxes"][rows],
        "ids": full["ids"][rows].tolist(),
        "classes": list(keep),
        "meta": {"skipped": skipped, "files": int(len(rows) + len(skipped))},
    }


class TrainPart1(Source):
    """``trainPart1``: the 62 classes of Part-1 handwritten characters (see the module docstring).

    ``load(root, split, preprocess="fit", reference=0.72, workers=None)``: ``preprocess`` is
    ``"fit"`` or ``"keep-size"``, ``reference`` the keep-size reference box as a fraction of the
    page's shorter side, ``workers`` the decoding processes (None: ``min(4, CPUs)``). The result
    has ``classes`` `keep`, ``ids`` the file names (``img001-001.png``) and ``boxes`` each
    photo's ink box on its page.
    """

    name = "trainPart1"
    description = ("Part-1 handwritten characters, 62 classes (0-9, A-Z, a-z), 40 photos each; "
                   "MNIST-style 28x28")
    splits = ("train", "test")
    options = PHOTO_OPTIONS
    wants = "trainPart1.zip (test split: testPart1.zip)"
    has_raw_photos = True
    keep: tuple[str, ...] = CLASSES
    """The classes kept, the first ``len(keep)`` of `CLASSES` (folders Sample001..)."""
    kinds = "handwritten characters 0-9, A-Z, a-z"
    contrast_classes: tuple[str, ...] = PAIRS
    """Classes the before/after figure shows by default."""

    def candidates(self, root: Path, split: str) -> list[Path]:
        return candidates(root, split)

    def how(self, root: Path, split: str) -> str:
        if split == "train":
            return f"put trainPart1.zip in {root}/"
        return (
            f"put testPart1.zip (layout test/SampleNNN/) in {root}/ next to trainPart1.zip; the "
            "Part-1 test set is held back until the task releases it"
        )

    def check_options(self, **options) -> None:
        check_photo_options(**options)

    def read(self, path: Path, split: str, *, strict: bool = False, progress: bool = True,
             preprocess: str = "fit", reference: float = KEEP_SIZE_REFERENCE,
             workers: int | None = None) -> LabeledImages:
        options = {"preprocess": preprocess, "digits_only": self.keep == DIGITS}
        if preprocess == "keep-size":
            options["reference"] = float(reference)
        decode = partial(_decode, path, self.keep, name=self.name, preprocess=preprocess,
                         reference=reference, workers=workers, strict=strict, progress=progress)
        sig = signature(path)
        if self.keep != CLASSES:
            # When the 62-class entry is cached it already holds these classes: take them from it.
            full = cache.read(cache.entry_path(TrainPart1.name, split, [sig],
                                               {**options, "digits_only": False}))
            if full is not None:
                decode = partial(_first_classes, full, self.keep)
        arrays, state, entry = cache.load_or_decode(
            source=self.name, split=split, signatures=[sig], options=options, decode=decode,
            strict=strict, where=str(path),
        )
        meta = {"split": split, "preprocess": preprocess, "cache": state, "cache_file": str(entry),
                "skipped": arrays["meta"].get("skipped", [])}
        if preprocess == "keep-size":
            meta["reference"] = float(reference)
        return from_arrays(arrays, source=self._describe(split, preprocess, reference), path=path,
                           meta=meta)

    def _describe(self, split: str, preprocess: str, reference: float) -> str:
        how = "fit to 20 px, centre of mass centred (MNIST style)"
        if preprocess == "keep-size":
            how = (f"one scale per page (reference box {reference:g} of the 900 px side), centre "
                   "of mass centred")
        return (f"{self.name} {split}: {self.kinds} ({len(self.keep)} classes), 1200x900 photos "
                f"inverted, cropped to the ink, {how}")

    def read_raw(self, root: Path, split: str, ids: list[str]) -> list:
        """The original photos (PIL images) of the samples with these ids (file names)."""
        path = self.locate(root, split)
        if path is None:
            raise NoisylabError(f"{self.name} ({split}) not found under {root}")
        out = []
        with Archive(path) as archive:
            by_name = {rel.rsplit("/", 1)[-1]: rel for rel in archive.files}
            for i in ids:
                try:
                    out.append(open_image(archive.read(by_name[i]), by_name[i]))
                except UnreadableFile as err:
                    raise NoisylabError(f"cannot show {archive.describe(by_name[i])}: {err}") from None
        return out


class TrainPart1Digits(TrainPart1):
    """``trainPart1-digits``: the 10 digit classes (0-9) of `TrainPart1`, read the same way."""

    name = "trainPart1-digits"
    description = "the 10 digit classes (0-9) of trainPart1, same preprocessing"
    keep = DIGITS
    kinds = "handwritten digits 0-9"
    contrast_classes = DIGITS


def locate(root: Path, split: str = "train") -> Path | None:
    """The trainPart1 (or testPart1) zip or folder under ``root``, or None."""
    return TrainPart1().locate(root, split)


def measure_ink_boxes(
    root: Path, split: str = "train", *, progress: bool = True
) -> dict[str, np.ndarray]:
    """Ink bounding boxes of every image, per class: ``{class: float (n, 2)}`` of (height, width) px.

    Boxes are found at the working resolution of `noisylab.data.preprocess.find_ink` (1/4 for
    1200x900 pages), so they are multiples of 4 px. This is how `KEEP_SIZE_REFERENCE` was chosen.
    """
    import sys

    from tqdm import tqdm

    source = TrainPart1()
    path = source.locate(root, split)
    if path is None:
        raise not_found("trainPart1", candidates(root, split), root, "--root",
                        source.how(root, split))
    with Archive(path) as archive:
        rels, labels = _class_files(archive, CLASSES)
        boxes: dict[str, list] = {c: [] for c in CLASSES}
        for rel, k in tqdm(
            list(zip(rels, labels, strict=True)), file=sys.stderr, disable=not progress
        ):
            try:
                h, w, _, _ = ink_box_size(archive.read(rel), name=rel)
            except UnreadableFile:
                continue
            boxes[CLASSES[k]].append((h, w))
    return {c: np.asarray(v, dtype=np.float64).reshape(-1, 2) for c, v in boxes.items()}
