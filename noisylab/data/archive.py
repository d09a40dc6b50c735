"""A read-only view of a zip file or a folder, and finding the class folders inside it.

Zip members are read directly (nothing is extracted). An archive holding a member with an
absolute path or a ``..`` component is refused as a whole.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from noisylab.errors import NoisylabError

_IGNORED_DIRS = {"__MACOSX"}


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
        When the path is missing, the zip is unreadable, or a member's path is unsafe.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.is_zip = self.path.is_file()
        self._lock = threading.Lock()
        if not self.path.exists():
            raise NoisylabError(f"{self.path} does not exist; check the path")
        if self.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as err:
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
            dirs = {n.rstrip("/") for n in names if n.endswith("/") and not _hidden(n)}
        else:
            files, dirs = [], set()
            for cur, subdirs, fnames in os.walk(self.path):
                rel_cur = Path(cur).relative_to(self.path).as_posix()
                rel_cur = "" if rel_cur == "." else rel_cur
                subdirs[:] = [d for d in subdirs if not _hidden(d)]
                for d in subdirs:
                    dirs.add(f"{rel_cur}/{d}" if rel_cur else d)
                for f in fnames:
                    if not _hidden(f):
                        files.append(f"{rel_cur}/{f}" if rel_cur else f)
            self._files = sorted(files)
        for f in self._files:  # a zip need not list its folders
            for parent in PurePosixPath(f).parents:
                if str(parent) != ".":
                    dirs.add(str(parent))
        self._dirs = dirs

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
        """Bytes of one file."""
        if self.is_zip:
            with self._lock:
                return self._zip.read(self._members[rel])
        return (self.path / rel).read_bytes()

    def describe(self, rel: str = "") -> str:
        """A path a person can find: ``archive.zip:inner/path`` or ``folder/inner/path``."""
        if not rel:
            return str(self.path)
        return f"{self.path}:{rel}" if self.is_zip else str(self.path / rel)

    def signature(self) -> dict:
        """What the cache key depends on (see `signature`)."""
        return signature(self.path)


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
            st = os.stat(os.path.join(cur, f))
            h.update(f"{rel_cur}/{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            n += 1
    return {"path": str(path.resolve()), "files": n, "listing": h.hexdigest()}


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
