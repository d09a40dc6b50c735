"""Output folders, atomic writes, filesystem errors and the shared option checks
(noisylab.outputs, noisylab.validate): nothing the user wrote is touched, every refusal is one
line naming the path."""

from __future__ import annotations

import errno
import gzip
import json
import os
import tempfile
from pathlib import Path

import pytest

from noisylab import outputs
from noisylab.errors import NoisylabError
from noisylab.outputs import (
    MARKER,
    atomic_write_bytes,
    atomic_write_json,
    check_output,
    folder_kind,
    fs_error,
    prepare_output,
    read_marker,
    shown,
)
from noisylab.validate import (
    callback,
    check_audit_options,
    check_checkpoint,
    check_count,
    check_positive,
    check_seed,
    check_trusted_file,
    read_utf8,
)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def user_folder(tmp_path: Path) -> tuple[Path, bytes]:
    folder = tmp_path / "mine"
    folder.mkdir()
    data = b"my notes, not noisylab's\n"
    (folder / "notes.txt").write_bytes(data)
    return folder, data


# --- output folders --------------------------------------------------------------------------


def test_a_new_folder_is_created_and_marked(tmp_path):
    out = prepare_output(tmp_path / "a" / "b", "audit")
    assert out.is_dir() and read_marker(out)["kind"] == "audit"
    assert read_marker(out)["noisylab"]
    assert folder_kind(out) == "audit"


def test_an_empty_folder_is_taken(tmp_path):
    (tmp_path / "e").mkdir()
    assert read_marker(prepare_output(tmp_path / "e", "evaluation"))["kind"] == "evaluation"


def test_an_empty_folder_of_another_kind_is_marked_again(tmp_path):
    prepare_output(tmp_path / "e", "audit")
    assert read_marker(prepare_output(tmp_path / "e", "evaluation"))["kind"] == "evaluation"


def test_a_marker_being_written_is_the_marker_not_a_users_file(tmp_path):
    # Another process (a torchrun rank) is between the marker's temporary file and its rename.
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / f".{MARKER}.k3x9q1ab.tmp").write_text("{}")
    assert check_output(folder, "run", reuse=True) == folder
    # A hidden temporary file of any other name is still the user's.
    (folder / ".notes.txt.k3x9q1ab.tmp").write_text("mine")
    with pytest.raises(NoisylabError, match="did not write"):
        check_output(folder, "run", reuse=True)


@pytest.mark.parametrize("reuse, replace", [(False, False), (True, False), (False, True)])
def test_a_users_folder_is_refused_and_left_alone(tmp_path, reuse, replace):
    folder, data = user_folder(tmp_path)
    with pytest.raises(NoisylabError) as err:
        prepare_output(folder, "run", reuse=reuse, replace=replace, owned=["*"])
    assert "notes.txt" in one_line(err) and str(folder) in one_line(err)
    assert (folder / "notes.txt").read_bytes() == data
    assert not (folder / MARKER).exists()


def test_a_users_best_json_is_not_taken_for_a_run(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "best.json").write_text("{}")
    assert folder_kind(folder) is None
    with pytest.raises(NoisylabError):
        prepare_output(folder, "run", reuse=True)


def test_a_folder_of_another_kind_is_refused(tmp_path):
    run = prepare_output(tmp_path / "r", "run")
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(NoisylabError) as err:
        prepare_output(run, "audit", reuse=True, replace=True, owned=["*"])
    assert "holds a noisylab run, not an audit" in one_line(err)
    assert (run / "metrics.jsonl").exists()


def test_the_same_kind_needs_to_be_asked_for(tmp_path):
    run = prepare_output(tmp_path / "r", "run")
    (run / "metrics.jsonl").write_text("x")
    with pytest.raises(NoisylabError) as err:
        prepare_output(run, "run", asks="pass --resume to continue it")
    assert one_line(err).endswith("pass --resume to continue it")
    assert prepare_output(run, "run", reuse=True) == run
    assert (run / "metrics.jsonl").read_text() == "x"


def test_replace_removes_only_what_the_command_writes(tmp_path):
    demo = prepare_output(tmp_path / "d", "demo")
    (demo / "report.md").write_text("old")
    (demo / "pretrain").mkdir()
    (demo / "pretrain" / "best.json").write_text("{}")
    prepare_output(demo, "demo", replace=True, owned=["report.md", "pretrain"])
    assert sorted(p.name for p in demo.iterdir()) == [MARKER]


