"""``noisylab data ...`` through click's CliRunner: outputs, figures, and one-line errors."""

from __future__ import annotations

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
