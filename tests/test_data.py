"""noisylab.data on synthetic data built in tmp_path: every source, the cache, every bad input."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from noisylab.data import (
    SOURCES,
    DataWarning,
    LabeledImages,
    is_present,
    load,
    resolve_root,
    status,
)
from noisylab.data.archive import natural_key
from noisylab.data.preprocess import find_ink, open_image, place_by_centre_of_mass, to_gray
from noisylab.data.trainpart1 import CLASSES
from noisylab.errors import NoisylabError


def _com(img: np.ndarray) -> tuple[float, float]:
    a = img.astype(np.float64)
    ys, xs = np.arange(a.shape[0]), np.arange(a.shape[1])
    return float((a.sum(1) * ys).sum() / a.sum()), float((a.sum(0) * xs).sum() / a.sum())


def _box(img: np.ndarray, level: int = 64) -> tuple[int, int]:
    rows = np.flatnonzero((img > level).any(1))
    cols = np.flatnonzero((img > level).any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


# --- LabeledImages ----------------------------------------------------------------------------


def _toy(n=6, k=3) -> LabeledImages:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 28, 28).clone()
    labels = torch.tensor([i % k for i in range(n)], dtype=torch.int64)
    return LabeledImages(images, labels, tuple("abc"[:k]), tuple(str(i) for i in range(n)), "toy")


def test_labeled_images_len_subset_counts():
    d = _toy()
    assert len(d) == 6
    assert d.class_counts() == {"a": 2, "b": 2, "c": 2}
    s = d.subset([4, 1])
    assert s.ids == ("4", "1") and s.labels.tolist() == [1, 1]
    assert s.images[:, 0, 0, 0].tolist() == [4, 1]
    m = d.subset(d.labels == 0)
    assert m.ids == ("0", "3") and m.classes == d.classes
    assert d.subset(slice(0, 2)).ids == ("0", "1")
    assert d.subset(np.array([5])).class_counts() == {"a": 0, "b": 0, "c": 1}


def test_labeled_images_validates_shapes():
    d = _toy()
    with pytest.raises(ValueError, match="uint8"):
        LabeledImages(d.images.float(), d.labels, d.classes, d.ids, "x")
    with pytest.raises(ValueError, match="ids"):
        LabeledImages(d.images, d.labels, d.classes, d.ids[:2], "x")
    with pytest.raises(ValueError, match="labels must lie"):
        LabeledImages(d.images, d.labels + 5, d.classes, d.ids, "x")


# --- preprocessing ----------------------------------------------------------------------------


def test_find_ink_ignores_faint_noise_and_specks(char_png):
    gray = to_gray(open_image(char_png(box=(70, 40, 150, 130), noise=True)))
    ink = find_ink(gray)
    y0, y1, x0, x1 = ink.box
    assert abs(y0 - 40) <= 2 and abs(y1 - 131) <= 2 and abs(x0 - 70) <= 2 and abs(x1 - 151) <= 2
    assert ink.ink[:20, :20].max() == 0  # the speck and the grain are gone


def test_place_by_centre_of_mass_centres_and_clamps():
    patch = np.zeros((20, 10), np.float32)
    patch[:, -2:] = 1  # ink on the right edge: shift would push it out, so it is clamped
    out = place_by_centre_of_mass(patch)
    assert out.sum() == patch.sum()
    square = np.ones((6, 6), np.float32)
    cy, cx = _com(place_by_centre_of_mass(square))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


# --- trainPart1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form,wrapped", [("zip", True), ("zip", False), ("folder", True), ("folder", False)]
)
def test_trainpart1_zip_and_folder_forms(make_chars62, form, wrapped):
    root = make_chars62(form=form, wrapped=wrapped, per_class=2)
    d = load("trainPart1", root=root, progress=False)
    assert d.images.shape == (124, 1, 28, 28) and d.images.dtype == torch.uint8
    assert d.labels.dtype == torch.int64
    assert d.classes == CLASSES and d.classes[:3] == ("0", "1", "2") and d.classes[36] == "a"
    assert set(d.class_counts().values()) == {2}
    assert d.ids[0] == "img001-001.png" and d.ids[-1] == "img062-002.png"
    assert d.labels[d.ids.index("img039-001.png")].item() == CLASSES.index("c")
    img = d.images[0, 0].numpy()
    assert img.max() == 255 and img[0].max() == 0 and img[:, 0].max() == 0  # white on black
    cy, cx = _com(img)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(_box(img)) in (19, 20, 21)  # fit: the longer side is 20 px


def test_trainpart1_extracted_train_folder_in_root(tmp_path, write_tree, char_png):
    files = {f"train/Sample{k:03d}/img{k:03d}-001.png": char_png() for k in range(1, 63)}
    write_tree(tmp_path / "r", files, "folder")
    d = load("trainPart1", root=tmp_path / "r", progress=False)
    assert len(d) == 62 and d.path == tmp_path / "r" / "train"


def test_fit_loses_size_keep_size_keeps_it(make_chars62):
    root = make_chars62()
    fit = load("trainPart1", root=root, progress=False)
    keep = load("trainPart1", root=root, progress=False, preprocess="keep-size")
    c, C = CLASSES.index("c"), CLASSES.index("C")
    size = lambda d, k: max(_box(d.images[d.labels == k][0, 0].numpy()))  # noqa: E731
    assert abs(size(fit, c) - size(fit, C)) <= 1  # fit: both 20 px
    # reference box 0.72 * 180 px = 130 px: C (about 121 px) -> 121 * 20 / 130 = 19 px, c (41 px) -> 6
    assert 17 <= size(keep, C) <= 19
    assert 5 <= size(keep, c) <= 8  # keeps the ratio of sizes
    assert keep.meta["preprocess"] == "keep-size" and keep.meta["reference"] == pytest.approx(0.72)
    small = load("trainPart1", root=root, progress=False, preprocess="keep-size", reference=0.4)
    # reference 0.4 * 180 = 72 px: C is bigger than the box, so it is fit; c grows to about 11 px
    assert size(small, C) in (20, 21) and 10 <= size(small, c) <= 13


def test_trainpart1_digits_subset(make_chars62):
    root = make_chars62()
    d = load("trainPart1-digits", root=root, progress=False)
    assert d.classes == tuple("0123456789") and len(d) == 10
    assert d.labels.tolist() == list(range(10))
    # from the 62-class cache entry when there is one: same pixels
    full = load("trainPart1", root=root, progress=False)
    again = load("trainPart1-digits", root=root, progress=False)
    assert torch.equal(again.images, full.images[:10]) and torch.equal(d.images, again.images)


def test_trainpart1_test_split(make_chars62, tmp_path):
    root = make_chars62()
    with pytest.raises(NoisylabError) as err:
        load("trainPart1", root=root, split="test", progress=False)
    msg = _one_line(err)
    assert "testPart1.zip" in msg and "held back" in msg and str(root) in msg
    make_chars62(split="test", root=root)
    d = load("trainPart1", root=root, split="test", progress=False)
    assert len(d) == 62 and d.meta["split"] == "test" and d.path.name == "testPart1.zip"


@pytest.mark.parametrize("platform", ["linux", "darwin"])  # forked processes, threads
def test_trainpart1_pool_matches_single_process(make_chars62, monkeypatch, platform):
    root = make_chars62(per_class=4)
    one = load("trainPart1", root=root, progress=False, workers=1)
    monkeypatch.setenv("NOISYLAB_CACHE", os.environ["NOISYLAB_CACHE"] + "-pool")
    monkeypatch.setattr("noisylab.data.decode.sys.platform", platform)
    two = load("trainPart1", root=root, progress=False, workers=2)
    assert two.meta["cache"] == "written"
    assert torch.equal(one.images, two.images) and one.ids == two.ids


def test_pool_works_from_a_script_without_main_guard(make_chars62, tmp_path):
    """A worker start method that re-runs __main__ (spawn) would break this plain script."""
    import subprocess
    import sys

    root = make_chars62(per_class=4)
    script = tmp_path / "plain.py"
    script.write_text(
        "from noisylab.data import load\n"
        f"d = load('trainPart1', root={str(root)!r}, progress=False, workers=2)\n"
        "print(len(d))\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "248"


def test_trainpart1_missing_class_folder(make_chars62):
    root = make_chars62(drop=("Sample007",))
    with pytest.raises(NoisylabError, match="Sample007"):
        load("trainPart1", root=root, progress=False)


def test_trainpart1_unexpected_folder(make_chars62, char_png):
    root = make_chars62(extra={"train/notes/x.png": char_png()})
    with pytest.raises(NoisylabError, match="unexpected folder"):
        load("trainPart1", root=root, progress=False)


# --- folders: mnistTask3 and folder:PATH ---------------------------------------------------------


def _task3_files(gray_jpeg, per_class=3, prefix="mnistTask3/"):
    return {
        f"{prefix}{k}/image_{k * 10 + i:06d}.jpg": gray_jpeg(seed=k * 10 + i)
        for k in range(10)
        for i in range(per_class)
    }


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_mnist_task3(tmp_path, write_tree, gray_jpeg, form):
    target = tmp_path / ("mnistTask3.zip" if form == "zip" else "mnistTask3")
    prefix = "mnistTask3/" if form == "zip" else ""
    write_tree(target, _task3_files(gray_jpeg, prefix=prefix), form)
    d = load("mnistTask3", root=tmp_path, progress=False)
    assert len(d) == 30 and d.classes == tuple(str(k) for k in range(10))
    assert d.ids[:3] == ("image_000000.jpg", "image_000001.jpg", "image_000002.jpg")
    assert d.labels[d.ids.index("image_000071.jpg")].item() == 7
    jpeg = np.asarray(open_image(gray_jpeg(seed=71)))
    assert np.array_equal(d.images[d.ids.index("image_000071.jpg"), 0].numpy(), jpeg)  # as is
    assert d.meta["converted"] == {"as is": 30}


def test_mnist_task3_wrong_class_folders(tmp_path, write_tree, gray_jpeg):
    files = {f"mnistTask3/{c}/a.jpg": gray_jpeg() for c in ("0", "1", "cat")}
    write_tree(tmp_path / "mnistTask3.zip", files, "zip")
    with pytest.raises(NoisylabError, match="should have exactly 0, 1, 2"):
        load("mnistTask3", root=tmp_path, progress=False)


def test_mnist_task3_has_no_test_split(tmp_path):
    with pytest.raises(NoisylabError, match="mnist --split test"):
        load("mnistTask3", root=tmp_path, split="test")


def test_natural_sort():
    assert sorted(["10", "2", "1", "b", "a"], key=natural_key) == ["1", "2", "10", "a", "b"]


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_folder_source_any_images(tmp_path, write_tree, gray_jpeg, char_png, form):
    import io

    from PIL import Image

    big_light = io.BytesIO()
    Image.fromarray(np.full((56, 56), 255, np.uint8)).save(big_light, format="PNG")
    files = {
        "wrap/10/a.png": char_png(box=(70, 40, 150, 130)),  # dark on light, RGB, 240x180
        "wrap/2/b.png": gray_jpeg(seed=1, size=56, fmt="PNG"),  # light on dark, 56x56
        "wrap/2/c.png": gray_jpeg(seed=2, size=28, fmt="PNG"),  # 28x28: as is (lossless)
    }
    path = write_tree(tmp_path / ("imgs.zip" if form == "zip" else "imgs"), files, form)
    d = load(f"folder:{path}", progress=False)
    assert d.classes == ("2", "10")  # natural order
    assert d.ids == ("b.png", "c.png", "a.png") and d.labels.tolist() == [0, 0, 1]
    photo = d.images[2, 0].numpy()
    assert photo[0].max() == 0 and max(_box(photo)) in (19, 20, 21)  # inverted and fit
    resized = d.images[0, 0].numpy()
    assert resized[0].max() == 0 and resized.max() > 200  # still white on black, 28x28
    raw28 = np.asarray(open_image(gray_jpeg(seed=2, size=28, fmt="PNG")))
    assert np.array_equal(d.images[1, 0].numpy(), raw28)
    assert d.meta["converted"] == {
        "as is": 1,
        "resized to 28x28": 1,
        "photo: inverted, cropped, fit": 1,
    }


def test_folder_source_missing_path(tmp_path):
    with pytest.raises(NoisylabError) as err:
        load(f"folder:{tmp_path / 'nope'}")
    assert "does not exist" in _one_line(err)


# --- cache --------------------------------------------------------------------------------------


def test_cache_hit_and_invalidation(tmp_path, write_tree, gray_jpeg, monkeypatch):
    zpath = write_tree(tmp_path / "mnistTask3.zip", _task3_files(gray_jpeg), "zip")
    first = load("mnistTask3", root=tmp_path, progress=False)
    assert first.meta["cache"] == "written"
    entry = Path(first.meta["cache_file"])
    assert entry.is_file() and entry.parent == Path(os.environ["NOISYLAB_CACHE"])
    assert not list(entry.parent.glob("*.tmp"))

    import noisylab.data.decode as dec

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(dec, "decode_files", boom)
    monkeypatch.setattr("noisylab.data.folder.decode_files", boom)
    second = load("mnistTask3", root=tmp_path, progress=False)
    assert second.meta["cache"] == "hit"
    assert torch.equal(first.images, second.images) and first.ids == second.ids
    monkeypatch.undo()
    monkeypatch.setenv("NOISYLAB_CACHE", str(entry.parent))

    st = zpath.stat()
    os.utime(zpath, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touch
    third = load("mnistTask3", root=tmp_path, progress=False)
    assert third.meta["cache"] == "written" and third.meta["cache_file"] != str(entry)
    assert not entry.exists()  # the stale entry is gone
    assert len(list(entry.parent.glob("mnistTask3-*.npz"))) == 1


def test_cache_folder_source_sees_changed_file(tmp_path, write_tree, gray_jpeg):
    path = write_tree(tmp_path / "t", {"a/1.jpg": gray_jpeg(1), "b/2.jpg": gray_jpeg(2)}, "folder")
    assert load(f"folder:{path}", progress=False).meta["cache"] == "written"
    assert load(f"folder:{path}", progress=False).meta["cache"] == "hit"
    (path / "b" / "3.jpg").write_bytes(gray_jpeg(3))
    d = load(f"folder:{path}", progress=False)
    assert d.meta["cache"] == "written" and len(d) == 3


def test_cache_options_are_part_of_the_key(make_chars62):
    root = make_chars62()
    a = load("trainPart1", root=root, progress=False)
    b = load("trainPart1", root=root, progress=False, preprocess="keep-size")
    assert b.meta["cache"] == "written" and a.meta["cache_file"] != b.meta["cache_file"]
    assert not torch.equal(a.images, b.images)


def test_unwritable_cache_warns_and_loads(tmp_path, write_tree, gray_jpeg, monkeypatch):
    write_tree(tmp_path / "mnistTask3.zip", _task3_files(gray_jpeg), "zip")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NOISYLAB_CACHE", str(blocker / "cache"))
    with pytest.warns(DataWarning, match="NOISYLAB_CACHE"):
        d = load("mnistTask3", root=tmp_path, progress=False)
    assert len(d) == 30 and d.meta["cache"] == "off"


def test_torn_cache_entry_is_a_miss(tmp_path, write_tree, gray_jpeg):
    write_tree(tmp_path / "mnistTask3.zip", _task3_files(gray_jpeg), "zip")
    entry = Path(load("mnistTask3", root=tmp_path, progress=False).meta["cache_file"])
    entry.write_bytes(b"garbage")
    d = load("mnistTask3", root=tmp_path, progress=False)
    assert d.meta["cache"] == "written" and len(d) == 30


# --- mnist ---------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails the test."""
    import urllib.request

    from torchvision.datasets import MNIST

    def refuse(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(MNIST, "download", refuse)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_offline(tmp_path, write_idx, no_network, gz, split):
    raw = tmp_path / "MNIST" / "raw"
    images, labels = write_idx(raw, split, 7, gz=gz)
    before = sorted(p.name for p in raw.iterdir())
    raw.chmod(0o555)
    try:
        d = load("mnist", root=tmp_path, split=split, download=True, progress=False)
    finally:
        raw.chmod(0o755)
    assert sorted(p.name for p in raw.iterdir()) == before  # nothing written into the root
    assert np.array_equal(d.images[:, 0].numpy(), images) and d.labels.tolist() == labels.tolist()
    assert d.ids[:2] == ("0", "1") and d.classes == tuple("0123456789")
    assert load("mnist", root=tmp_path, split=split, progress=False).meta["cache"] == "hit"
    assert not list(Path(os.environ["NOISYLAB_CACHE"]).glob("mnist-raw-*"))  # temp dir cleaned


def test_mnist_missing_offline(tmp_path, no_network):
    with pytest.raises(NoisylabError) as err:
        load("mnist", root=tmp_path, split="test")
    msg = _one_line(err)
    assert "t10k-images-idx3-ubyte" in msg and "--download" in msg and "NOISYLAB_DATA" in msg


def test_mnist_corrupt_idx(tmp_path, write_idx):
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw, "test", 5)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(NoisylabError, match="not a readable gzip"):
        load("mnist", root=tmp_path, split="test", progress=False)


