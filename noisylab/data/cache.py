"""The on-disk cache of decoded arrays.

Where: ``$NOISYLAB_CACHE``, else ``~/.cache/noisylab``. One ``.npz`` per (source, split, file,
options); its name carries a key over the source file's path, size and mtime (for a folder: every
file's), the preprocessing options and `FORMAT_VERSION`, so touching or replacing the file, or
changing an option, makes a new entry (the stale one for the same file and options is removed).
Writes are atomic (a temporary file, then ``os.replace``); an unwritable cache only warns.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from noisylab.data.base import DataWarning
from noisylab.errors import NoisylabError

FORMAT_VERSION = 3
"""Bump when decoding or preprocessing changes what a cached array holds."""


def cache_dir() -> Path:
    """``$NOISYLAB_CACHE`` or ``~/.cache/noisylab`` (not created here)."""
    env = os.environ.get("NOISYLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "noisylab"


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def entry_path(source: str, split: str, signatures: list[dict], options: dict) -> Path:
    """Cache file for these inputs: ``<cache>/<source>-<split>-<what>-<version>.npz``.

    ``<what>`` hashes the source, split, paths and options (stable while the file is the same
    file); ``<version>`` hashes sizes, mtimes and `FORMAT_VERSION`.
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", source)[:40]
    paths = [s.get("path") for s in signatures]
    what = _digest({"source": source, "split": split, "paths": paths, "options": options})[:12]
    version = _digest({"v": FORMAT_VERSION, "sig": signatures, "options": options})[:12]
    return cache_dir() / f"{slug}-{split}-{what}-{version}.npz"


def read(path: Path) -> dict | None:
    """The arrays and meta stored at ``path``, or None when absent or unreadable."""
    try:
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
        out["meta"] = json.loads(str(out["meta"]))
        return out
    except Exception:  # a torn or foreign file is a miss, never a crash
        return None


def write(path: Path, *, images: np.ndarray, labels: np.ndarray, ids, classes, meta: dict,
          boxes: np.ndarray | None = None) -> bool:
    """Store one entry atomically; drop stale entries for the same file and options.

    Returns False (after one warning) when the cache folder is not writable.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                extra = {} if boxes is None else {"boxes": np.asarray(boxes, np.float32)}
                np.savez(
                    f,
                    images=images,
                    labels=labels,
                    ids=np.asarray(ids, dtype=str),
                    classes=np.asarray(classes, dtype=str),
                    meta=np.asarray(json.dumps(meta)),
                    **extra,
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        warnings.warn(
            f"could not write the decode cache {path} ({err.strerror or err}); set NOISYLAB_CACHE "
            "to a writable folder to make the next load fast",
            DataWarning,
            stacklevel=3,
        )
        return False
    stem = path.stem.rsplit("-", 1)[0]
    for old in path.parent.glob(stem + "-*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
    return True


def load_or_decode(
    *,
    source: str,
    split: str,
    signatures: list[dict],
    options: dict,
    decode: Callable[[], dict],
    strict: bool,
    where: str,
) -> tuple[dict, str, Path]:
    """Read a cache entry, or run ``decode()`` and store what it returns.

    ``decode()`` returns ``{"images": uint8 (N, 28, 28), "labels": int64 (N,), "ids": (N,),
    "classes": (K,), "meta": {"skipped": [[file, reason], ...], ...}}`` and, for photos,
    ``"boxes": float32 (N, 4)``.

    Returns
    -------
    arrays : dict
        As ``decode()`` returns it (``ids`` and ``classes`` as numpy string arrays on a hit).
    state : str
        ``"hit"``, ``"written"`` or ``"off"`` (decoded; the cache could not be written).
    path : pathlib.Path
        The cache entry.
    """
    path = entry_path(source, split, signatures, options)
    arrays = read(path)
    state = "hit"
    if arrays is None:
        arrays = decode()
        ok = write(
            path,
            images=arrays["images"],
            labels=arrays["labels"],
            ids=arrays["ids"],
            classes=arrays["classes"],
            meta=arrays["meta"],
            boxes=arrays.get("boxes"),
        )
        state = "written" if ok else "off"
    skipped = arrays["meta"].get("skipped", [])
    if skipped and strict:
        rel, why = skipped[0]
        raise NoisylabError(
            f"unreadable file {rel} in {where}: {why.split(': ', 1)[-1]}; remove or replace it, "
            "or load without --strict to skip it"
        )
    if skipped:
        n = len(skipped)
        warnings.warn(
            f"skipped {n} unreadable file{'s' if n > 1 else ''} in {where} (first: {skipped[0][1]}); "
            "to make this an error, load with strict=True (`noisylab data info/show --strict`)",
            DataWarning,
            stacklevel=4,
        )
    return arrays, state, path
