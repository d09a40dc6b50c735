"""``noisylab data ...`` through click's CliRunner: outputs, figures, and one-line errors."""

from __future__ import annotations

import os
import zipfile

import pytest
from click.testing import CliRunner

from noisylab.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["data", *map(str, args)])


def assert_one_line_error(result, *needles):
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def task3_root(tmp_path, write_tree, gray_jpeg):
    files = {
        f"mnistTask3/{k}/image_{k * 10 + i:06d}.jpg": gray_jpeg(seed=k * 10 + i)
        for k in range(10)
        for i in range(2 + (k == 3))
    }
    write_tree(tmp_path / "root" / "mnistTask3.zip", files, "zip")
    return tmp_path / "root"


def test_list(task3_root):
    r = run("list", "--root", task3_root)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"data root: {task3_root} (--root)"
    row = {ln.split()[0]: ln for ln in lines[1:] if ln.startswith("  ") and ln.split()}
    assert row["mnistTask3"].split()[1] == "yes" and str(task3_root / "mnistTask3.zip") in row["mnistTask3"]
    assert row["trainPart1"].split()[1] == "no" and "put trainPart1.zip" in row["trainPart1"]
    assert row["digits"].split()[1] == "yes"
    assert "folder:PATH" in r.stdout


def test_info(task3_root):
    r = run("info", "mnistTask3", "--root", task3_root)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "images:     21 x 1 x 28 x 28 uint8" in out
    assert "classes:    10: 0 1 2 3 4 5 6 7 8 9" in out
    assert "0:2  1:2  2:2  3:3  4:2" in out and "min 2, max 3" in out
    assert f"path:       {task3_root / 'mnistTask3.zip'}" in out
    assert "converted:  21 as is" in out and "preprocess:" not in out
    assert "cache:      written (" in out
    assert "cache:      hit (" in run("info", "mnistTask3", "--root", task3_root).stdout


def test_info_digits_and_preprocess_option(make_chars62):
    r = run("info", "digits")
    assert r.exit_code == 0 and "1797 x 1 x 28 x 28" in r.stdout
    r = run("info", "trainPart1", "--root", make_chars62(), "--preprocess", "keep-size")
    assert r.exit_code == 0, r.output
    assert "preprocess: keep-size, reference 0.72" in r.stdout and "classes:    62:" in r.stdout


def test_show_grid_and_before_after(tmp_path, make_chars62):
    from PIL import Image

    root = make_chars62()
    out = tmp_path / "figs" / "grid.png"
    r = run("show", "trainPart1", "--root", root, "--out", out, "--per-class", 2)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"wrote {out}"
    w, h = Image.open(out).size
    assert w > 300 and h > 300
    ba = tmp_path / "ba.png"
    r = run("show", "trainPart1", "--root", root, "--out", ba, "--before-after")
    assert r.exit_code == 0, r.output
    assert Image.open(ba).size[0] > Image.open(ba).size[1]  # 10 samples side by side


def test_show_before_after_needs_photos(tmp_path):
    r = run("show", "digits", "--out", tmp_path / "x.png", "--before-after")
    assert_one_line_error(r, "trainPart1")


def test_show_requires_out():
    r = run("show", "digits")
    assert r.exit_code == 2 and "--out" in r.output


# --- bad input: exit code 2, one line, no traceback --------------------------------------------


def test_cli_missing_files(tmp_path):
    r = run("info", "trainPart1", "--root", tmp_path)
    assert_one_line_error(r, str(tmp_path / "trainPart1.zip"), "--root DIR", "NOISYLAB_DATA")


def test_cli_missing_test_split(make_chars62):
    r = run("info", "trainPart1", "--root", make_chars62(), "--split", "test")
    assert_one_line_error(r, "testPart1.zip")


def test_cli_unknown_dataset():
    assert_one_line_error(run("info", "imagenet"), "unknown dataset", "mnistTask3", "folder:PATH")


def test_cli_unsafe_zip(tmp_path, gray_jpeg):
    root = tmp_path / "root"
    root.mkdir()
    with zipfile.ZipFile(root / "mnistTask3.zip", "w") as z:
        z.writestr("mnistTask3/0/a.jpg", gray_jpeg())
        z.writestr("../../escape.jpg", gray_jpeg())
    assert_one_line_error(run("info", "mnistTask3", "--root", root), "refusing", "../../escape.jpg")
    assert not (tmp_path / "escape.jpg").exists()