@pytest.fixture
def fake_mirror(tmp_path, write_idx, monkeypatch):
    """A local HTTP server serving small fake MNIST .gz files, with torchvision pointed at it."""
    import hashlib
    import http.server
    import threading
    from functools import partial

    from torchvision.datasets import MNIST

    served = tmp_path / "served"
    train = write_idx(served, "train", 9, seed=1)
    test = write_idx(served, "test", 4, seed=2)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    resources = [
        (p.name, hashlib.md5(p.read_bytes()).hexdigest()) for p in sorted(served.glob("*.gz"))
    ]
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    yield {"train": train, "test": test, "server": server}
    server.shutdown()
    server.server_close()


def test_mnist_download_from_local_fake_mirror(tmp_path, fake_mirror):
    root = tmp_path / "root"
    d = load("mnist", root=root, split="test", download=True, progress=False)
    images, labels = fake_mirror["test"]
    assert np.array_equal(d.images[:, 0].numpy(), images) and d.labels.tolist() == labels.tolist()
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    t = load("mnist", root=root, split="train", progress=False)  # now offline
    assert len(t) == 9


def test_mnist_download_failure_is_one_line(tmp_path, fake_mirror, monkeypatch):
    from torchvision.datasets import MNIST

    port = fake_mirror["server"].server_port
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{port}/nothing-here/"])
    with pytest.raises(NoisylabError) as err:
        load("mnist", root=tmp_path / "r", split="test", download=True, progress=False)
    assert "could not download MNIST" in _one_line(err)


