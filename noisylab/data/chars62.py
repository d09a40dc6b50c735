"""``trainPart1`` (62 handwritten characters) and ``trainPart1-digits`` (its digits 0-9).

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
from noisylab.data.archive import Archive, find_class_folders, signature
from noisylab.data.base import LabeledImages, from_arrays
from noisylab.data.decode import decode_files, default_workers
from noisylab.data.preprocess import (
    KEEP_SIZE_REFERENCE,
    PREPROCESS_MODES,
    ImageDecodeError,
    ink_box_size,
    open_image,
    photo_to_mnist_and_box,
)
from noisylab.data.roots import first_existing, not_found
from noisylab.errors import NoisylabError

CLASSES: tuple[str, ...] = tuple(
    [str(d) for d in range(10)]
    + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
)
"""The 62 class names in label order: ``0``-``9``, ``A``-``Z``, ``a``-``z``."""

DIGITS: tuple[str, ...] = CLASSES[:10]

_FOLDER = re.compile(r"^Sample(\d{3})$")


def candidates(root: Path, split: str) -> list[Path]:
    """Where the zip or folder is looked for, in order."""
    stem = "trainPart1" if split == "train" else "testPart1"
    inner = "train" if split == "train" else "test"
    return [root / f"{stem}.zip", root / stem, root / inner]


def locate(root: Path, split: str = "train") -> Path | None:
    """The trainPart1 (or testPart1) zip or folder under ``root``, or None."""
    return first_existing(candidates(root, split))


def _how(split: str, root: Path) -> str:
    if split == "train":
        return f"put trainPart1.zip in {root}/"
    return (
        f"put testPart1.zip (layout test/SampleNNN/) in {root}/ next to trainPart1.zip; the Part-1 "
        "test set is held back until the task releases it"
    )


def _class_files(archive: Archive, digits_only: bool) -> tuple[list[str], list[int]]:
    """Files and labels, checking the SampleNNN folders."""
    tree = find_class_folders(archive, what="SampleNNN class folders")
    wanted = DIGITS if digits_only else CLASSES
    by_index: dict[int, list[str]] = {}
    for folder, files in tree.folders.items():
        m = _FOLDER.match(folder)
        if not m or not 1 <= int(m.group(1)) <= len(CLASSES):
            raise NoisylabError(
                f"unexpected folder {archive.describe(f'{tree.prefix}/{folder}'.lstrip('/'))}: "
                "trainPart1 holds only class folders Sample001..Sample062; move it out"
            )
        by_index[int(m.group(1)) - 1] = files
    missing = [f"Sample{k + 1:03d}" for k in range(len(wanted)) if k not in by_index]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise NoisylabError(
            f"class folders missing in {archive.describe(tree.prefix)}: {', '.join(missing[:5])}{more} "
            f"(expected Sample001..Sample{len(wanted):03d}); the archive is incomplete, get it again"
        )
    rels, labels = [], []
    for k in range(len(wanted)):
        rels += by_index[k]
        labels += [k] * len(by_index[k])
    return rels, labels


def load_chars62(
    root: Path,
    origin: str,
    *,
    split: str = "train",
    strict: bool = False,
    progress: bool = True,
    digits_only: bool = False,
    preprocess: str = "fit",
    reference: float = KEEP_SIZE_REFERENCE,
    workers: int | None = None,
) -> LabeledImages:
    """Load trainPart1 (62 classes) or, with ``digits_only``, its 10 digit classes.

    Parameters
    ----------
    root : pathlib.Path
        Data root holding ``trainPart1.zip`` (``testPart1.zip`` for ``split="test"``).
    origin : str
        Where ``root`` came from (for messages).
    split : {"train", "test"}
    preprocess : {"fit", "keep-size"}
        See the module docstring.
    reference : float
        ``"keep-size"`` reference box, as a fraction of the page's shorter side (default 0.72).
    workers : int or None
        Decoding processes; None picks ``min(4, CPUs)``.

    Returns
    -------
    LabeledImages
        ``images`` uint8 ``(N, 1, 28, 28)``; ``classes`` `CLASSES` (or `DIGITS`); ``ids`` the
        file names (``img001-001.png``); ``boxes`` each photo's ink box on its page.
    """
    name = "trainPart1-digits" if digits_only else "trainPart1"
    if preprocess not in PREPROCESS_MODES:
        raise NoisylabError(
            f"preprocess must be one of {', '.join(PREPROCESS_MODES)}; got {preprocess!r}"
        )
    if not 0.05 <= float(reference) <= 1.5:
        raise NoisylabError(
            f"reference must be a fraction of the page side in 0.05..1.5; got {reference!r}"
        )
    looked = candidates(root, split)
    path = first_existing(looked)
    if path is None:
        what = f"{name} ({split} split)" if split != "train" else name
        raise not_found(what, looked, root, origin, _how(split, root))
    options = {"preprocess": preprocess, "digits_only": digits_only}
    if preprocess == "keep-size":
        options["reference"] = float(reference)
    classes = DIGITS if digits_only else CLASSES

    def decode() -> dict:
        with Archive(path) as archive:
            rels, labels = _class_files(archive, digits_only)
            fn = partial(photo_to_mnist_and_box, preprocess=preprocess, reference=float(reference))
            n_workers = workers or default_workers(len(rels), heavy=True)
            images, kept, skipped, _, boxes = decode_files(
                archive,
                rels,
                fn,
                workers=n_workers,
                progress=progress,
                desc=f"decoding {name}",
                strict=strict,
            )
            labels_arr = np.asarray(labels, np.int64)[kept]
            for k in range(len(classes)):
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
                "classes": list(classes),
                "meta": {"skipped": [list(s) for s in skipped], "files": len(rels)},
            }

    sig = signature(path)
    decode_fn = decode
    if digits_only:
        # When the 62-class entry is cached it already holds the digits: take them from it.
        full = cache.read(
            cache.entry_path("trainPart1", split, [sig], {**options, "digits_only": False})
        )
        if full is not None:
            decode_fn = partial(_digits_of, full)
    arrays, state, entry = cache.load_or_decode(
        source=name,
        split=split,
        signatures=[sig],
        options=options,
        decode=decode_fn,
        strict=strict,
        where=str(path),
    )
    how = "fit to 20 px, centre of mass centred (MNIST style)"
    if preprocess == "keep-size":
        how = f"one scale per page (reference box {reference:g} of the 900 px side), centre of mass centred"
    kinds = "handwritten digits 0-9" if digits_only else "handwritten characters 0-9, A-Z, a-z"
    desc = f"{name} {split}: {kinds} ({len(classes)} classes), 1200x900 photos inverted, cropped to the ink, {how}"
    meta = {
        "split": split,
        "preprocess": preprocess,
        "cache": state,
        "cache_file": str(entry),
        "skipped": arrays["meta"].get("skipped", []),
    }
    if preprocess == "keep-size":
        meta["reference"] = float(reference)
    return from_arrays(arrays, source=desc, path=path, meta=meta)


def _digits_of(full: dict) -> dict:
    """The digit classes of a cached 62-class decode."""
    keep = np.flatnonzero(full["labels"] < len(DIGITS))

    def is_digit_file(rel: str) -> bool:
        m = _FOLDER.match(rel.split("/")[-2] if "/" in rel else "")
        return bool(m) and int(m.group(1)) <= len(DIGITS)

    skipped = [s for s in full["meta"].get("skipped", []) if is_digit_file(s[0])]
    return {
        "images": full["images"][keep],
        "labels": full["labels"][keep],
        "boxes": full["boxes"][keep],
        "ids": full["ids"][keep].tolist(),
        "classes": list(DIGITS),
        "meta": {"skipped": skipped, "files": int(len(keep) + len(skipped))},
    }


def read_raw(root: Path, split: str, ids: list[str]) -> list:
    """The original photos (PIL images) of the samples with these ids (file names)."""
    path = locate(root, split)
    if path is None:
        raise NoisylabError(f"trainPart1 ({split}) not found under {root}")
    out = []
    with Archive(path) as archive:
        by_name = {rel.rsplit("/", 1)[-1]: rel for rel in archive.files}
        for i in ids:
            out.append(open_image(archive.read(by_name[i]), by_name[i]))
    return out


def measure_ink_boxes(
    root: Path, split: str = "train", *, progress: bool = True
) -> dict[str, np.ndarray]:
    """Ink bounding boxes of every image, per class: ``{class: float (n, 2)}`` of (height, width) px.

    Boxes are found at the working resolution of `noisylab.data.preprocess.find_ink` (1/4 for
    1200x900 pages), so they are multiples of 4 px. This is how `KEEP_SIZE_REFERENCE` was chosen.
    """
    import sys

    from tqdm import tqdm

    path = locate(root, split)
    if path is None:
        raise not_found("trainPart1", candidates(root, split), root, "--root", _how(split, root))
    with Archive(path) as archive:
        rels, labels = _class_files(archive, False)
        boxes: dict[str, list] = {c: [] for c in CLASSES}
        for rel, k in tqdm(
            list(zip(rels, labels, strict=True)), file=sys.stderr, disable=not progress
        ):
            try:
                h, w, _, _ = ink_box_size(archive.read(rel), name=rel)
            except ImageDecodeError:
                continue
            boxes[CLASSES[k]].append((h, w))
    return {c: np.asarray(v, dtype=np.float64).reshape(-1, 2) for c, v in boxes.items()}
