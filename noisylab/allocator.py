"""Keep the memory torch frees on the CPU for its next batch, instead of handing it back.

glibc's ``malloc`` serves a large request with a fresh mapping and gives it back to the kernel
when it is freed (from 128 KB up, a limit it raises as it goes, to at most 32 MB), and it
returns the free top of each thread's heap once that exceeds twice the limit. A CNN's
activations are a few to tens of megabytes a batch, freed at the end of the step: every batch
then asks the kernel for new pages, which it must zero before handing them out. In the audit's
cross-fit that zeroing took as much CPU as the similarity products it made room for.

`keep_freed_memory` sets both limits once per process (``mallopt``), so that freed blocks are
reused. It is called by the audit and by training; a process that only imports noisylab keeps
its allocator as it was. Where ``malloc`` is not glibc's, or where the user set glibc's own
``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``, nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory"]

#: ``mallopt`` parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: Requests up to this size come from the heap (glibc's largest allowed value on 64-bit).
MMAP_THRESHOLD = 32 * 2**20

#: A heap keeps up to this much free memory at its top before giving it back.
TRIM_THRESHOLD = 2**30

_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed blocks for reuse (see the module notes); idempotent.

    Returns
    -------
    bool
        Whether this process's allocator runs with these settings.
    """
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


def _set_thresholds() -> bool:
    if not sys.platform.startswith("linux") or any(v in os.environ for v in _ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
