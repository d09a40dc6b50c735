"""Output folders and files that never cost the user anything they wrote themselves.

Every folder a noisylab command writes says what it is: a marker file `MARKER` (JSON with the
folder's *kind*, one of `KINDS`, and the noisylab version). A command writes only into

- a new or empty folder, which it marks;
- a folder marked with its own kind, and then only when it was asked to (``reuse``: resume or
  write over its own files; ``replace``: remove what it wrote there before, and nothing else).

A folder that holds anything without the marker is refused, as is one of another kind. Files
are written whole or not at all (a temporary file beside, then `os.replace`), so a crash or a
full disk leaves the earlier file as it was. Filesystem errors (permission, a path below a
regular file, a read-only filesystem, a full disk) become one `NoisylabError` line that names
the path and says what to do.

Torch-free: experiment files can be checked without importing torch.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from noisylab import __version__
from noisylab.errors import NoisylabError

__all__ = ["KINDS", "MARKER", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "check_output", "filesystem_error", "folder_kind", "fs_error", "prepare_output",
           "read_marker", "shown"]

#: The marker file in every folder a noisylab command writes.
MARKER = ".noisylab"
#: The kinds of output folder: what wrote it.
KINDS = ("run", "audit", "evaluation", "experiment", "demo")

#: Folders written before markers existed, recognised by files only noisylab writes there
#: together: each kind's sets of names, any one set complete is enough.
_LEGACY = {
    "run": (("metrics.jsonl",), ("last.json", "last.safetensors")),
    "audit": (("audit.json", "report.md", "transition.json"),),
    "evaluation": (("confusion.png", "reliability.png"),),
    "experiment": (("experiment.json",),),
    "demo": (("report.md", "pretrain", "audit"),),
}

_ARTICLE = {"audit": "an", "evaluation": "an", "experiment": "an"}


def shown(path: str | os.PathLike | bytes) -> str:
    """``path`` as one printable line: bytes that are not UTF-8 and control characters (a
    newline in a file name) are escaped, so an error message stays one line and can be
    printed on any terminal."""
    text = os.fsdecode(path) if not isinstance(path, str) else path
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# --- errors ---------------------------------------------------------------------------------

_WHY = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the filesystem is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
}
_FULL = (errno.ENOSPC, errno.EDQUOT)


def fs_error(err: OSError, path: str | os.PathLike, *, action: str = "write") -> NoisylabError:
    """The one-line `NoisylabError` for a filesystem error ``err`` met while writing ``path``.

    Parameters
    ----------
    err : OSError
        What the operating system said.
    path : path
        What was being written (a file or an output folder); named in the message.
    action : str
        The verb of the message: ``"cannot <action> <path>"``.

    Returns
    -------
    NoisylabError
        ``cannot write PATH: WHY; WHAT TO DO``, where WHY names a regular file that stands
        where a folder is needed, and WHAT TO DO is freeing space on a full disk, else choosing
        another folder (or, for other actions, checking the path). Raise it ``from None``: the
        line is the whole story.
    """
    path = Path(path)
    if err.errno in (errno.ENOTDIR, errno.EEXIST) and _blocking_file(path) is not None:
        why = f"{shown(_blocking_file(path))} is a file, not a folder"
    else:
        why = _WHY.get(err.errno) or " ".join(str(err.strerror or err).split())
        if (err.filename is not None and shown(err.filename) != shown(path)
                and not _is_temporary(err.filename)):
            why += f" ({shown(err.filename)})"
    if err.errno in _FULL:
        todo = "free some space and run again; files written before are intact"
    elif action.startswith("read"):
        todo = "check that it exists and that you may read it"
    elif action == "write":
        todo = "choose another output folder (--out)"
    else:
        todo = "check the path and its permissions"
    return NoisylabError(f"cannot {action} {shown(path)}: {why}; {todo}")


def filesystem_error(err: BaseException) -> NoisylabError | None:
    """The one line (`fs_error`) for an `OSError` the user can act on, raised anywhere: a
    permission, a read-only filesystem, a full disk, a path below a regular file. None for any
    other error (a bug, which should show its traceback).

    The command line turns these into ``error: ...`` wherever they arise, so a filesystem that
    refuses a write is never a traceback, even where no code expected it.
    """
    if not isinstance(err, OSError) or err.errno not in _ACTIONABLE or err.filename is None:
        return None
    path = Path(os.fsdecode(err.filename))
    if _is_temporary(path):  # the user knows the folder, not our temporary file
        path = path.parent
    return fs_error(err, path, action="write" if err.errno in _WRITES else "use")


def _is_temporary(path) -> bool:
    """Whether ``path`` names the hidden temporary file of an atomic write (``.NAME.*.tmp``)."""
    name = Path(os.fsdecode(path)).name
    return name.startswith(".") and name.endswith(".tmp")


#: The error numbers `filesystem_error` turns into one line, and those that only a write meets.
_ACTIONABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
               errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}
_WRITES = {errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def _blocking_file(path: Path) -> Path | None:
    """The first of ``path`` and its parents that exists and is not a folder, if one exists
    below the first existing folder (what makes "not a directory")."""
    for p in [path, *path.parents]:
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


# --- atomic writes ---------------------------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; returns ``path``.

    The bytes go to a hidden temporary file in the same folder, are flushed to disk, and the
    file is renamed over ``path`` (`os.replace`, atomic on POSIX and Windows). A crash, a full
    disk or a permission error leaves an earlier ``path`` untouched and no temporary file.
    Missing parent folders are created.

    Raises
    ------
    NoisylabError
        One line (`fs_error`) when the folder cannot be created or written.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from others
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise fs_error(err, path) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write_bytes` of ``text`` as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, value) -> Path:
    """`atomic_write_bytes` of ``value`` as indented JSON (``indent=1``)."""
    return atomic_write_text(path, json.dumps(value, indent=1))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- output folders --------------------------------------------------------------------------


def read_marker(path: str | os.PathLike) -> dict | None:
    """The marker of folder ``path`` (``{"kind": ..., "noisylab": version, ...}``), or None when
    it has none or an unreadable one (then the folder counts as the user's)."""
    try:
        marker = json.loads((Path(path) / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("kind") in KINDS else None


def folder_kind(path: str | os.PathLike) -> str | None:
    """What kind of noisylab output folder ``path`` is: its marker's kind, else the kind whose
    files it holds when noisylab wrote it before markers existed, else None."""
    marker = read_marker(path)
    if marker is not None:
        return marker["kind"]
    path = Path(path)
    for kind, sets in _LEGACY.items():
        if any(all((path / name).exists() for name in names) for names in sets):
            return kind
    return None


def check_output(path: str | os.PathLike, kind: str, *, reuse: bool = False,
                 replace: bool = False, owned: Iterable[str] = (), asks: str | None = None,
                 option: str = "--out") -> Path:
    """Refuse an output folder that `prepare_output` would refuse, without writing anything.

    Call it before slow work (loading data, training) so that a bad ``--out`` is said at once;
    `prepare_output` later creates the folder. Parameters as `prepare_output`.
    """
    path = Path(path)
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; one of {', '.join(KINDS)}")
    blocking = _blocking_file(path)
    if blocking is not None:
        where = "it is a file" if blocking == path else f"{shown(blocking)} is a file"
        raise NoisylabError(f"cannot write {shown(path)}: {where}, not a folder; choose another "
                            f"folder for {option}")
    if not path.is_dir():
        return path
    entries = _entries(path)
    if not entries:
        return path
    found = folder_kind(path)
    if found is None:
        raise NoisylabError(
            f"{shown(path)} already holds files that noisylab did not write (e.g. "
            f"{shown(entries[0].name)}); nothing there is touched: choose a new or empty folder "
            f"for {option}")
    if found != kind:
        raise NoisylabError(f"{shown(path)} holds a noisylab {found}, not {_ARTICLE.get(kind, 'a')}"
                            f" {kind}; choose another folder for {option}")
    if replace:
        foreign = [e for e in entries if not _matches(e.name, owned)]
        if foreign:
            raise NoisylabError(
                f"{shown(path)} holds {shown(foreign[0].name)}, which noisylab did not write "
                f"there; move it away or choose another folder for {option}")
    elif not reuse:
        raise NoisylabError(f"{shown(path)} already holds a noisylab {kind}; "
                            + (asks or f"choose another folder for {option}"))
    return path


def prepare_output(path: str | os.PathLike, kind: str, *, reuse: bool = False,
                   replace: bool = False, owned: Iterable[str] = (), asks: str | None = None,
                   option: str = "--out") -> Path:
    """Create or take over the output folder ``path`` for a command of ``kind``; returns it.

    Parameters
    ----------
    path : path
        The folder. Created (with its parents) when missing; an empty one is taken.
    kind : str
        One of `KINDS`: what writes the folder. The folder is marked with it.
    reuse : bool
        Take a folder of the same kind as it is (resume, or write over its own files).
    replace : bool
        Take a folder of the same kind after removing its entries named by ``owned``; refused
        when it holds anything else, so nothing the user put there is lost.
    owned : iterable of str
        Names (`fnmatch` patterns) of the entries a command of ``kind`` writes, for ``replace``.
    asks : str, optional
        What to say when a folder of the same kind is there and neither ``reuse`` nor
        ``replace`` was asked for (e.g. "pass --resume to continue it").
    option : str
        The option that named the folder, for the messages.

    Raises
    ------
    NoisylabError
        One line: a non-empty folder without the marker, a folder of another kind, a folder of
        the same kind that was not to be reused, or a filesystem error (`fs_error`).
    """
    path = check_output(path, kind, reuse=reuse, replace=replace, owned=owned, asks=asks,
                        option=option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if replace:
            for entry in _entries(path):
                _remove(entry)
    except OSError as err:
        raise fs_error(err, path) from None
    marker = read_marker(path)
    if replace or marker is None or marker["kind"] != kind:  # an empty folder of another kind
        atomic_write_json(path / MARKER, {"kind": kind, "noisylab": __version__,
                                          "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return path


def _entries(path: Path) -> list[Path]:
    """The entries of folder ``path`` other than its marker, sorted by name.

    The marker's own atomic write in progress (``.{MARKER}.*.tmp``, `atomic_write_bytes`) is
    the marker too: under ``torchrun`` one process may look at the folder while another is
    writing its marker.
    """
    def is_marker(name: str) -> bool:
        return name == MARKER or (name.startswith(f".{MARKER}.") and name.endswith(".tmp"))

    try:
        return sorted((e for e in path.iterdir() if not is_marker(e.name)), key=lambda e: e.name)
    except OSError as err:
        raise fs_error(err, path, action="read") from None


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _remove(entry: Path) -> None:
    """Remove one entry of a folder being replaced; a link is removed, never what it names."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()
