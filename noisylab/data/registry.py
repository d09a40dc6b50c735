"""The known sources, and `load`, the one entry point."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from noisylab.data import chars62, folders, mnist
from noisylab.data.base import LabeledImages
from noisylab.data.injected import inject, split_name
from noisylab.data.roots import first_existing, resolve_root
from noisylab.errors import NoisylabError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Source:
    """One data source.

    Attributes
    ----------
    name : str
    description : str
        One line: what it is.
    splits : tuple of str
        The splits it has.
    options : tuple of str
        The ``**source_options`` `load` accepts for it.
    wants : str
        What to put under the data root (for ``data list``).
    locate : callable
        ``locate(root, split) -> Path | None``: where it is under ``root``, or None.
    """

    name: str
    description: str
    splits: tuple[str, ...]
    options: tuple[str, ...]
    wants: str
    locate: Callable[[Path, str], Path | None]


_PHOTO_OPTIONS = ("preprocess", "reference", "workers")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "trainPart1",
            "Part-1 handwritten characters, 62 classes (0-9, A-Z, a-z), 40 photos each; MNIST-style 28x28",
            ("train", "test"),
            _PHOTO_OPTIONS,
            "trainPart1.zip (test split: testPart1.zip)",
            chars62.locate,
        ),
        Source(
            "trainPart1-digits",
            "the 10 digit classes (0-9) of trainPart1, same preprocessing",
            ("train", "test"),
            _PHOTO_OPTIONS,
            "trainPart1.zip (test split: testPart1.zip)",
            chars62.locate,
        ),
        Source(
            "mnistTask3",
            "Part-3: 60,000 MNIST training images as JPEGs in folders 0-9; the folder is a corrupted label",
            ("train",),
            _PHOTO_OPTIONS,
            "mnistTask3.zip",
            lambda root, split="train": first_existing(folders.task3_candidates(root)),
        ),
        Source(
            "mnist",
            "standard MNIST (60,000 train, 10,000 test), IDX files via torchvision",
            ("train", "test"),
            (),
            "MNIST/raw/*-ubyte[.gz] (or --download when online)",
            mnist.locate,
        ),
        Source(
            "digits",
            "scikit-learn's bundled 8x8 digits (1797), upsampled to 28x28; needs no files",
            ("train",),
            (),
            "nothing (ships with scikit-learn)",
            lambda root, split="train": None,
        ),
    ]
}
"""Known sources by name. ``folder:PATH`` (any class-per-folder tree or zip) comes on top."""

FOLDER_HELP = "folder:PATH  any class-per-folder tree or zip of images (class = folder name)"


def status(root: str | os.PathLike | None = None) -> list[dict]:
    """Whether each source is present under the data root.

    Returns
    -------
    list of dict
        One per source in `SOURCES`: ``name``, ``description``, ``present`` (bool), ``where``
        ({split: Path} of the splits found), ``wants`` (what to put there), ``splits`` (all the
        source has), ``root``, ``origin``.
    """
    root_path, origin = resolve_root(root)
    out = []
    for s in SOURCES.values():
        if s.name == "digits":
            where = {"train": None}
        else:
            where = {sp: p for sp in s.splits if (p := s.locate(root_path, sp)) is not None}
        out.append(
            {
                "name": s.name,
                "description": s.description,
                "present": bool(where),
                "where": where,
                "wants": s.wants,
                "splits": s.splits,
                "root": root_path,
                "origin": origin,
            }
        )
    return out


def is_present(name: str, root: str | os.PathLike | None = None, split: str = "train") -> bool:
    """True when source ``name`` (a key of `SOURCES`) has ``split`` under the data root."""
    name = split_name(name)[0]
    if name not in SOURCES:
        raise NoisylabError(_unknown(name))
    if name == "digits":
        return split == "train"
    root_path, _ = resolve_root(root)
    return split in SOURCES[name].splits and SOURCES[name].locate(root_path, split) is not None


def _unknown(name: str) -> str:
    return (f"unknown dataset {name!r}; known: {', '.join(SOURCES)}, folder:PATH, and NAME+KIND "
            "for injected noise (e.g. digits+complementary)")


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    split: str = "train",
    strict: bool = False,
    download: bool = False,
    progress: bool = True,
    **source_options,
) -> LabeledImages:
    """Load a data source as MNIST-style images with their given labels.

    Parameters
    ----------
    name : str
        A key of `SOURCES` (``trainPart1``, ``trainPart1-digits``, ``mnistTask3``, ``mnist``,
        ``digits``) or ``folder:PATH`` for any class-per-folder tree or zip; ``NAME+KIND``
        (e.g. ``digits+complementary``, ``mnist+symmetric-20``) is ``NAME`` with seeded
        synthetic label noise injected into its train split (`noisylab.data.injected`); its
        test split stays clean.
    root : path-like, optional
        Data root. Default: ``$NOISYLAB_DATA``, else ``./datasets``.
    split : {"train", "test"}
        Which split; not every source has both (see `SOURCES`).
    strict : bool
        Make an unreadable image an error naming the file, instead of skipping it with one
        warning (`noisylab.data.DataWarning`).
    download : bool
        ``mnist`` only: download through torchvision when the files are missing.
    progress : bool
        Show a progress bar on stderr while decoding.
    **source_options
        ``preprocess`` (``"fit"`` or ``"keep-size"``), ``reference`` (keep-size reference box
        as a fraction of the page's shorter side, default 0.72) and ``workers`` (decoding
        processes) for ``trainPart1``, ``trainPart1-digits``, ``mnistTask3`` and ``folder:``.

    Returns
    -------
    LabeledImages
        ``images`` uint8 ``(N, 1, 28, 28)`` white on black, ``labels`` int64 ``(N,)``,
        ``classes``, ``ids``, ``source``, ``path``.

    Raises
    ------
    NoisylabError
        One line: unknown name, missing files (with every place looked and how to get them),
        an unsafe or unreadable archive, a missing, empty or unexpected class folder, an
        unreadable image with ``strict=True``, a bad option.
    """
    if not isinstance(name, str) or not name:
        raise NoisylabError(_unknown(str(name)))
    if split not in SPLITS:
        raise NoisylabError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    base, noise = split_name(name)
    if noise:
        data = load(base, root=root, split=split, strict=strict, download=download,
                    progress=progress, **source_options)
        return inject(data, noise) if split == "train" else data
    if name.startswith("folder:"):
        _check_options(name, _PHOTO_OPTIONS, source_options)
        if split != "train":
            raise NoisylabError(
                f"{name} has one split (train); to load another folder, name it: folder:PATH/{split}"
            )
        return folders.load_folder(name, strict=strict, progress=progress, **source_options)
    src = SOURCES.get(name)
    if src is None:
        raise NoisylabError(_unknown(name))
    if split not in src.splits:
        hint = " (for the MNIST test set use: mnist --split test)" if name == "mnistTask3" else ""
        raise NoisylabError(f"{name} has no {split} split; it has: {', '.join(src.splits)}{hint}")
    _check_options(name, src.options, source_options)
    if download and name != "mnist":
        raise NoisylabError(
            f"{name} cannot be downloaded; only mnist can (see `noisylab data list` for what goes where)"
        )
    if name == "digits":
        from noisylab.data.digits import load_digits28

        return load_digits28()
    root_path, origin = resolve_root(root)
    common = {"split": split, "strict": strict, "progress": progress}
    if name in ("trainPart1", "trainPart1-digits"):
        return chars62.load_chars62(
            root_path, origin, digits_only=(name == "trainPart1-digits"), **common, **source_options
        )
    if name == "mnistTask3":
        return folders.load_task3(
            root_path, origin, strict=strict, progress=progress, **source_options
        )
    return mnist.load_mnist(root_path, origin, split=split, download=download, progress=progress)


def _check_options(name: str, allowed: tuple[str, ...], given: dict) -> None:
    bad = sorted(set(given) - set(allowed))
    if bad:
        ok = ", ".join(allowed) if allowed else "none"
        raise NoisylabError(f"{name} does not take option {', '.join(bad)}; it takes: {ok}")