def test_replace_refuses_a_foreign_entry_before_removing_anything(tmp_path):
    demo = prepare_output(tmp_path / "d", "demo")
    (demo / "report.md").write_text("old")
    (demo / "mine.txt").write_text("keep")
    with pytest.raises(NoisylabError) as err:
        prepare_output(demo, "demo", replace=True, owned=["report.md"])
    assert "mine.txt" in one_line(err)
    assert (demo / "report.md").read_text() == "old"
    assert (demo / "mine.txt").read_text() == "keep"


def test_replace_removes_a_link_not_what_it_names(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    demo = prepare_output(tmp_path / "d", "demo")
    (demo / "audit").symlink_to(target)
    prepare_output(demo, "demo", replace=True, owned=["audit"])
    assert not (demo / "audit").exists() and (target / "keep.txt").read_text() == "keep"


def test_folders_written_before_markers_are_recognised(tmp_path):
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    assert folder_kind(run) == "run"
    prepare_output(run, "run", reuse=True)
    assert read_marker(run)["kind"] == "run"


def test_an_unreadable_marker_counts_as_the_users(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / MARKER).write_text("not json")
    (folder / "x").write_text("")
    assert read_marker(folder) is None
    with pytest.raises(NoisylabError):
        prepare_output(folder, "run", reuse=True)


def test_check_output_writes_nothing(tmp_path):
    assert check_output(tmp_path / "new", "run") == tmp_path / "new"
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError):
        check_output(tmp_path / "new", "no-such-kind")


# --- filesystem errors -----------------------------------------------------------------------