# --- digits ----------------------------------------------------------------------------------------


def test_digits():
    d = load("digits")
    assert d.images.shape == (1797, 1, 28, 28) and d.images.dtype == torch.uint8
    assert d.classes == tuple("0123456789") and d.path is None
    assert d.images[:, :, :4].max() == 0 and d.images[:, :, :, 24:].max() == 0  # 20x20 box
    assert d.images.max() == 255
    from sklearn.datasets import load_digits

    assert d.labels.tolist() == load_digits().target.tolist()
    with pytest.raises(NoisylabError, match="no test split"):
        load("digits", split="test")


# --- roots, registry ---------------------------------------------------------------------------------


def test_root_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("NOISYLAB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_root(None) == (Path("datasets"), "default")
    monkeypatch.setenv("NOISYLAB_DATA", str(tmp_path / "env"))
    assert resolve_root(None) == (tmp_path / "env", "NOISYLAB_DATA")
    assert resolve_root(tmp_path / "x") == (tmp_path / "x", "--root")


def test_env_root_is_used(tmp_path, monkeypatch, write_tree, gray_jpeg):
    write_tree(tmp_path / "env" / "mnistTask3.zip", _task3_files(gray_jpeg), "zip")
    monkeypatch.setenv("NOISYLAB_DATA", str(tmp_path / "env"))
    assert len(load("mnistTask3", progress=False)) == 30
    with pytest.raises(NoisylabError, match="given as --root"):
        load("mnistTask3", root=tmp_path / "elsewhere")  # explicit root wins over the env


def test_status_and_is_present(tmp_path, make_chars62, write_idx):
    root = make_chars62()
    write_idx(root / "MNIST" / "raw", "test", 3)
    rows = {r["name"]: r for r in status(root)}
    assert set(rows) == set(SOURCES)
    assert rows["trainPart1"]["present"] and rows["trainPart1"]["where"] == {"train": root / "trainPart1.zip"}
    assert not rows["mnistTask3"]["present"] and rows["digits"]["present"]
    assert rows["mnist"]["where"] == {"test": root / "MNIST" / "raw"}
    assert is_present("trainPart1-digits", root) and not is_present("trainPart1", root, split="test")
    assert is_present("mnist", root, split="test") and not is_present("mnist", root)


# --- bad input -------------------------------------------------------------------------------------


def test_missing_files_says_every_place_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("NOISYLAB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoisylabError) as err:
        load("trainPart1")
    msg = _one_line(err)
    for place in ("datasets/trainPart1.zip", "datasets/trainPart1", "datasets/train"):
        assert place in msg
    assert "put trainPart1.zip in datasets/" in msg and "--root DIR" in msg and "NOISYLAB_DATA" in msg


def test_unknown_dataset_lists_known():
    with pytest.raises(NoisylabError) as err:
        load("cifar10")
    msg = _one_line(err)
    assert all(name in msg for name in SOURCES) and "folder:PATH" in msg


def test_bad_split_and_option(make_chars62):
    with pytest.raises(NoisylabError, match="split must be one of"):
        load("digits", split="validation")
    with pytest.raises(NoisylabError, match="does not take option colour"):
        load("trainPart1", root=make_chars62(), colour="red")
    with pytest.raises(NoisylabError, match="preprocess must be one of"):
        load("trainPart1", root=make_chars62(), preprocess="stretch")


@pytest.mark.parametrize("bad", ["../evil.png", "/abs/evil.png", "train/../../evil.png"])
def test_zip_with_unsafe_member_is_refused(tmp_path, char_png, bad):
    root = tmp_path / "root"
    root.mkdir()
    with zipfile.ZipFile(root / "trainPart1.zip", "w") as z:
        z.writestr("train/Sample001/img001-001.png", char_png())
        z.writestr(zipfile.ZipInfo(bad), char_png())
    assert bad in zipfile.ZipFile(root / "trainPart1.zip").namelist()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(NoisylabError) as err:
        load("trainPart1", root=root, progress=False)
    msg = _one_line(err)
    assert "refusing" in msg and bad in msg and "nothing was extracted" in msg
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert not Path("/abs/evil.png").exists() and not (tmp_path / "evil.png").exists()


def test_not_a_zip(tmp_path):
    (tmp_path / "mnistTask3.zip").write_bytes(b"PK but not really")
    with pytest.raises(NoisylabError, match="not a readable zip"):
        load("mnistTask3", root=tmp_path)


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_corrupt_and_non_image_files_are_skipped_with_one_warning(
    tmp_path, write_tree, gray_jpeg, form
):
    files = _task3_files(gray_jpeg, prefix="")
    files["3/broken.jpg"] = gray_jpeg(1)[:40]
    files["5/notes.txt"] = b"hello"
    files["5/.DS_Store"] = b"\0\0"  # hidden files are not data: ignored silently
    write_tree(tmp_path / ("mnistTask3.zip" if form == "zip" else "mnistTask3"), files, form)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load("mnistTask3", root=tmp_path, progress=False)
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(data_warnings) == 1
    msg = str(data_warnings[0].message)
    assert "skipped 2 unreadable files" in msg and "\n" not in msg
    assert len(d) == 30 and d.meta["skipped"][0][0] == "3/broken.jpg"
    with pytest.warns(DataWarning, match="skipped 2"):  # said again on a cache hit
        assert load("mnistTask3", root=tmp_path, progress=False).meta["cache"] == "hit"
    with pytest.raises(NoisylabError) as err:
        load("mnistTask3", root=tmp_path, strict=True, progress=False)
    assert "3/broken.jpg" in _one_line(err)


def test_strict_on_first_decode_names_the_file(tmp_path, write_tree, gray_jpeg):
    files = {"a/1.jpg": gray_jpeg(1), "b/2.jpg": gray_jpeg(2), "b/bad.png": b"\x89PNG garbage"}
    path = write_tree(tmp_path / "t.zip", files, "zip")
    with pytest.raises(NoisylabError) as err:
        load(f"folder:{path}", strict=True, progress=False)
    msg = _one_line(err)
    assert "b/bad.png" in msg and "without --strict" in msg
    assert not list(Path(os.environ["NOISYLAB_CACHE"]).glob("*.npz"))  # nothing cached


def test_blank_photo_is_skipped(make_chars62):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (240, 180), "white").save(buf, format="PNG")
    root = make_chars62(extra={"train/Sample005/blank.png": buf.getvalue()})
    with pytest.warns(DataWarning, match="no ink found"):
        d = load("trainPart1", root=root, progress=False)
    assert len(d) == 62


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_empty_class_folder(tmp_path, write_tree, gray_jpeg, form):
    files = {"t/a/1.jpg": gray_jpeg(1)}
    path = write_tree(tmp_path / ("t.zip" if form == "zip" else "t"), files, form, dirs=["t/b"])
    with pytest.raises(NoisylabError) as err:
        load(f"folder:{path}", progress=False)
    msg = _one_line(err)
    assert "is empty" in msg and "t/b" in msg


def test_class_folder_with_only_unreadable_files(tmp_path, write_tree, gray_jpeg):
    path = write_tree(tmp_path / "t", {"a/1.jpg": gray_jpeg(1), "b/x.txt": b"no"}, "folder")
    with pytest.raises(NoisylabError, match="class folder b .* has no readable image"):
        load(f"folder:{path}", progress=False)


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_no_class_folders(tmp_path, write_tree, gray_jpeg, form):
    path = write_tree(tmp_path / ("t.zip" if form == "zip" else "t"), {"1.jpg": gray_jpeg()}, form)
    with pytest.raises(NoisylabError) as err:
        load(f"folder:{path}", progress=False)
    assert "no class folders" in _one_line(err)


# --- bad files: each is skipped and counted, or an error with strict; nothing blocks ------------


def _load_with_one_bad(root: Path, bad_name: str, **kw):
    """Load the tree at ``root`` (a folder:, 30 good images) expecting ``bad_name`` skipped."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load(f"folder:{root}", progress=False, **kw)
    data_warnings = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(data_warnings) == 1 and "skipped 1 unreadable file" in data_warnings[0]
    assert "\n" not in data_warnings[0]
    assert len(d) == 30 and [s[0] for s in d.meta["skipped"]] == [bad_name]
    with pytest.raises(NoisylabError) as err:
        load(f"folder:{root}", strict=True, progress=False, **kw)
    assert bad_name in _one_line(err) and "without --strict" in _one_line(err)
    return d.meta["skipped"][0][1]


@pytest.mark.parametrize("form", ["zip", "folder"])
@pytest.mark.parametrize("size", [(100_000, 100_000), (10_000, 10_000), (8_000, 7_000)])
def test_image_claiming_too_many_pixels_is_skipped(tmp_path, write_tree, gray_jpeg, png_claiming,
                                                   form, size):
    """Pillow's bomb error, its bomb warning, and the 50-megapixel limit below both."""
    files = _task3_files(gray_jpeg, prefix="")
    files["3/bomb.png"] = png_claiming(*size)
    path = write_tree(tmp_path / ("t.zip" if form == "zip" else "t"), files, form)
    why = _load_with_one_bad(path, "3/bomb.png")
    assert "pixels" in why


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_member_with_bad_crc_is_skipped(tmp_path, gray_jpeg, damage_zip_member, compression):
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for rel, data in _task3_files(gray_jpeg, prefix="").items():
            z.writestr(rel, data)
        z.writestr("4/damaged.jpg", gray_jpeg(99) * 3)
    damage_zip_member(path, "4/damaged.jpg")
    why = _load_with_one_bad(path, "4/damaged.jpg")
    assert "damaged or unsupported zip member" in why


def test_dangling_link_is_skipped(tmp_path, write_tree, gray_jpeg):
    path = write_tree(tmp_path / "t", _task3_files(gray_jpeg, prefix=""), "folder")
    (path / "2" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    assert "does not exist" in _load_with_one_bad(path, "2/gone.jpg")


def test_file_name_that_is_not_utf8_is_skipped(tmp_path, write_tree, gray_jpeg):
    path = write_tree(tmp_path / "t", _task3_files(gray_jpeg, prefix=""), "folder")
    try:
        with open(os.fsencode(path / "5") + b"/\xff\xfe.jpg", "wb") as f:
            f.write(gray_jpeg(5))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    why = _load_with_one_bad(path, "5/\\xff\\xfe.jpg")
    assert "not valid UTF-8" in why
    with pytest.warns(DataWarning, match="not valid UTF-8"):  # stored and read back
        assert load(f"folder:{path}", progress=False).meta["cache"] == "hit"


@pytest.fixture
def no_blocking():
    """Fail the test instead of hanging when something blocks for 60 s."""
    import signal

    def fail(*_):
        raise AssertionError("blocked for 60 s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_named_pipe_is_never_opened(tmp_path, write_tree, gray_jpeg, no_blocking):
    path = write_tree(tmp_path / "t", _task3_files(gray_jpeg, prefix=""), "folder")
    os.mkfifo(path / "1" / "x.png")
    assert "not a regular file" in _load_with_one_bad(path, "1/x.png")


def test_named_pipe_as_the_source_itself(tmp_path, no_blocking):
    os.mkfifo(tmp_path / "mnistTask3.zip")
    with pytest.raises(NoisylabError) as err:
        load("mnistTask3", root=tmp_path, progress=False)
    assert "neither a zip file nor a folder" in _one_line(err)


def test_bad_files_in_worker_processes(make_chars62, png_claiming, no_blocking):
    bomb = png_claiming(100_000, 100_000)
    root = make_chars62(form="folder", per_class=4, extra={"train/Sample003/bomb.png": bomb})
    os.mkfifo(root / "trainPart1" / "train" / "Sample004" / "pipe.png")
    with pytest.warns(DataWarning, match="skipped 2 unreadable files"):
        d = load("trainPart1", root=root, progress=False, workers=2)
    assert len(d) == 248 and sorted(s[0].rsplit("/", 1)[-1] for s in d.meta["skipped"]) == [
        "bomb.png", "pipe.png"]


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_file_over_the_byte_limit_is_skipped_unread(tmp_path, write_tree, gray_jpeg, monkeypatch,
                                                     form):
    import noisylab.data.archive as archive

    files = _task3_files(gray_jpeg, prefix="")
    files["6/huge.jpg"] = gray_jpeg(6) + b"\0" * 5000
    path = write_tree(tmp_path / ("t.zip" if form == "zip" else "t"), files, form)
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 4000)
    read = []
    original = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read",
                        lambda self, name, pwd=None: read.append(getattr(name, "filename", name))
                        or original(self, name, pwd))
    assert "over the limit of 4,000 bytes" in _load_with_one_bad(path, "6/huge.jpg")
    assert "6/huge.jpg" not in read  # the declared size was enough to refuse it


def test_file_without_read_permission_is_skipped(tmp_path, write_tree, gray_jpeg, monkeypatch):
    path = write_tree(tmp_path / "t", _task3_files(gray_jpeg, prefix=""), "folder")
    locked = path / "7" / "locked.jpg"
    locked.write_bytes(gray_jpeg(7))
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads it anyway: refuse it the way the kernel would
        real_open = os.open

        def refuse(p, *a, **k):
            if str(p) == str(locked):
                raise PermissionError(13, "Permission denied", str(p))
            return real_open(p, *a, **k)

        monkeypatch.setattr(os, "open", refuse)
    try:
        assert "cannot be opened (Permission denied)" in _load_with_one_bad(path, "7/locked.jpg")
    finally:
        locked.chmod(0o644)


def test_zip_with_a_name_that_is_not_utf8_is_one_line(tmp_path, gray_jpeg):
    """Python's zipfile cannot list such a zip at all: one line, no traceback."""
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("0/a.jpg", gray_jpeg())
        z.writestr("0/b\u00e9.jpg", gray_jpeg())  # a non-ASCII name: flagged as UTF-8
    path.write_bytes(path.read_bytes().replace("\u00e9".encode(), b"\xff\xfe"))
    with pytest.raises(NoisylabError) as err:
        load(f"folder:{path}", progress=False)
    assert "not a readable zip file" in _one_line(err) and str(path) in _one_line(err)
