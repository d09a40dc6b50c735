"""`noisylab train` / `evaluate` end to end on a synthetic class-per-folder dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from noisylab.cli import cli
from noisylab.errors import NoisylabError


@pytest.fixture
def folder_data(tmp_path):
    """A class-per-folder tree of 28x28 PNGs: class c is a bright square in quadrant c."""
    rng = np.random.default_rng(0)
    root = tmp_path / "shapes"
    for c, name in enumerate("wxyz"):
        (root / name).mkdir(parents=True)
        for i in range(60):
            im = rng.integers(0, 40, (28, 28)).astype(np.uint8)
            r, q = divmod(c, 2)
            im[2 + 14 * r:12 + 14 * r, 2 + 14 * q:12 + 14 * q] = 255
            Image.fromarray(im).save(root / name / f"{i:03d}.png")
    return f"folder:{root}"


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def test_train_then_evaluate_then_resume(tmp_path, folder_data):
    out = tmp_path / "run"
    r = run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs", "3",
            "--batch-size", "32", "--no-augment", "--out", out)
    assert r.exit_code == 0, r.output
    assert "best epoch" in r.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    config = json.loads((out / "last.json").read_text())["config"]
    assert config["loss"] == "ce" and config["data"] == folder_data

    r = run("evaluate", out, "--data", folder_data, "--out", tmp_path / "ev")
    assert r.exit_code == 0, r.output
    acc = float(r.output.split("accuracy ")[1].split("%")[0])
    assert acc > 90
    assert (tmp_path / "ev" / "confusion.png").exists()

    # Two runs as an ensemble: their figures go beside the first, in a folder of their own.
    other = tmp_path / "run2"
    assert run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs",
               "1", "--batch-size", "32", "--seed", "1", "--out", other).exit_code == 0
    r = run("evaluate", out, other, "--data", folder_data, "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["checkpoints"]) == 2
    [folder] = [p for p in out.iterdir() if p.name.startswith("eval-")]
    assert folder.name.endswith("_shapes-train-ensemble2"), folder.name
    assert (folder / "confusion.png").exists()

    # Resuming a finished run adds nothing and keeps what is there.
    r = run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs", "3",
            "--batch-size", "32", "--no-augment", "--out", out, "--resume")
    assert r.exit_code == 0, r.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3

    # Training into an existing run without --resume is refused, and the run is intact.
    r = run("train", "--data", folder_data, "--loss", "ce", "--epochs", "1", "--out", out)
    assert r.exit_code == 2 and "--resume" in r.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_pretrained_init_uses_the_part1_run(tmp_path, folder_data, monkeypatch):
    monkeypatch.setenv("NOISYLAB_RUNS", str(tmp_path / "runs"))
    r = run("train", "--data", folder_data, "--loss", "ce", "--init", "pretrained",
            "--epochs", "1", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "trainPart1-digits" in r.output and "Traceback" not in r.output
    # Make a "Part-1" run, then start from it.
    r = run("train", "--data", folder_data, "--loss", "ce", "--arch", "cnn-s", "--epochs", "1",
            "--batch-size", "32", "--out", tmp_path / "runs" / "trainPart1-digits")
    assert r.exit_code == 0, r.output
    r = run("train", "--data", folder_data, "--loss", "ce", "--init", "pretrained",
            "--epochs", "1", "--batch-size", "32", "--out", tmp_path / "ft")
    assert r.exit_code == 0, r.output
    assert "initial weights from" in r.output and "trainPart1-digits" in r.output
    assert json.loads((tmp_path / "ft" / "last.json").read_text())["architecture"] == "cnn-s"

    # A second Part-1 run of another architecture: a run asking for that one gets it.
    r = run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs", "1",
            "--batch-size", "32", "--out", tmp_path / "runs" / "trainPart1-digits-lenet")
    assert r.exit_code == 0, r.output
    r = run("train", "--data", folder_data, "--loss", "ce", "--init", "pretrained", "--arch",
            "lenet", "--epochs", "1", "--batch-size", "32", "--out", tmp_path / "ft2")
    assert r.exit_code == 0, r.output
    assert "trainPart1-digits-lenet" in r.output
    assert json.loads((tmp_path / "ft2" / "last.json").read_text())["architecture"] == "lenet"


@pytest.mark.parametrize("args, message", [
    (["--loss", "nope"], "unknown loss"),
    (["--arch", "resnet999"], "unknown architecture"),
    (["--init", "/no/such/checkpoint"], "no/such/checkpoint"),
])
def test_bad_train_options_are_one_line(tmp_path, folder_data, args, message):
    r = run("train", "--data", folder_data, "--epochs", "1", "--out", tmp_path / "o", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output.lower() or message in r.output
    assert "Traceback" not in r.output and r.output.strip().count("\n") == 0


def test_evaluate_refuses_a_tampered_checkpoint(tmp_path, folder_data):
    out = tmp_path / "run"
    assert run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs", "1",
               "--batch-size", "32", "--out", out).exit_code == 0
    weights = out / "best.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-5] ^= 0xFF
    weights.write_bytes(bytes(blob))
    r = run("evaluate", out / "best", "--data", folder_data)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "tampered" in r.output or "truncated" in r.output
    # The other checkpoints are untouched and still load.
    assert run("evaluate", out / "last", "--data", folder_data).exit_code == 0


def test_test_time_augmentation_averages_seeded_views(tmp_path, folder_data):
    import torch

    from noisylab.evaluate import evaluate, predict_probs
    from noisylab.models import load_model
    from noisylab.pipeline import evaluation_set
    from noisylab.train import predict_logits

    out = tmp_path / "run"
    assert run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs", "1",
               "--batch-size", "32", "--out", out).exit_code == 0
    model, _ = load_model(out / "best")
    images = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    plain = predict_logits(model, images).softmax(1)
    assert torch.allclose(predict_probs(model, images), plain)
    four = predict_probs(model, images, views=4)
    assert torch.allclose(four.sum(1), torch.ones(20))
    assert not torch.allclose(four, plain)  # the warped views count
    assert torch.equal(four, predict_probs(model, images, views=4))  # and are seeded
    with pytest.raises(NoisylabError, match="at least 1 view"):
        predict_probs(model, images, views=0)

    r = run("evaluate", out, "--data", folder_data, "--split", "train", "--tta", "4", "--json")
    assert r.exit_code == 0, r.output
    figures = json.loads(r.output)
    assert figures["views"] == 4
    train_split, _ = evaluation_set(folder_data, test_data=(folder_data, "train"), progress=False)
    assert figures["nll"] != pytest.approx(evaluate(out, train_split)["nll"])
    r = run("evaluate", out, "--data", folder_data, "--tta", "0")
    assert r.exit_code == 2 and "--tta" in r.output and "Traceback" not in r.output


def _uniform_complementary_t(k: int, keep: float) -> list:
    t = np.full((k, k), (1 - keep) / (k - 1))
    np.fill_diagonal(t, keep)
    return t.tolist()


def test_val_transition_option_and_loss_auto_choose_the_epoch_by_the_audits_matrix(
        tmp_path, folder_data):
    from noisylab.pipeline import train_on

    t = _uniform_complementary_t(4, 0.01)
    (tmp_path / "transition.json").write_text(json.dumps({"matrix": t}))
    r = run("train", "--data", folder_data, "--loss", "scl-nl", "--arch", "lenet", "--epochs",
            "2", "--batch-size", "32", "--val-transition", tmp_path / "transition.json",
            "--out", tmp_path / "flag")
    assert r.exit_code == 0, r.output
    assert "val_forward-nll" in r.output
    first = json.loads((tmp_path / "flag" / "metrics.jsonl").read_text().splitlines()[0])
    assert "val_forward-nll" in first and "val_complementary-nll" in first

    # --loss auto: the saved audit's recommendation trains, and its matrix chooses the epoch.
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "audit.json").write_text(json.dumps({
        "diagnosis": {"recommended_loss": "scl-nl", "kind": "complementary", "summary": ""},
        "transition": {"matrix": t}}))
    result = train_on(folder_data, loss="auto", audit_folder=audit, out=tmp_path / "auto",
                      arch="lenet", epochs=2, batch_size=32, progress=False, log=lambda m: None)
    config = json.loads((tmp_path / "auto" / "last.json").read_text())["config"]
    assert config["loss"] == "scl-nl" and config["val_transition"] == t
    assert config["transition"] is None
    assert "val_forward-nll" in result.history[0]


@pytest.fixture
def audit_forbidden(monkeypatch):
    """Make any audit from `train_on` fail the test: what it checks must come first."""
    import noisylab.pipeline as pipeline

    def no_audit(*args, **kwargs):
        raise AssertionError("the audit ran")

    monkeypatch.setattr(pipeline, "recommended_loss", no_audit)


def test_loss_auto_checks_the_options_before_it_audits(tmp_path, folder_data, audit_forbidden):
    r = run("train", "--data", folder_data, "--epochs", "2", "--distill-epochs", "1",
            "--distill-votes", "3", "--out", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert "--distill-votes must be between 1 and --epochs (2), got 3" in r.output
    assert "lower --distill-votes or pass --distill-epochs 0" in r.output
    assert not (tmp_path / "o").exists()
    r = run("train", "--data", folder_data, "--epochs", "2", "--warm-start-epochs", "3",
            "--out", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert "--warm-start-epochs must be between 0 and --epochs (2), got 3" in r.output


def test_resume_of_an_empty_folder_fails_before_the_audit(tmp_path, folder_data, audit_forbidden):
    r = run("train", "--data", folder_data, "--epochs", "1", "--resume", "--out", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert "nothing to resume in" in r.output and "Traceback" not in r.output


def test_a_recipe_with_clean_labels_trains_its_own_loss_without_an_audit(
        tmp_path, folder_data, monkeypatch, audit_forbidden):
    import noisylab.pipeline as pipeline
    import noisylab.spec as spec
    from noisylab.recipes import Recipe

    for module in (pipeline, spec):
        monkeypatch.setattr(module, "recipe_for", lambda data: Recipe(loss="ce"))
    r = run("train", "--data", folder_data, "--arch", "lenet", "--epochs", "1", "--out",
            tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "last.json").read_text())["config"]["loss"] == "ce"
    # --loss auto still asks the audit.
    r = run("train", "--data", folder_data, "--loss", "auto", "--epochs", "1", "--out",
            tmp_path / "o2")
    assert r.exit_code == 1 and isinstance(r.exception, AssertionError)


def test_a_distillation_ensemble_is_the_runs_model(tmp_path, folder_data):
    from noisylab.compare import summarize
    from noisylab.evaluate import evaluate
    from noisylab.pipeline import evaluation_set, train_on

    common = dict(loss="ce", test_data=(folder_data, "train"), arch="lenet", epochs=2,
                  batch_size=32, distill_epochs=2, progress=False, log=lambda m: None)
    result = train_on(folder_data, out=tmp_path / "d", distill_ensemble=True, **common)
    assert result.best_epoch > 2  # a student epoch was kept
    assert result.model == ["epoch-002", "best"]
    record = json.loads((tmp_path / "d" / "model.json").read_text())
    assert record["members"] == result.model and record["test"] == result.model_test
    test, _ = evaluation_set(folder_data, test_data=(folder_data, "train"), progress=False)
    pair = evaluate([tmp_path / "d" / "epoch-002", tmp_path / "d" / "best"], test)
    assert result.model_test["nll"] == pytest.approx(pair["nll"])
    # The run folder means the pair; its `best` means the student alone.
    assert evaluate(tmp_path / "d", test)["nll"] == pytest.approx(pair["nll"])
    student = evaluate(tmp_path / "d" / "best", test)
    assert len(student["checkpoints"]) == 1 and student["nll"] != pytest.approx(pair["nll"])
    r = run("evaluate", tmp_path / "d", "--data", folder_data, "--split", "train")
    assert r.exit_code == 0, r.output
    assert "ensemble of 2" in r.output and "epoch-002.json" in r.output

    # `noisylab compare` shows the run's model, not the student alone.
    assert summarize(tmp_path / "d")["nll"] == pytest.approx(pair["nll"])

    plain = train_on(folder_data, out=tmp_path / "p", **common)
    assert plain.model is None and plain.model_test is None
    assert summarize(tmp_path / "p")["nll"] == plain.best["test_nll"]
    assert not (tmp_path / "p" / "model.json").exists()
    assert len(evaluate(tmp_path / "p", test)["checkpoints"]) == 1


def test_the_train_command_names_the_runs_model(tmp_path, folder_data):
    r = run("train", "--data", folder_data, "--loss", "ce", "--arch", "lenet", "--epochs", "2",
            "--batch-size", "32", "--distill-epochs", "2", "--distill-ensemble",
            "--out", tmp_path / "d")
    assert r.exit_code == 0, r.output
    assert "the run's model: epoch-002 and best together" in r.output


def test_an_unreadable_model_file_is_one_clear_error(tmp_path):
    from noisylab.runs import run_model

    (tmp_path / "model.json").write_text('{"members": []}')
    with pytest.raises(NoisylabError, match="model.json is unreadable .* e.g. .*best"):
        run_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(NoisylabError, match="model.json is unreadable"):
        run_model(tmp_path)
    (tmp_path / "model.json").write_text('{"members": ["epoch-001", "best"]}')
    assert run_model(tmp_path) == [tmp_path / "epoch-001", tmp_path / "best"]
    assert run_model(tmp_path / "best") == [tmp_path / "best"]


def test_pseudo_label_view_choices_are_the_losses_own():
    # The CLI spells them out so that --help does not import torch; they must not drift apart.
    from noisylab.losses import PSEUDO_LABEL_VIEWS

    option = next(p for p in cli.commands["train"].params if p.name == "pseudo_label_view")
    assert tuple(option.type.choices) == PSEUDO_LABEL_VIEWS
