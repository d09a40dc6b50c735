"""File writes shared by run folders and experiments (torch-free, so experiment files can be
checked without importing torch)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(path: Path, value) -> None:
    """Write ``value`` as indented JSON atomically (a temporary file, then a rename): a crash
    leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def find_beside(paths, name: str) -> Path | None:
    """The first file ``name`` in the folders ``paths`` name, or beside the checkpoints they
    name (a run folder, or ``RUN/best``); None when there is none."""
    for p in paths:
        p = Path(p)
        for folder in (p, p.parent):
            if (folder / name).is_file():
                return folder / name
    return None
