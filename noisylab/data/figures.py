"""Figures to check the data by eye: a grid of samples per class, and raw-vs-preprocessed."""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path

import numpy as np

from noisylab.data.base import LabeledImages
from noisylab.errors import NoisylabError

_ROWS_PER_BLOCK = 16


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_FORMATS = ("png", "jpg", "jpeg", "pdf", "svg")
"""The figure formats ``--out`` may name by its suffix (none: PNG)."""


def check_out(out: str | Path) -> Path:
    """Refuse an ``--out`` that cannot be written, before any data is loaded.

    Raises
    ------
    NoisylabError
        One line naming the path: an unknown suffix, a folder in its place, a regular file
        where a folder is needed, or a folder that is not writable.
    """
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".") or "png"
    if fmt not in _FORMATS:
        raise NoisylabError(f"cannot write {out}: unknown figure format .{fmt}; name a "
                            f"{', '.join('.' + f for f in _FORMATS)} file")
    if out.is_dir():
        raise NoisylabError(f"cannot write {out}: it is a folder; name a file inside it")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NoisylabError(f"cannot write {out}: {parent} is a file, not a folder; choose "
                            "another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NoisylabError(f"cannot write {out}: folder {parent} is not writable (permission "
                            "denied); choose another --out")
    return out


def _save(plt, fig, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` whole or not at all (a temporary file, then a rename), so a
    failed write leaves an earlier file there as it was. Filesystem errors are one line."""
    out = check_out(out)
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        # os.open with 0o666 lets the umask decide the mode, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=out.suffix.lower().lstrip(".") or "png", dpi=110,
                        facecolor="white")
        os.replace(tmp, out)
        tmp = None
    except OSError as err:
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(out) else ""
        raise NoisylabError(f"cannot write {out}: {err.strerror or err}{where}; choose another "
                            "--out or free some space") from None
    finally:
        plt.close(fig)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return out


def pick_per_class(data: LabeledImages, per_class: int, seed: int = 0) -> list[list[int]]:
    """Up to ``per_class`` sample indices for each class (random, fixed ``seed``), in class order."""
    rng = np.random.default_rng(seed)
    labels = data.labels.numpy()
    out = []
    for k in range(len(data.classes)):
        idx = np.flatnonzero(labels == k)
        if len(idx) > per_class:
            idx = np.sort(rng.choice(idx, size=per_class, replace=False))
        out.append(idx.tolist())
    return out


def _mosaic(images: np.ndarray, picks: list[list[int]], cols: int, gap: int = 2) -> np.ndarray:
    rows = len(picks)
    m = np.full((rows * (28 + gap) - gap, cols * (28 + gap) - gap), 60, np.uint8)
    for r, idx in enumerate(picks):
        for c, i in enumerate(idx):
            m[r * 30 : r * 30 + 28, c * 30 : c * 30 + 28] = images[i, 0]
    return m


def sample_grid(
    data: LabeledImages,
    out: str | Path,
    *,
    per_class: int = 8,
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Save a PNG with ``per_class`` random samples of each class, one row per class.

    Classes are drawn in blocks of 16 rows side by side; the grey lines between images are
    not part of them. Pixels are shown as they are (0 black, 255 white).

    Parameters
    ----------
    data : LabeledImages
        ``images`` uint8 ``(N, 1, 28, 28)``.
    out : path-like
        The PNG to write (its folder is created).
    per_class : int
        Samples per class (fewer when a class has fewer).
    """
    if per_class < 1:
        raise NoisylabError(f"--per-class must be at least 1; got {per_class}")
    plt = _pyplot()
    picks = pick_per_class(data, per_class, seed)
    images = data.images.numpy()
    k = len(data.classes)
    blocks = max(1, math.ceil(k / _ROWS_PER_BLOCK)) if k > 20 else 1
    rows_per = math.ceil(k / blocks)
    fig, axes = plt.subplots(
        1,
        blocks,
        figsize=(max(4.0, blocks * (0.42 * per_class + 0.6)), 0.42 * rows_per + 1.0),
        squeeze=False,
    )
    for b in range(blocks):
        ax = axes[0, b]
        sel = list(range(b * rows_per, min(k, (b + 1) * rows_per)))
        ax.imshow(
            _mosaic(images, [picks[i] for i in sel], per_class),
            cmap="gray",
            vmin=0,
            vmax=255,
            interpolation="nearest",
        )
        ax.set_yticks([r * 30 + 13.5 for r in range(len(sel))])
        ax.set_yticklabels([data.classes[i] for i in sel])
        ax.set_xticks([])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
    if title is None:
        how = f" ({data.meta['preprocess']})" if data.meta.get("preprocess") else ""
        if data.meta.get("converted") and not any("photo" in k for k in data.meta["converted"]):
            how = ""
        title = f"{data.source.split(':')[0]}{how}: {len(data)} images, {per_class} per class"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(plt, fig, out)


def before_after(
    raws: list,
    columns: list[tuple[str, np.ndarray]],
    labels: list[str],
    out: str | Path,
    title: str = "",
) -> Path:
    """Save a PNG: one column per sample, the raw photo on top and each preprocessing below.

    Parameters
    ----------
    raws : list of PIL.Image.Image
        The original images, ``(S,)``.
    columns : list of (str, np.ndarray)
        ``(row name, uint8 (S, 28, 28))`` per preprocessing.
    labels : list of str
        ``(S,)`` column titles (class and id).
    """
    plt = _pyplot()
    s = len(raws)
    nrows = 1 + len(columns)
    fig, axes = plt.subplots(nrows, s, figsize=(1.25 * s + 0.8, 1.25 * nrows + 0.6), squeeze=False)
    for j, raw in enumerate(raws):
        ax = axes[0, j]
        ax.imshow(np.asarray(raw.convert("L")), cmap="gray", vmin=0, vmax=255)
        ax.set_title(labels[j], fontsize=7)
        for i, (_, arr) in enumerate(columns, start=1):
            axes[i, j].imshow(arr[j], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    row_names = ["raw photo"] + [name for name, _ in columns]
    for i in range(nrows):
        axes[i, 0].set_ylabel(row_names[i], fontsize=8)
        for j in range(s):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(plt, fig, out)


def photos_before_after(
    name: str,
    out: str | Path,
    *,
    root=None,
    split: str = "train",
    classes: tuple[str, ...] | None = None,
    per_class: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Raw photo vs ``"fit"`` vs ``"keep-size"`` for samples of a source of photos.

    The source must have raw photos (`noisylab.data.base.Source.has_raw_photos`: trainPart1,
    trainPart1-digits). By default the classes are the source's ``contrast_classes``.
    """
    from noisylab.data.registry import SOURCES, get_source, load
    from noisylab.data.roots import resolve_root

    source = get_source(name)
    if not source.has_raw_photos:
        have = " and ".join(n for n, s in SOURCES.items() if s.has_raw_photos)
        raise NoisylabError(f"--before-after needs raw photos; it works for {have}, not {name}")
    fit = load(name, root=root, split=split, progress=progress, preprocess="fit")
    keep = load(name, root=root, split=split, progress=progress, preprocess="keep-size")
    wanted = classes or source.contrast_classes
    unknown = [c for c in wanted if c not in fit.classes]
    if unknown:
        raise NoisylabError(
            f"unknown class {unknown[0]!r} for {name}; classes are {''.join(fit.classes)}"
        )
    picks = pick_per_class(fit, per_class, seed)
    idx = [i for c in wanted for i in picks[fit.classes.index(c)]]
    ids = [fit.ids[i] for i in idx]
    keep_pos = {sid: i for i, sid in enumerate(keep.ids)}
    raws = source.read_raw(resolve_root(root)[0], split, ids)
    ref = keep.meta.get("reference")
    return before_after(
        raws,
        [
            ("fit (MNIST)", fit.images.numpy()[idx, 0]),
            ("keep-size", keep.images.numpy()[[keep_pos[s] for s in ids], 0]),
        ],
        [f"{fit.classes[fit.labels[i]]}  {fit.ids[i]}" for i in idx],
        out,
        title=f"{name} {split}: raw photo, fit to 20 px, keep-size (reference {ref:g} of the page height)",
    )
