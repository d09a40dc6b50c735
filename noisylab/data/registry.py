"""The registry of data sources, and `load`, the one entry point.

Every source is a `noisylab.data.base.Source` subclass, in a module named after it
(``trainpart1.py`` holds ``trainPart1``), loaded the same way: ``source.load(root, split,
**options)``. `SOURCES` holds one of each by name; ``folder:PATH`` makes a
`noisylab.data.folder.Folder` for PATH; ``NAME+KIND`` is NAME with injected label noise.

To add a source: write a subclass of `Source` (set ``name``, ``description``, ``splits``,
``wants``; implement ``candidates(root, split)``, where its files are looked for, and
``read(path, split, ...)``, how they become `LabeledImages`; a class-per-folder source can
subclass `noisylab.data.folder.ClassFolders` and set only its names and ``candidates``), then
add one line, an instance of it, to `SOURCES` below.
"""

from __future__ import annotations

import os

from noisylab.data.base import SPLITS, LabeledImages, Source
from noisylab.data.digits import Digits
from noisylab.data.folder import Folder
from noisylab.data.injected import inject, parse_kind, split_name
from noisylab.data.mnist import MNIST
from noisylab.data.mnisttask3 import MNISTTask3
from noisylab.data.roots import resolve_root
from noisylab.data.trainpart1 import TrainPart1, TrainPart1Digits
from noisylab.errors import NoisylabError

__all__ = ["FOLDER_HELP", "SOURCES", "SPLITS", "Source", "get_source", "is_present", "load",
           "status"]

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        TrainPart1(),
        TrainPart1Digits(),
        MNISTTask3(),
        MNIST(),
        Digits(),
    )
}
"""Known sources by name. ``folder:PATH`` (any class-per-folder tree or zip) comes on top."""

FOLDER_HELP = "folder:PATH  any class-per-folder tree or zip of images (class = folder name)"


def _unknown(name: str) -> str:
    return (f"unknown dataset {name!r}; known: {', '.join(SOURCES)}, folder:PATH, and NAME+KIND "
            "for injected noise (e.g. digits+complementary)")


def get_source(name: str) -> Source:
    """The source called ``name``: a key of `SOURCES`, or ``folder:PATH`` (without ``+KIND``).

    Raises
    ------
    NoisylabError
        For an unknown name, listing the known ones.
    """
    if isinstance(name, str) and name.startswith("folder:"):
        return Folder(name)
    if not isinstance(name, str) or name not in SOURCES:
        raise NoisylabError(_unknown(str(name)))
    return SOURCES[name]


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
        if not s.needs_files:
            where = {sp: None for sp in s.splits}
        else:
            where = {sp: p for sp in s.splits if (p := s.locate(root_path, sp)) is not None}
        out.append({"name": s.name, "description": s.description, "present": bool(where),
                    "where": where, "wants": s.wants, "splits": s.splits, "root": root_path,
                    "origin": origin})
    return out


def is_present(name: str, root: str | os.PathLike | None = None, split: str = "train") -> bool:
    """True when source ``name`` (a key of `SOURCES`) has ``split`` under the data root."""
    name = split_name(name)[0]
    if name not in SOURCES:
        raise NoisylabError(_unknown(name))
    source = SOURCES[name]
    if split not in source.splits:
        return False
    return not source.needs_files or source.locate(resolve_root(root)[0], split) is not None


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
        Make an unreadable file an error naming it, instead of skipping it with one warning
        (`noisylab.data.DataWarning`).
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
        unreadable file with ``strict=True``, a bad option.
    """
    if not isinstance(name, str) or not name:
        raise NoisylabError(_unknown(str(name)))
    if split not in SPLITS:
        raise NoisylabError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    base, noise = split_name(name)
    if noise:
        parse_kind(noise)  # a bad kind fails before any decoding
    data = get_source(base).load(root, split, strict=strict, progress=progress,
                                 download=download, **source_options)
    return inject(data, noise) if noise and split == "train" else data