def test_cli_corrupt_file_warns_once_and_strict_fails(task3_root, gray_jpeg):
    with zipfile.ZipFile(task3_root / "mnistTask3.zip", "a") as z:
        z.writestr("mnistTask3/4/image_999999.jpg", b"\xff\xd8 truncated")
    r = run("info", "mnistTask3", "--root", task3_root)
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "skipped 1 unreadable file" in warn[0] and "--strict" in warn[0]
    assert "skipped:    1 unreadable file(s), first mnistTask3/4/image_999999.jpg" in r.stdout
    r = run("info", "mnistTask3", "--root", task3_root, "--strict")
    assert_one_line_error(r, "image_999999.jpg")


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_cli_empty_class_folder(tmp_path, write_tree, gray_jpeg, form):
    path = write_tree(
        tmp_path / ("t.zip" if form == "zip" else "t"), {"a/1.jpg": gray_jpeg()}, form, dirs=["b"]
    )
    assert_one_line_error(run("info", f"folder:{path}"), "is empty")


def test_cli_no_class_folders(tmp_path, gray_jpeg):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "1.jpg").write_bytes(gray_jpeg())
    assert_one_line_error(run("info", f"folder:{tmp_path / 'flat'}"), "no class folders")


def test_cli_not_a_zip(tmp_path):
    (tmp_path / "mnistTask3.zip").write_text("nope")
    assert_one_line_error(run("info", "mnistTask3", "--root", tmp_path), "not a readable zip")


def test_cli_mnist_missing_offline(tmp_path):
    assert_one_line_error(run("info", "mnist", "--root", tmp_path, "--split", "test"), "--download")


def test_cli_strict_on_first_decode(tmp_path, write_tree, gray_jpeg):
    path = write_tree(tmp_path / "t", {"a/1.jpg": gray_jpeg(), "b/2.jpg": b"junk"}, "folder")
    assert_one_line_error(run("info", f"folder:{path}", "--strict"), "b/2.jpg", "without --strict")


# --- bad files and filesystem errors --------------------------------------------------------------


@pytest.fixture
def folder_with(tmp_path, write_tree, gray_jpeg):
    """``folder_with(kind) -> path``: 20 good images in folders 0-9, and one bad file of ``kind``."""

    def make(kind):
        files = {f"{k}/{i}.jpg": gray_jpeg(seed=k * 2 + i) for k in range(10) for i in range(2)}
        path = write_tree(tmp_path / "t", files, "folder")
        if kind == "pipe":
            os.mkfifo(path / "3" / "x.png")
        elif kind == "link":
            (path / "3" / "x.png").symlink_to(tmp_path / "nowhere.png")
        else:
            import struct
            import zlib

            ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
            (path / "3" / "x.png").write_bytes(
                b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
                + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
        return path

    return make


@pytest.mark.parametrize("kind", ["bomb", "pipe", "link"])
def test_cli_bad_file_is_one_warning_and_strict_one_error(folder_with, kind):
    path = folder_with(kind)
    r = run("info", f"folder:{path}")
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(warn) == 1 and "skipped 1 unreadable file" in warn[0] and "3/x.png" in warn[0]
    assert "images:     20 x 1 x 28 x 28" in r.stdout
    assert_one_line_error(run("info", f"folder:{path}", "--strict"), "3/x.png")


def test_show_out_below_a_regular_file(tmp_path):
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / "afile" / "grid.png"
    assert_one_line_error(run("show", "digits", "--out", out), str(out), "is a file")
    assert (tmp_path / "afile").read_text() == "mine"


def test_show_out_unknown_format(tmp_path):
    assert_one_line_error(run("show", "digits", "--out", tmp_path / "g.xyz"), "g.xyz", ".png")


def test_show_out_in_a_read_only_folder(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: answer as the kernel would for another user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: str(p) != str(ro) and real_access(p, mode))
    try:
        assert_one_line_error(run("show", "digits", "--out", ro / "g.png"), str(ro), "not writable")
    finally:
        ro.chmod(0o755)
    assert not list(ro.iterdir())


def test_show_write_failure_keeps_the_earlier_file(tmp_path, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    out = tmp_path / "g.png"
    out.write_bytes(b"an earlier figure")

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    assert_one_line_error(run("show", "digits", "--out", out), str(out), "No space left")
    assert out.read_bytes() == b"an earlier figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]  # no temporary file left


def test_show_writes_a_png_without_a_suffix(tmp_path):
    out = tmp_path / "grid"
    r = run("show", "digits", "--out", out, "--per-class", 1)
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_root_that_cannot_be_searched(tmp_path, monkeypatch):
    from pathlib import Path

    root = tmp_path / "locked"
    root.mkdir()
    root.chmod(0)
    if os.geteuid() == 0:  # root searches anyway: answer as the kernel would for another user
        real_stat = Path.stat

        def refuse(self, *a, **k):
            if self.parent == root:
                raise PermissionError(13, "Permission denied", str(self))
            return real_stat(self, *a, **k)

        monkeypatch.setattr(Path, "stat", refuse)
    try:
        assert_one_line_error(run("info", "mnistTask3", "--root", root), str(root), "Permission")
    finally:
        root.chmod(0o755)
