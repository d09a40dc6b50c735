"""A read-only view of a zip file or a folder, and finding the class folders inside it.

Zip members are read directly (nothing is extracted). An archive holding a member with an
absolute path or a ``..`` component is refused as a whole.

One bad file never stops or stalls a whole load: reading it raises `UnreadableFile`, which the
loaders count and skip (or report, with ``strict``). Bad files are: a zip member whose data is
damaged (a bad CRC, a broken deflate stream), encrypted or in an unknown compression method; a
link that points nowhere; anything that is not a regular file (a named pipe, a device, a
socket: these are never opened, so nothing blocks on them); a file whose name is not valid
UTF-8; a file or zip member over `MAX_FILE_BYTES` (64 MiB; a zip member's declared size is
checked before anything is read), so that one file cannot cost gigabytes of memory. The pixel
limit on the decoded image is in `noisylab.data.preprocess.MAX_PIXELS`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from noisylab.errors import NoisylabError

_IGNORED_DIRS = {"__MACOSX"}

MAX_FILE_BYTES = 64 * 2**20
"""The most bytes one file or zip member may hold (64 MiB); a bigger one is an unreadable file."""

_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                    OSError, ValueError)
"""What reading one damaged, encrypted or unsupported member raises (bad CRC: BadZipFile)."""


class UnreadableFile(ValueError):
    """One input file that cannot be read or decoded; the message names it and says why.

    A load skips such a file and counts it (one warning), or stops on it with ``strict``.
    """


def natural_key(text: str) -> tuple:
    """Sort key that orders ``img2`` before ``img10`` (digit runs compare as numbers)."""
    return tuple(
        (0, int(t), t) if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text) if t
    )


def _hidden(rel: str) -> bool:
    """Dot-files, dot-folders and macOS resource forks are not data and are skipped silently."""
    return any(p.startswith(".") or p in _IGNORED_DIRS for p in rel.split("/"))


def printable(name: str) -> str | None:
    """``name`` with undecodable bytes written as ``\\xNN`` escapes, or None when it is valid UTF-8.

    File names come from the file system with such bytes as surrogates (PEP 383); those names
    can be neither printed nor stored, so the files are skipped under their escaped name.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return None


def _walk_folder(path: Path) -> tuple[list[str], set[str], dict[str, str], dict[str, Path]]:
    """``(files, dirs, unreadable, real)`` of a folder: relative POSIX paths of its non-hidden
    files and folders; ``{rel: why}`` of the files that cannot be read by name; ``{rel: path}``
    where a printed name differs from the real one."""

    def refuse(err: OSError) -> None:
        raise NoisylabError(f"cannot read folder {err.filename}: {err.strerror}; fix its "
                            "permissions or move it out") from None

    files, dirs, unreadable, real = [], set(), {}, {}
    for cur, subdirs, fnames in os.walk(path, onerror=refuse):
        rel_cur = Path(cur).relative_to(path).as_posix()
        rel_cur = "" if rel_cur == "." else rel_cur
        subdirs[:] = [d for d in subdirs if not _hidden(d)]
        for d in subdirs:
            rel = f"{rel_cur}/{d}" if rel_cur else d
            dirs.add(printable(rel) or rel)
        for f in fnames:
            if _hidden(f):
                continue
            rel = f"{rel_cur}/{f}" if rel_cur else f
            shown = printable(rel)
            if shown is not None:
                unreadable[shown] = "the file name is not valid UTF-8"
                real[shown] = path / rel
            files.append(shown or rel)
    return sorted(files), dirs, unreadable, real


def unsafe_member(name: str) -> bool:
    """True for a zip member name that is absolute or climbs out with ``..``."""
    n = name.replace("\\", "/")
    return n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or ".." in n.split("/")


