"""`noisylab.spec`: a run's settings resolved once, saved in its folder and compared on resume."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from noisylab.cli import cli
from noisylab.errors import NoisylabError
from noisylab.spec import SPEC_FILE, RunSpec, check_same_run, resolve_spec

QUIET = {"log": lambda line: None, "progress": False}


def test_a_spec_round_trips_through_json():
    spec = resolve_spec("digits", loss="ce", epochs=2, seed=3, fold=(1, 5), **QUIET)
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.fold == (1, 5) and again.config.seed == 3 and again.config.loss == "ce"


def test_differences_name_every_setting_that_changes_the_result():
    a = resolve_spec("digits", loss="ce", epochs=2, **QUIET)
    b = resolve_spec("digits", loss="gce", epochs=3, seed=1, batch_size=32, lr=0.01, **QUIET)
    names = {d.split()[0] for d in a.differences(b)}
    assert names == {"loss", "epochs", "seed", "batch_size", "lr"}
    # Where the run is computed is not what it computes.
    assert not a.differences(resolve_spec("digits", loss="ce", epochs=2, device="cpu", **QUIET))


def test_loss_auto_takes_the_audit_it_is_given_and_reads_no_file(tmp_path, monkeypatch):
    matrix = np.full((10, 10), 0.02) + np.eye(10) * 0.8
    found = SimpleNamespace(out_dir=tmp_path / "nowhere", diagnosis=SimpleNamespace(
        kind="symmetric", recommended_loss="gce", summary="", transition_matrix=matrix))
    monkeypatch.chdir(tmp_path)  # no runs/audit-digits here, and none may be written
    spec = resolve_spec("digits", audit=found, epochs=1, **QUIET)
    assert spec.config.loss == "gce" and spec.config.val_transition == matrix.tolist()
    assert spec.audit == {"kind": "symmetric", "recommended_loss": "gce",
                          "audit": str(tmp_path / "nowhere")}
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("loss", ["forward", "fwd"])
def test_loss_auto_gives_a_forward_loss_the_audits_matrix_to_train_with(tmp_path, loss):
    # fwd without a matrix would train with an even one: biased complementary labels need theirs
    matrix = np.full((10, 10), 1 / 9) * (1 - np.eye(10))
    found = SimpleNamespace(out_dir=tmp_path, diagnosis=SimpleNamespace(
        kind="biased-complementary", recommended_loss=loss, summary="",
        transition_matrix=matrix))
    spec = resolve_spec("digits", audit=found, epochs=1, **QUIET)
    assert spec.config.loss == loss and spec.config.transition == matrix.tolist()
    assert spec.config.val_transition is None


@pytest.mark.parametrize("options, message", [
    ({"lr": -1.0}, "--lr must be positive"),
    ({"seed": -1}, "--seed"),
    ({"arch": "nope"}, "nope"),
    ({"colour": 1}, "unknown training option"),
])
def test_bad_values_are_refused_when_the_spec_is_resolved(options, message):
    with pytest.raises(NoisylabError, match=message):
        resolve_spec("digits", loss="ce", **options, **QUIET)


def _saved_run(folder, spec):
    """A run folder as a killed run leaves it: its spec and a ``last`` checkpoint's metadata."""
    folder.mkdir()
    (folder / ".noisylab").write_text(json.dumps({"kind": "run"}))
    (folder / SPEC_FILE).write_text(json.dumps(spec.to_dict()))
    (folder / "last.json").write_text(json.dumps({"config": spec.to_dict()["config"]}))


def test_resume_with_other_settings_is_one_line_naming_them(tmp_path):
    spec = resolve_spec("digits", loss="ce", epochs=2, **QUIET)
    _saved_run(tmp_path / "run", spec)
    check_same_run(tmp_path / "run", spec)  # its own settings continue
    r = CliRunner().invoke(cli, ["train", "--data", "digits", "--loss", "ce", "--epochs", "2",
                                 "--seed", "1", "--lr", "0.01", "--out", str(tmp_path / "run"),
                                 "--resume"])
    assert r.exit_code == 2, r.output
    [line] = r.output.strip().splitlines()[-1:]
    assert line.startswith("error:") and "seed 0 -> 1" in line and "lr 0.003 -> 0.01" in line


def test_train_never_writes_into_a_users_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "best.json").write_text("my notes")
    r = CliRunner().invoke(cli, ["train", "--data", "digits", "--loss", "ce", "--epochs", "1",
                                 "--out", str(folder)])
    assert r.exit_code == 2 and "did not write" in r.output, r.output
    assert (folder / "best.json").read_text() == "my notes"
    assert sorted(p.name for p in folder.iterdir()) == ["best.json"]


def test_a_run_stopped_before_its_first_checkpoint_is_started_again(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".noisylab").write_text(json.dumps({"kind": "run"}))
    (folder / "metrics.jsonl").write_text("")
    args = ["train", "--data", "digits", "--loss", "ce", "--epochs", "1", "--batch-size", "32",
            "--out", str(folder)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 1
    saved = RunSpec.from_dict(json.loads((folder / SPEC_FILE).read_text()))
    assert saved.config.epochs == 1 and saved.config.batch_size == 32
    # Now that it has a checkpoint, a plain re-run is refused and --resume is the way on.
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "--resume" in r.output, r.output