def test_out_below_a_regular_file(tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(NoisylabError) as err:
        prepare_output(tmp_path / "file" / "sub" / "out", "audit")
    assert f"{tmp_path / 'file'} is a file, not a folder" in one_line(err)
    with pytest.raises(NoisylabError) as err:
        prepare_output(tmp_path / "file", "audit")
    assert "it is a file" in one_line(err)
    assert (tmp_path / "file").read_text() == "mine"


def test_out_in_a_folder_that_cannot_be_written(tmp_path, monkeypatch):
    # This machine may run as root, which chmod does not stop: the refusal is simulated.
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(NoisylabError) as err:
        prepare_output(tmp_path / "ro" / "out", "evaluation")
    assert "permission denied" in one_line(err) and str(tmp_path / "ro" / "out") in one_line(err)


def test_a_read_only_existing_folder(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir()

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(NoisylabError) as err:
        prepare_output(tmp_path / "ro", "audit")
    assert "read-only" in one_line(err)


def test_a_full_disk_keeps_the_earlier_file(tmp_path, monkeypatch):
    path = atomic_write_json(tmp_path / "x.json", {"a": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NoisylabError) as err:
        atomic_write_json(path, {"a": 2})
    assert "no space left" in one_line(err) and "free some space" in one_line(err)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left


def test_atomic_writes_keep_the_usual_file_mode(tmp_path):
    path = atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_files_write_json_is_the_atomic_one(tmp_path):
    from noisylab.files import write_json

    write_json(tmp_path / "j.json", [1, 2])
    assert json.loads((tmp_path / "j.json").read_text()) == [1, 2]
    assert write_json is atomic_write_json


def test_fs_error_reading_says_to_check_the_path(tmp_path):
    err = fs_error(PermissionError(errno.EACCES, "Permission denied"), tmp_path / "f",
                   action="read")
    assert str(err) == f"cannot read {tmp_path / 'f'}: permission denied; check that it exists " \
                       "and that you may read it"


def test_shown_keeps_a_path_on_one_printable_line():
    assert shown(b"caf\xe9\nx.png") == "caf\\xe9\\nx.png"
    assert shown(Path(os.fsdecode(b"a\xff"))) == "a\\xff"
    assert shown("plain/ok") == "plain/ok"
    assert outputs.shown("tab\there") == "tab\\there"


# --- option checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, 2**32, True, 1.5, "3"])
def test_bad_seeds(bad):
    with pytest.raises(NoisylabError) as err:
        check_seed(bad)
    assert one_line(err).startswith("--seed must be an integer from 0 to 4294967295")


def test_good_seeds():
    assert check_seed(0) == 0 and check_seed(2**32 - 1) == 2**32 - 1


def test_counts_and_positive_numbers():
    assert check_count(2, name="--folds", minimum=2) == 2
    for bad in (1, 0, -1, True):
        with pytest.raises(NoisylabError, match="--folds must be an integer of at least 2"):
            check_count(bad, name="--folds", minimum=2)
    assert check_positive(1e-3, name="--lr") == 1e-3
    for bad in (0, -0.1, float("nan"), float("inf"), "x"):
        with pytest.raises(NoisylabError, match="--lr must be a number above 0"):
            check_positive(bad, name="--lr")


def test_callback_names_the_option():
    class Param:
        opts = ["--seed"]
        name = "seed"

    run = callback(check_seed)
    assert run(None, Param, None) is None and run(None, Param, 3) == 3
    with pytest.raises(NoisylabError, match="^--seed must"):
        run(None, Param, -1)


def idx_labels(labels: bytes) -> bytes:
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels


def test_trusted_files_that_read(tmp_path):
    (tmp_path / "l.idx").write_bytes(idx_labels(b"\x01\x02"))
    (tmp_path / "l.gz").write_bytes(gzip.compress(idx_labels(b"\x01\x02")))
    (tmp_path / "l.csv").write_text("id,label\na.png,3\n")
    for name in ("l.idx", "l.gz", "l.csv"):
        check_trusted_file(tmp_path / name)


def corrupt_crc(data: bytes) -> bytes:
    """A gzip stream whose CRC trailer no longer matches its content."""
    return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]


@pytest.mark.parametrize("name, content, says", [
    ("crc.gz", corrupt_crc(gzip.compress(idx_labels(b"\x01" * 100))), "damaged or truncated"),
    ("cut.gz", gzip.compress(idx_labels(b"\x01" * 100))[:-20], "damaged or truncated"),
    ("junk.gz", b"not gzip at all", "damaged or truncated"),
    ("short.idx", idx_labels(b"\x01" * 10)[:-3], "truncated"),
    ("x.idx", b"\x00" * 20, "neither an IDX labels file"),
    ("h.csv", b"name,value\na,1\n", "no id,label header"),
    ("u.csv", b"id,label\n\xff\xfe,1\n", "not UTF-8"),
])
def test_trusted_files_that_do_not_read(tmp_path, name, content, says):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(NoisylabError) as err:
        check_trusted_file(tmp_path / name)
    assert says in one_line(err) and name in one_line(err)


def test_a_trusted_file_that_is_missing(tmp_path):
    with pytest.raises(NoisylabError, match="no such file"):
        check_trusted_file(tmp_path / "none.gz")


def test_a_reference_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"\x80\x02 pickled, never loaded")
    with pytest.raises(NoisylabError) as err:
        check_checkpoint(tmp_path / "x.pt", name="--reference")
    assert one_line(err).startswith(f"--reference {tmp_path / 'x.pt'} is not a usable noisylab "
                                    "checkpoint")


def test_audit_options_are_checked_in_order(tmp_path):
    check_audit_options(folds=2, epochs=None, seed=0)
    with pytest.raises(NoisylabError, match="--folds"):
        check_audit_options(folds=1, epochs=None, seed=0)
    with pytest.raises(NoisylabError, match="--epochs"):
        check_audit_options(folds=2, epochs=-1, seed=0)
    with pytest.raises(NoisylabError, match="--seed"):
        check_audit_options(folds=2, epochs=1, seed=-1)
    (tmp_path / "t.gz").write_bytes(b"junk")
    with pytest.raises(NoisylabError, match="--trusted"):
        check_audit_options(folds=2, epochs=1, seed=0, trusted=tmp_path / "t.gz")


def test_read_utf8_names_the_line_of_a_bad_byte(tmp_path):
    (tmp_path / "e.toml").write_bytes(b'name = "a"\nnote = "caf\xe9"\n')
    with pytest.raises(NoisylabError) as err:
        read_utf8(tmp_path / "e.toml", what="experiment file")
    assert "byte 0xe9 on line 2" in one_line(err)
    (tmp_path / "ok.toml").write_text('name = "b"\n')
    assert read_utf8(tmp_path / "ok.toml", what="experiment file") == 'name = "b"\n'
    with pytest.raises(NoisylabError, match="cannot read experiment file"):
        read_utf8(tmp_path / "none.toml", what="experiment file")


# --- commands ------------------------------------------------------------------------------


def cli_error(args: list) -> str:
    """The one ``error:`` line of a refused command (exit code 2)."""
    from click.testing import CliRunner

    from noisylab.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_demo_refuses_a_users_folder(tmp_path):
    folder, data = user_folder(tmp_path)
    assert "notes.txt" in cli_error(["demo", "--out", folder, "--epochs", "1"])
    assert (folder / "notes.txt").read_bytes() == data
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_demo_refuses_its_own_folder_holding_a_users_file(tmp_path):
    from noisylab.demo import OWNED

    demo = prepare_output(tmp_path / "d", "demo")
    (demo / "report.md").write_text("an earlier demo's")
    (demo / "mine.csv").write_text("keep")
    assert "mine.csv" in cli_error(["demo", "--out", demo, "--epochs", "1"])
    assert (demo / "report.md").exists() and (demo / "mine.csv").read_text() == "keep"
    assert "report.md" in OWNED


def test_audit_refuses_a_users_folder_before_loading(tmp_path):
    folder, data = user_folder(tmp_path)
    line = cli_error(["audit", "no-such-source", "--out", folder])
    assert "notes.txt" in line and (folder / "notes.txt").read_bytes() == data


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--seed", str(2**32)),
                                           ("--epochs", "-1"), ("--folds", "1")])