class Archive:
    """Files of a zip or a folder, by relative POSIX path.

    Parameters
    ----------
    path : pathlib.Path
        A ``.zip`` file or a folder.

    Raises
    ------
    NoisylabError
        When the path is missing or neither a file nor a folder, the zip is unreadable, a
        member's path is unsafe, or a folder cannot be listed.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.is_zip = self.path.is_file()
        self._lock = threading.Lock()
        self._unreadable: dict[str, str] = {}
        self._real: dict[str, Path] = {}
        if not self.path.exists():
            raise NoisylabError(f"{self.path} does not exist; check the path")
        if self.is_zip:
            dirs = self._open_zip()
        elif self.path.is_dir():
            self._files, dirs, self._unreadable, self._real = _walk_folder(self.path)
        else:
            raise NoisylabError(f"{self.path} is neither a zip file nor a folder (a named pipe, "
                                "device or socket?); give a zip or a folder of class folders")
        for f in self._files:  # a zip need not list its folders
            for parent in PurePosixPath(f).parents:
                if str(parent) != ".":
                    dirs.add(str(parent))
        self._dirs = dirs

    def _open_zip(self) -> set[str]:
        """Open the zip, refuse unsafe member paths; the folders it lists."""
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as err:
            raise NoisylabError(
                f"{self.path} is not a readable zip file ({err}); download or copy it again"
            ) from None
        bad = [n for n in self._zip.namelist() if unsafe_member(n)]
        if bad:
            self._zip.close()
            raise NoisylabError(
                f"refusing {self.path}: member {bad[0]!r} has an absolute path or '..' "
                f"({len(bad)} such member{'s' if len(bad) > 1 else ''}); nothing was extracted; "
                "rebuild the zip with relative paths"
            )
        names = [n.replace("\\", "/") for n in self._zip.namelist()]
        self._files = sorted(n for n in names if not n.endswith("/") and not _hidden(n))
        self._members = {n.replace("\\", "/"): n for n in self._zip.namelist()}
        return {n.rstrip("/") for n in names if n.endswith("/") and not _hidden(n)}

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.is_zip:
            self._zip.close()

    @property
    def files(self) -> list[str]:
        """Relative POSIX paths of all (non-hidden) files, sorted."""
        return self._files

    @property
    def dirs(self) -> set[str]:
        """Relative POSIX paths of all (non-hidden) folders."""
        return self._dirs

    def read(self, rel: str) -> bytes:
        """Bytes of one file.

        Raises
        ------
        UnreadableFile
            For a bad file (see the module docstring), naming it and saying why.
        """
        if rel in self._unreadable:
            raise UnreadableFile(f"{rel}: {self._unreadable[rel]}")
        if self.is_zip:
            return self._read_member(rel)
        return _read_regular(self._real.get(rel, self.path / rel), rel)

    def _read_member(self, rel: str) -> bytes:
        info = self._zip.getinfo(self._members[rel])
        size = max(info.file_size, info.compress_size)
        if size > MAX_FILE_BYTES:
            raise UnreadableFile(f"{rel}: {_too_big(size)}")
        try:
            with self._lock:
                return self._zip.read(info)
        except _ZIP_READ_ERRORS as err:
            raise UnreadableFile(f"{rel}: damaged or unsupported zip member "
                                 f"({type(err).__name__}: {err})") from None

    def describe(self, rel: str = "") -> str:
        """A path a person can find: ``archive.zip:inner/path`` or ``folder/inner/path``."""
        if not rel:
            return str(self.path)
        return f"{self.path}:{rel}" if self.is_zip else str(self.path / rel)

    def signature(self) -> dict:
        """What the cache key depends on (see `signature`)."""
        return signature(self.path)


def _too_big(size: int) -> str:
    return f"{size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes for one file"


def _read_regular(path: Path, rel: str) -> bytes:
    """The bytes of a regular file of at most `MAX_FILE_BYTES`, else `UnreadableFile`.

    The type is checked before opening, so a named pipe or device is never opened; the open is
    non-blocking and the type checked again on the open file, in case the path was swapped.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UnreadableFile(f"{rel}: not a regular file (a named pipe, device or socket)")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise UnreadableFile(f"{rel}: a link to a file that does not exist") from None
    except OSError as err:
        raise UnreadableFile(f"{rel}: cannot be opened ({err.strerror})") from None
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(f"{rel}: not a regular file (a named pipe, device or socket)")
        if st.st_size > MAX_FILE_BYTES:
            raise UnreadableFile(f"{rel}: {_too_big(st.st_size)}")
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as err:
            raise UnreadableFile(f"{rel}: cannot be read ({err.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(f"{rel}: {_too_big(len(data))}")
    return data


def signature(path: Path) -> dict:
    """What a cache key depends on: path, size and mtime of a file; of every file in a folder.

    Cheap for a zip (one ``stat``, the archive is not opened), so a cache hit costs no decoding.
    """
    path = Path(path)
    if path.is_file():
        st = path.stat()
        return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    h = hashlib.sha256()
    n = 0
    for cur, subdirs, fnames in os.walk(path):
        subdirs[:] = sorted(d for d in subdirs if not _hidden(d))
        rel_cur = Path(cur).relative_to(path).as_posix()
        for f in sorted(fnames):
            if _hidden(f):
                continue
            size, mtime = _stat_or_link(os.path.join(cur, f))
            h.update(f"{rel_cur}/{f}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
            n += 1
    return {"path": str(path.resolve()), "files": n, "listing": h.hexdigest()}


def _stat_or_link(path: str) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a file; of the link itself when it points nowhere; zeros when
    neither can be read (the file is then skipped when read)."""
    for fn in (os.stat, os.lstat):
        try:
            st = fn(path)
            return st.st_size, st.st_mtime_ns
        except OSError:
            continue
    return 0, 0


@dataclass(frozen=True)
class ClassTree:
    """Class folders found in an archive.

    Attributes
    ----------
    prefix : str
        The folder holding the class folders (``""`` at the top, ``"train"`` when wrapped).
    folders : dict
        ``{folder name: [relative file paths, naturally sorted]}``, folders naturally sorted.
    """

    prefix: str
    folders: dict[str, list[str]]


def find_class_folders(archive: Archive, *, what: str = "class-per-folder images") -> ClassTree:
    """Find the folder-per-class level, descending through single wrapper folders (``train/``).

    A folder is a wrapper when it holds no files and exactly one folder that itself holds
    folders. Files next to the class folders are ignored; files in nested folders inside a class
    folder belong to that class.

    Raises
    ------
    NoisylabError
        When there are no class folders, or one of them is empty.
    """
    children: dict[str, set[str]] = {"": set()}
    direct_files: dict[str, int] = {}
    for d in archive.dirs:
        p = PurePosixPath(d)
        parent = "" if str(p.parent) == "." else str(p.parent)
        children.setdefault(parent, set()).add(p.name)
        children.setdefault(d, set())
    for f in archive.files:
        parent = str(PurePosixPath(f).parent)
        parent = "" if parent == "." else parent
        direct_files[parent] = direct_files.get(parent, 0) + 1

    def join(a: str, b: str) -> str:
        return f"{a}/{b}" if a else b

    cur = ""
    while (
        not direct_files.get(cur)
        and len(children.get(cur, ())) == 1
        and children[join(cur, next(iter(children[cur])))]
    ):
        cur = join(cur, next(iter(children[cur])))
    names = sorted(children.get(cur, ()), key=natural_key)
    if not names:
        raise NoisylabError(
            f"no class folders in {archive.describe(cur)}: expected {what} "
            "(one folder per class, e.g. 0/, 1/, ... each holding images)"
        )
    folders: dict[str, list[str]] = {n: [] for n in names}
    start = len(cur) + 1 if cur else 0
    for f in archive.files:
        if cur and not f.startswith(cur + "/"):
            continue
        parts = f[start:].split("/")
        if len(parts) >= 2 and parts[0] in folders:
            folders[parts[0]].append(f)
    for n, fs in folders.items():
        if not fs:
            raise NoisylabError(
                f"class folder {archive.describe(join(cur, n))} is empty; put its images back or remove the folder"
            )
        fs.sort(key=natural_key)
    return ClassTree(prefix=cur, folders=folders)
