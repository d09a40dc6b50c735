"""``mnist``: the standard MNIST splits (`MNIST`), through ``torchvision.datasets.MNIST``.

Offline first: when ``<root>/MNIST/raw`` holds the split's two IDX files (gzipped or not) they
are used as they are, without any download attempt and without checking MD5s (a rebuilt
``train-images`` file, as in the project's shared data, is fine). The root may be read-only:
gzipped files are decompressed into a temporary folder inside the cache folder and read with
torchvision's IDX reader. With ``download=True`` and files missing, torchvision downloads the four
files into ``<root>/MNIST/raw`` (its mirrors, its MD5 checks).
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from noisylab.data import cache
from noisylab.data.base import LabeledImages, Source, from_arrays
from noisylab.data.roots import not_found
from noisylab.errors import NoisylabError

CLASSES = tuple(str(d) for d in range(10))

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The split's (images, labels) IDX file names; each may also be there with ``.gz``."""


def raw_folder(root: Path) -> Path:
    """``<root>/MNIST/raw``, where torchvision keeps the files."""
    return root / "MNIST" / "raw"


def _find(raw: Path, base: str) -> Path | None:
    for p in (raw / base, raw / f"{base}.gz"):
        if p.is_file():
            return p
    return None


def locate(root: Path, split: str = "train") -> Path | None:
    """The raw folder if it holds both files of ``split``, else None."""
    raw = raw_folder(root)
    return raw if all(_find(raw, b) for b in FILES[split]) else None


def _download(root: Path, split: str) -> None:
    try:
        from torchvision.datasets import MNIST as TorchvisionMNIST
    except ImportError as err:  # pragma: no cover - torchvision is a dependency
        raise NoisylabError(
            f"downloading MNIST needs torchvision ({err}); pip install torchvision"
        ) from None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            TorchvisionMNIST(str(root), train=(split == "train"), download=True)
    except Exception as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
        first = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
        raise NoisylabError(
            f"could not download MNIST into {raw_folder(root)} ({type(err).__name__}: {first}); "
            "check the connection and that the folder is writable, or put the four IDX files there by hand"
        ) from None


def _plain(path: Path, tmp: Path) -> Path:
    """An uncompressed copy of ``path`` in ``tmp`` (or ``path`` itself when not gzipped)."""
    if path.suffix != ".gz":
        return path
    out = tmp / path.stem
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError, zlib.error) as err:
        raise NoisylabError(
            f"{path} is not a readable gzip file ({err}); download or copy it again"
        ) from None
    return out


def _tempdir():
    base = cache.cache_dir()
    try:
        base.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=base, prefix="mnist-raw-")
    except OSError:
        return tempfile.TemporaryDirectory(prefix="noisylab-mnist-raw-")


def _read_idx(
    images_path: Path, labels_path: Path, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    with (
        _tempdir() as tmp,
        tqdm(
            total=2,
            desc="decoding mnist",
            unit="file",
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        out = []
        for path, reader in ((images_path, read_image_file), (labels_path, read_label_file)):
            plain = _plain(path, Path(tmp))
            try:
                out.append(reader(str(plain)).numpy())
            except Exception as err:
                raise NoisylabError(
                    f"{path} is not a valid MNIST IDX file ({type(err).__name__}: {err}); "
                    "download or copy it again"
                ) from None
            bar.update(1)
    images, labels = out
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise NoisylabError(
            f"{images_path} and {labels_path} do not match: images {images.shape}, labels {labels.shape}; "
            "use files of the same split"
        )
    return images.astype(np.uint8), labels.astype(np.int64)


def _signature(paths: list[Path]) -> list[dict]:
    sigs = []
    for p in paths:
        st = p.stat()
        sigs.append({"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return sigs


class MNIST(Source):
    """``mnist``: the standard MNIST splits from ``<root>/MNIST/raw`` (see the module docstring).

    ``load(root, split, download=False)``: 60,000 (train) or 10,000 (test) images; ``labels``
    the official labels; ``ids`` the index in the split as a string. The test split is for
    reporting, never for choosing. With ``download=True``, missing files are downloaded through
    torchvision.
    """

    name = "mnist"
    description = "standard MNIST (60,000 train, 10,000 test), IDX files via torchvision"
    splits = ("train", "test")
    wants = "MNIST/raw/*-ubyte[.gz] (or --download when online)"
    downloadable = True

    def candidates(self, root: Path, split: str) -> list[Path]:
        raw = raw_folder(root)
        return [raw / f"{b}[.gz]" for b in FILES[split]]

    def locate(self, root: Path, split: str = "train") -> Path | None:
        """The raw folder if it holds both files of ``split``, else None."""
        return locate(Path(root), split)

    def how(self, root: Path, split: str) -> str:
        return (f"put the MNIST IDX files (.gz or not) in {raw_folder(root)}/, or pass download=True "
                "(--download) when online")

    def find(self, root: Path, origin: str, split: str, *, download: bool = False) -> Path:
        raw = raw_folder(root)
        if self.locate(root, split) is None:
            if not download:
                raise not_found(f"MNIST ({split} split)", self.candidates(root, split), root,
                                origin, self.how(root, split))
            _download(root, split)
            if self.locate(root, split) is None:
                raise NoisylabError(
                    f"MNIST download finished but {raw} still lacks {FILES[split]}; try again"
                )
        return raw

    def read(self, path: Path, split: str, *, strict: bool = False,
             progress: bool = True) -> LabeledImages:
        images_path, labels_path = (_find(path, b) for b in FILES[split])

        def decode() -> dict:
            images, labels = _read_idx(images_path, labels_path, progress)
            return {
                "images": images,
                "labels": labels,
                "ids": [str(i) for i in range(len(labels))],
                "classes": list(CLASSES),
                "meta": {"skipped": [], "files": [str(images_path), str(labels_path)]},
            }

        arrays, state, entry = cache.load_or_decode(
            source=self.name, split=split, signatures=_signature([images_path, labels_path]),
            options={}, decode=decode, strict=False, where=str(path),
        )
        desc = f"mnist {split}: standard MNIST {split} split from {path} (torchvision IDX reader)"
        meta = {"split": split, "cache": state, "cache_file": str(entry), "skipped": []}
        return from_arrays(arrays, source=desc, path=path, meta=meta)
