"""Shared fixtures: where the real data is, and a skip marker when it is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def real_data_root() -> Path | None:
    """The real data folder (``NOISYLAB_DATA`` or ``../shared/data``), or None when absent."""
    candidates = [os.environ.get("NOISYLAB_DATA"), str(REPO.parent / "shared" / "data")]
    for c in candidates:
        if c and (Path(c) / "mnistTask3.zip").exists():
            return Path(c).resolve()
    return None


@pytest.fixture
def real_root() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("real data not found (set NOISYLAB_DATA or put it at ../shared/data)")
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own decode cache unless it asks for the real one."""
    if os.environ.get("NOISYLAB_TEST_SHARED_CACHE"):
        return
    monkeypatch.setenv("NOISYLAB_CACHE", str(tmp_path_factory.mktemp("cache")))


# --- synthetic data for the noisylab.data tests ------------------------------------------------

_ORIGINAL_CACHE = os.environ.get("NOISYLAB_CACHE")


@pytest.fixture
def real_cache(monkeypatch, tmp_path_factory) -> Path:
    """For real-data tests: a decode cache kept across tests (the CI's or user's ``NOISYLAB_CACHE``
    when set, else one folder for the whole test run), so each real source is decoded once."""
    path = Path(_ORIGINAL_CACHE) if _ORIGINAL_CACHE else tmp_path_factory.getbasetemp() / "real-cache"
    monkeypatch.setenv("NOISYLAB_CACHE", str(path))
    return path


def _png(img) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def char_png():
    """``char_png(box=(x0, y0, x1, y1), canvas=(W, H), shape="ring", noise=False) -> bytes``: a PNG
    of black ink on white paper (RGB), like a trainPart1 photo but small."""
    from PIL import Image, ImageDraw

    def make(box=(70, 40, 150, 130), canvas=(240, 180), shape="ring", noise=False, width=None):
        img = Image.new("RGB", canvas, "white")
        d = ImageDraw.Draw(img)
        w = width or max(2, (box[2] - box[0]) // 8)
        if shape == "ring":
            d.ellipse(box, outline="black", width=w)
        elif shape == "bar":
            d.rectangle(box, fill="black")
        else:
            d.line([box[:2], box[2:]], fill="black", width=w)
        if noise:
            import numpy as np

            a = np.asarray(img).astype(np.int16)
            rng = np.random.default_rng(0)
            a = a - rng.integers(0, 40, size=a.shape[:2])[..., None]  # faint grain everywhere
            a[5:7, 5:7] = 0  # one dark speck in a corner
            img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        return _png(img)

    return make


def _write_tree(path: Path, files: dict, form: str, dirs=()) -> Path:
    """Write ``{relative path: bytes}`` as a folder or a zip (``form="zip"``) at ``path``."""
    import zipfile

    if form == "zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as z:
            for d in dirs:
                z.writestr(d.rstrip("/") + "/", b"")
            for rel, data in files.items():
                z.writestr(rel, data)
    else:
        for d in dirs:
            (path / d).mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_bytes(data)
    return path


@pytest.fixture
def write_tree():
    """``write_tree(path, {rel: bytes}, form="folder"|"zip", dirs=()) -> path``."""
    return _write_tree


@pytest.fixture
def make_chars62(tmp_path, char_png):
    """``make_chars62(form="zip", wrapped=True, split="train", per_class=1, extra={}, drop=(),
    first_writer=1) -> root``.

    A trainPart1-like tree under ``tmp_path/"root"``: 62 ``SampleNNN`` folders of small PNGs,
    one a class by each of the writers ``first_writer``, ... (``per_class`` of them).
    Class c (Sample039) holds a small ring, class C (Sample013) a big one; the others
    medium rings. ``extra`` adds files, ``drop`` leaves class folders out.
    """

    def make(form="zip", wrapped=True, split="train", per_class=1, extra=None, drop=(), root=None,
             first_writer=1):
        root = root or tmp_path / "root"
        inner = "train" if split == "train" else "test"
        prefix = f"{inner}/" if wrapped else ""
        files = {}
        for k in range(1, 63):
            folder = f"Sample{k:03d}"
            if folder in drop:
                continue
            box = {39: (100, 70, 140, 110), 13: (50, 20, 170, 140)}.get(k, (70, 40, 150, 130))
            for m in range(first_writer, first_writer + per_class):
                files[f"{prefix}{folder}/img{k:03d}-{m:03d}.png"] = char_png(box=box)
        files.update(extra or {})
        stem = "trainPart1" if split == "train" else "testPart1"
        if form == "zip":
            return _write_tree(root / f"{stem}.zip", files, "zip").parent
        _write_tree(root / stem, files, "folder")
        return root

    return make


@pytest.fixture
def gray_jpeg():
    """``gray_jpeg(seed, size=28) -> bytes``: an MNIST-like JPEG (a white bar on black)."""
    import io

    import numpy as np
    from PIL import Image

    def make(seed=0, size=28, fmt="JPEG"):
        a = np.zeros((size, size), np.uint8)
        r = np.random.default_rng(seed)
        y = int(r.integers(size // 4, size // 2))
        a[y : y + size // 3, size // 3 : size // 3 + max(2, size // 7)] = 255
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format=fmt)
        return buf.getvalue()

    return make


@pytest.fixture
def write_idx():
    """``write_idx(raw_dir, split, n, gz=True, seed=0) -> (images uint8 (n, 28, 28), labels (n,))``:
    MNIST IDX files as torchvision expects them (``t10k-*`` for test, ``train-*`` for train)."""
    import gzip
    import struct

    import numpy as np

    def make(raw: Path, split: str, n: int, gz: bool = True, seed: int = 0):
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        stem = "train" if split == "train" else "t10k"
        blobs = {
            f"{stem}-images-idx3-ubyte": struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes(),
            f"{stem}-labels-idx1-ubyte": struct.pack(">II", 2049, n) + labels.tobytes(),
        }
        raw.mkdir(parents=True, exist_ok=True)
        for name, blob in blobs.items():
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (raw / name).write_bytes(blob)
        return images, labels.astype(np.int64)

    return make


@pytest.fixture
def png_claiming():
    """``png_claiming(width, height) -> bytes``: a small PNG whose header claims that size (its
    pixel data is cut short), the shape of a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def make(width: int, height: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))

    return make


@pytest.fixture
def damage_zip_member():
    """``damage_zip_member(zip_path, name)``: flip bytes in the middle of one member's stored
    data, so reading it fails its CRC (or its deflate stream)."""
    import zipfile

    def damage(path: Path, name: str) -> None:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(name)
        with open(path, "r+b") as f:
            f.seek(info.header_offset + 26)
            n_name, n_extra = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
            start = info.header_offset + 30 + n_name + n_extra + info.compress_size // 2
            f.seek(start)
            chunk = f.read(4)
            f.seek(start)
            f.write(bytes(b ^ 0x5A for b in chunk))

    return damage
