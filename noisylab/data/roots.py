"""Where data is looked for: explicit ``root`` > ``$NOISYLAB_DATA`` > ``./datasets``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from noisylab.errors import NoisylabError

DEFAULT_ROOT = Path("datasets")


def resolve_root(root: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data root and where it came from.

    Returns
    -------
    root : pathlib.Path
        ``root`` if given, else ``$NOISYLAB_DATA`` if set, else ``./datasets``.
    origin : str
        ``"--root"``, ``"NOISYLAB_DATA"`` or ``"default"``, for messages.
    """
    if root is not None:
        return Path(root).expanduser(), "--root"
    env = os.environ.get("NOISYLAB_DATA")
    if env:
        return Path(env).expanduser(), "NOISYLAB_DATA"
    return DEFAULT_ROOT, "default"


def first_existing(paths: Iterable[Path]) -> Path | None:
    """The first of ``paths`` that exists, or None.

    Raises
    ------
    NoisylabError
        When a folder on the way cannot be searched (permission denied), naming it.
    """
    for p in paths:
        try:
            if p.exists():
                return p
        except OSError as err:
            raise NoisylabError(f"cannot look for {p}: {err.strerror or err}; fix the permissions "
                                "of its folder or pass another --root") from None
    return None


def not_found(what: str, looked: list[Path], root: Path, origin: str, how: str) -> NoisylabError:
    """The one-line error for missing data: every place looked, and how to get it."""
    where = ", ".join(str(p) for p in looked)
    origin_txt = {"--root": "given as --root", "NOISYLAB_DATA": "from NOISYLAB_DATA"}.get(
        origin, "the default; none given"
    )
    return NoisylabError(
        f"{what} not found: looked for {where} (data root {root}, {origin_txt}); "
        f"{how}, or pass --root DIR (root= in Python), or set NOISYLAB_DATA"
    )