def test_audit_options_are_refused_before_any_folder(tmp_path, option, value):
    assert option in cli_error(["audit", "digits", "--out", tmp_path / "a", option, value])
    assert not (tmp_path / "a").exists()


def test_audit_refuses_a_reference_and_trusted_labels_that_do_not_read(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "t.gz").write_bytes(gzip.compress(idx_labels(b"\x01" * 50))[:-10])
    assert "--reference" in cli_error(["audit", "digits", "--out", tmp_path / "a",
                                       "--reference", tmp_path / "x.pt"])
    assert "--trusted" in cli_error(["audit", "digits", "--out", tmp_path / "a",
                                     "--trusted", tmp_path / "t.gz"])
    assert not (tmp_path / "a").exists()


def test_evaluate_refuses_a_users_folder_before_loading(tmp_path):
    folder, data = user_folder(tmp_path)
    line = cli_error(["evaluate", tmp_path / "no-run", "--data", "digits", "--out", folder])
    assert "notes.txt" in line and (folder / "notes.txt").read_bytes() == data


def test_evaluate_out_below_a_file_and_a_bad_checkpoint_create_nothing(tmp_path):
    (tmp_path / "file").write_text("mine")
    line = cli_error(["evaluate", tmp_path / "no-run", "--data", "digits", "--out",
                      tmp_path / "file" / "ev"])
    assert f"{tmp_path / 'file'} is a file" in line
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    assert "x.pt" in cli_error(["evaluate", tmp_path / "x.pt", "--data", "digits"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "x.pt"]


def test_filesystem_errors_raised_anywhere_are_one_line(monkeypatch):
    import noisylab.data

    def refuse(root):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/x/y")

    monkeypatch.setattr(noisylab.data, "status", refuse)
    line = cli_error(["data", "list"])
    assert line == ("error: cannot use /srv/x/y: permission denied; check the path and its "
                    "permissions")


def test_other_os_errors_keep_their_traceback(monkeypatch):
    from click.testing import CliRunner

    import noisylab.data
    from noisylab.cli import cli

    def bug(root):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/srv/x")

    monkeypatch.setattr(noisylab.data, "status", bug)
    result = CliRunner().invoke(cli, ["data", "list"])
    assert isinstance(result.exception, FileNotFoundError)


def test_a_full_disk_names_the_folder_not_the_temporary_file(tmp_path):
    from noisylab.outputs import filesystem_error

    err = OSError(errno.ENOSPC, "No space left on device",
                  str(tmp_path / ".epoch-002.safetensors.ab12cd.tmp"))
    assert str(filesystem_error(err)) == (f"cannot write {tmp_path}: no space left on the device; "
                                          "free some space and run again; files written before "
                                          "are intact")
    assert filesystem_error(ValueError("x")) is None
    assert filesystem_error(OSError(errno.EACCES, "Permission denied")) is None  # no path


def test_a_failed_atomic_write_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".x.json.q1.tmp"))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NoisylabError) as err:
        atomic_write_json(tmp_path / "x.json", {})
    assert one_line(err).startswith(f"cannot write {tmp_path / 'x.json'}: no space left on the "
                                    "device; free some space")
