"""File writes shared by run folders and experiments (torch-free, so experiment files can be
checked without importing torch)."""

from __future__ import annotations

from pathlib import Path

from noisylab.outputs import atomic_write_json as write_json  # noqa: F401  (its old home)


def find_beside(paths, name: str) -> Path | None:
    """The first file ``name`` in the folders ``paths`` name, or beside the checkpoints they
    name (a run folder, or ``RUN/best``); None when there is none."""
    for p in paths:
        p = Path(p)
        for folder in (p, p.parent):
            if (folder / name).is_file():
                return folder / name
    return None
