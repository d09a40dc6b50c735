"""Decoding many images from an archive, in one process or a pool, with a progress bar."""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from noisylab.data.archive import Archive, UnreadableFile
from noisylab.errors import NoisylabError

_OPEN: dict[str, Archive] = {}


def _archive_in_worker(path: str) -> Archive:
    """One open archive per worker process (opening a big zip's directory costs time)."""
    if path not in _OPEN:
        from pathlib import Path

        _OPEN[path] = Archive(Path(path))
    return _OPEN[path]


def _decode_one(fn: Callable, data: bytes, rel: str, kinds: Counter, boxes: np.ndarray,
                i: int) -> np.ndarray:
    """``fn``'s image. A ``(image, kind)`` answer is counted in ``kinds``; an ``(image, box)``
    answer (a 4-tuple of floats) is stored in ``boxes[i]``."""
    out = fn(data, name=rel)
    if isinstance(out, tuple):
        out, tag = out
        if isinstance(tag, str):
            kinds[tag] += 1
        else:
            boxes[i] = tag
    return out


@dataclass
class _Decoded:
    """What a decode fills in: images ``(N, 28, 28)``, boxes ``(N, 4)``, kinds, failures."""

    images: np.ndarray
    boxes: np.ndarray
    kinds: Counter
    failures: list[tuple[int, str]]


def _no_boxes(n: int) -> np.ndarray:
    return np.full((n, 4), np.nan, np.float32)


def _decode_with(archive: Archive, rels: list[str], fn: Callable):
    out = np.zeros((len(rels), 28, 28), np.uint8)
    failures = []
    kinds: Counter = Counter()
    boxes = _no_boxes(len(rels))
    for i, rel in enumerate(rels):
        try:
            out[i] = _decode_one(fn, archive.read(rel), rel, kinds, boxes, i)
        except UnreadableFile as err:
            failures.append((i, str(err)))
    return out, failures, kinds, boxes


def _decode_chunk(path: str, rels: list[str], fn: Callable) -> tuple[np.ndarray, list]:
    """Worker-process entry: decode ``rels`` of the archive at ``path`` (opened once per worker)."""
    return _decode_with(_archive_in_worker(path), rels, fn)


def _pool(workers: int):
    """Forked worker processes on Linux; threads elsewhere.

    Not "spawn": it re-runs the user's ``__main__`` in every worker, which breaks any script
    that calls `noisylab.data.load` outside an ``if __name__ == "__main__":`` guard. Forking is
    what torch's DataLoader does on Linux too. Threads still overlap the work that Pillow does
    with the GIL released (PNG decoding, which dominates).
    """
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork")
        )
    return ThreadPoolExecutor(max_workers=workers)


def default_workers(n: int, heavy: bool) -> int:
    """Worker processes for ``n`` images: 1 unless decoding is heavy (big photos) and ``n >= 200``."""
    if not heavy or n < 200:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _decode_serial(archive: Archive, rels: list[str], fn: Callable, out: _Decoded, bar,
                   strict: bool) -> None:
    """Decode in this process, in chunks of 512 for the progress bar; stop at a failure when
    ``strict``."""
    step = 512
    for start in range(0, len(rels), step):
        chunk = rels[start : start + step]
        for i, rel in enumerate(chunk):
            try:
                out.images[start + i] = _decode_one(fn, archive.read(rel), rel, out.kinds,
                                                    out.boxes, start + i)
            except UnreadableFile as err:
                out.failures.append((start + i, str(err)))
                if strict:
                    return
        bar.update(len(chunk))


def _decode_pooled(archive: Archive, rels: list[str], fn: Callable, out: _Decoded, bar,
                   workers: int) -> None:
    """Decode in ``workers`` processes (threads off Linux), in chunks of 8 to 64 files."""
    n = len(rels)
    chunk_size = max(8, min(64, n // (workers * 8) or 1))
    with _pool(workers) as pool, warnings.catch_warnings():
        # Python >= 3.12 warns when forking a process that runs threads (torch may);
        # the workers only run Pillow, numpy and scipy, which is safe.
        warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
        if isinstance(pool, ThreadPoolExecutor):
            task, where = _decode_with, archive
        else:
            task, where = _decode_chunk, str(archive.path)
        futures = {
            pool.submit(task, where, rels[s : s + chunk_size], fn): s
            for s in range(0, n, chunk_size)
        }
        for fut in as_completed(futures):
            s = futures[fut]
            arr, fails, chunk_kinds, chunk_boxes = fut.result()
            out.kinds.update(chunk_kinds)
            out.images[s : s + len(arr)] = arr
            out.boxes[s : s + len(arr)] = chunk_boxes
            out.failures.extend((s + i, why) for i, why in fails)
            bar.update(len(arr))


def decode_files(
    archive: Archive,
    rels: list[str],
    fn: Callable,
    *,
    workers: int = 1,
    progress: bool = True,
    desc: str = "decoding",
    strict: bool = False,
) -> tuple[np.ndarray, list[int], list[tuple[str, str]], dict[str, int], np.ndarray]:
    """Decode ``rels`` with ``fn(bytes, name=rel) -> uint8 (28, 28)``.

    ``fn`` may answer ``(image, kind)`` instead, ``kind`` a str: the kinds are counted; or
    ``(image, box)``, ``box`` 4 floats: they are returned per image. A file that cannot be
    read or decoded (`noisylab.data.archive.UnreadableFile`) is skipped.

    Returns
    -------
    images : np.ndarray
        uint8 ``(M, 28, 28)``, the readable files in the order of ``rels``.
    kept : list of int
        ``(M,)`` positions in ``rels`` of those images.
    skipped : list of (str, str)
        ``(rel, reason)`` for every file ``fn`` could not read.
    kinds : dict
        ``{kind: count}`` when ``fn`` tags its answers with kinds, else empty.
    boxes : np.ndarray
        float32 ``(M, 4)``: the boxes ``fn`` answered, NaN where it gave none.

    Raises
    ------
    NoisylabError
        With ``strict=True``, naming the first unreadable file.
    """
    n = len(rels)
    out = _Decoded(np.zeros((n, 28, 28), np.uint8), _no_boxes(n), Counter(), [])
    bar = tqdm(total=n, desc=desc, unit="img", file=sys.stderr, disable=not progress, leave=False)
    try:
        if workers <= 1 or n < 2 * workers:
            _decode_serial(archive, rels, fn, out, bar, strict)
        else:
            _decode_pooled(archive, rels, fn, out, bar, workers)
    finally:
        bar.close()
    failures = sorted(out.failures)
    if failures and strict:
        i, why = failures[0]
        raise NoisylabError(
            f"unreadable file {archive.describe(rels[i])}: {why.split(': ', 1)[-1]}; "
            "remove or replace it, or load without --strict to skip it"
        )
    bad = {i for i, _ in failures}
    kept = [i for i in range(n) if i not in bad]
    skipped = [(rels[i], why) for i, why in failures]
    images, boxes = out.images, out.boxes
    if bad:
        images, boxes = images[kept], boxes[kept]
    return images, kept, skipped, dict(out.kinds), boxes
