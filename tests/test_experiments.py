"""Experiments: TOML expansion, profiles and validation; the statistics; a tiny grid run end to
end on synthetic images (report numbers == the cells' files, resume, skip); `noisylab compare`."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import stats as sps

from noisylab import stats
from noisylab.cli import cli
from noisylab.errors import NoisylabError
from noisylab.experiments import expand, load_experiment, run_experiment
from noisylab.pipeline import fold_split, stratified_folds

# ------------------------------------------------------------------------ expansion, profiles


def spec(**cells):
    return {"name": "exp", "cells": {"data": "digits", **cells}}


def test_grid_is_the_product_of_list_keys_times_seeds():
    exp = expand(spec(init=["scratch", "pretrained"], loss=["ce", "scl-nl"], seeds=2,
                      epochs=3) | {"pretrain": {"data": "digits"}})
    assert len(exp.cells) == 2 * 2 * 2
    assert exp.axes == {"init": ["scratch", "pretrained"], "loss": ["ce", "scl-nl"]}
    assert [c.name for c in exp.cells[:3]] == ["scratch_ce_s0", "scratch_ce_s1", "scratch_scl-nl_s0"]
    cell = exp.cells[-1]
    assert cell.settings == {"data": "digits", "loss": "scl-nl", "init": "pretrained",
                             "epochs": 3, "seed": 1}
    assert cell.condition == "pretrained / scl-nl" and cell.seed == 1 and cell.epochs == 3
    assert exp.pretrain.settings == {"loss": "ce", "seed": 0, "data": "digits"}


def test_named_axis_of_tables_exclude_and_numeric_names():
    exp = expand(spec(init=["scratch", "pretrained"], lr=[0.001, 0.01],
                      method=[{"name": "ce", "loss": "ce", "pseudo_label": 0.0},
                              {"name": "scl", "loss": "scl-nl", "pseudo_label": 1.0}],
                      exclude=[{"init": "pretrained", "method": "ce"}])
                 | {"pretrain": {"data": "digits"}})
    names = [c.name for c in exp.cells]
    assert len(names) == 6 and "pretrained_lr0.001_ce_s0" not in names
    assert "pretrained_lr0.01_scl_s0" in names
    c = next(c for c in exp.cells if c.name == "scratch_lr0.001_scl_s0")
    assert c.settings["loss"] == "scl-nl" and c.settings["pseudo_label"] == 1.0
    assert c.labels == {"init": "scratch", "lr": "lr=0.001", "method": "scl"}


def test_profile_overrides_cells_and_sections_and_seeds_flag_wins():
    s = spec(epochs=20, seeds=3) | {
        "pretrain": {"data": "digits", "epochs": 60},
        "profiles": {"quick": {"seeds": 1, "epochs": 2, "pretrain": {"epochs": 5}},
                     "full": {}}}
    quick = expand(s, profile="quick")
    assert quick.name == "exp-quick" and [c.name for c in quick.cells] == ["s0"]
    assert quick.cells[0].settings["epochs"] == 2 and quick.pretrain.settings["epochs"] == 5
    assert expand(s).name == "exp" and len(expand(s).cells) == 3
    assert [c.seed for c in expand(s, profile="quick", seeds=4).cells] == [0, 1, 2, 3]
    assert expand(s, profile="full").cells[0].settings["epochs"] == 20


def test_cross_validation_makes_a_cell_per_fold():
    exp = expand(spec(cv_folds=3, preprocess=["keep-size", "fit"], seeds=[5]))
    assert [c.name for c in exp.cells[:3]] == ["keep-size_f1_s5", "keep-size_f2_s5", "keep-size_f3_s5"]
    assert exp.cells[1].fold == (2, 3) and exp.cells[1].settings["fold"] == 2
    assert exp.cv_folds == 3 and {c.condition for c in exp.cells} == {"keep-size", "fit"}


@pytest.mark.parametrize("bad, message", [
    ({"cells": {"data": "digits", "epoch": 3}}, "unknown key 'cells.epoch'"),
    ({"cells": {"data": "digits", "epochs": "3"}}, "'cells.epochs' must be an integer"),
    ({"cells": {"data": "digits", "loss": "nope"}}, "cells.loss 'nope' is unknown"),
    ({"cells": {"data": "digits", "arch": ["lenet", "resnet"]}}, "cells.arch 'resnet' is unknown"),
    ({"cells": {"data": "digits", "distill_arch": "resnet"}}, "cells.distill_arch 'resnet' is unknown"),
    ({"cells": {"data": "digits", "distill_votes": 0}}, "cells.distill_votes must be at least 1"),
    ({"cells": {"data": "digits", "precision": "fp16"}},
     "cells.precision must be one of auto, fp32, bf16"),
    ({"cells": {"data": "digits", "warm_start_epochs": -1}},
     "cells.warm_start_epochs must be 0 or more, got -1"),
    ({"cells": {"data": "digits", "shear": [0.3, 2.0]}},
     "cells.shear must be between 0 and 1, got 2.0"),
    ({"cells": {"data": "digits", "stroke_width": -0.5}},
     "cells.stroke_width must be between 0 and 1, got -0.5"),
    ({"cells": {"data": "digits", "method": [{"name": "pl", "pseudo_label_view": "weak"}]}},
     "cells.method[0].pseudo_label_view 'weak' is unknown; known: augmented, clean"),
    ({"cells": {"data": "digits", "addons": ["one-of-each", "toy"]}},
     "cells.addons: unknown add-on 'toy'; known: relative-box"),
    ({"cells": {"data": "digits"}, "colour": 1}, "unknown key 'colour'"),
    ({"cells": {"data": "digits", "seed": 1}}, "unknown key 'cells.seed'"),
    ({"cells": {"data": "digits", "seeds": 0}}, "'cells.seeds' must be at least 1"),
    ({"cells": {}}, "[cells] needs data"),
    ({"cells": {"data": "digits", "init": ["a", "b"], "exclude": [{"init": "c"}]}},
     "exclude[0]: init = 'c'"),
    ({"cells": {"data": "digits", "init": ["a"], "exclude": [{"init": "a"}]}}, "grid is empty"),
    ({"cells": {"data": "digits"}, "profiles": {"quick": {"epochz": 1}}},
     "unknown key 'profiles.quick.epochz'"),
    ({"cells": {"data": "digits"}, "audit": {"folds": 2, "colour": 1}}, "unknown key 'audit.colour'"),
    ({"cells": {"data": "digits"}, "report": "task9"}, "report.kind 'task9' is unknown"),
    ({"cells": {"data": "digits", "method": [{"loss": "ce"}]}}, "needs name"),
    ({"cells": {"data": "digits", "loss": "scl-nl", "val_transition": "audit"}},
     "val_transition = \"audit\" but the file has no [audit] table"),
])
def test_bad_experiments_name_the_file_and_the_key(bad, message):
    with pytest.raises(NoisylabError) as err:
        expand({"name": "x", **bad}, source="exp.toml")
    assert str(err.value).startswith("exp.toml: ") and message in str(err.value)


def test_unknown_profile_and_bad_toml_and_cli_errors_are_one_line(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('name = "e"\n[cells]\ndata = "digits"\n[profiles.quick]\nseeds = 1\n')
    with pytest.raises(NoisylabError, match="no profile 'fast'.*quick"):
        load_experiment(path, profile="fast")
    path.write_text('name = "e"\n[cells\ndata = "digits"\n')
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith(f"error: {path} is not valid TOML") and r.output.count("\n") == 1
    path.write_text('name = "e"\n[cells]\ndata = "digits"\nepochs = 1\nlrr = 0.1\n')
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 2 and "unknown key 'cells.lrr'" in r.output and str(path) in r.output
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "missing.toml")])
    assert r.exit_code == 2 and "cannot read experiment file" in r.output
    r = CliRunner().invoke(cli, ["compare", str(tmp_path)])
    assert r.exit_code == 2 and "neither a run folder" in r.output


def test_run_refuses_a_users_folder_of_the_experiments_name_and_writes_nothing(tmp_path):
    toml = tmp_path / "e.toml"
    toml.write_text('name = "e"\n[cells]\ndata = "digits"\nepochs = 1\n')
    users = tmp_path / "out" / "e"
    users.mkdir(parents=True)
    (users / "notes.txt").write_text("mine")
    with pytest.raises(NoisylabError, match="did not write"):
        run_experiment(load_experiment(toml), out=tmp_path / "out", log=lambda line: None)
    assert sorted(p.name for p in users.iterdir()) == ["notes.txt"]
    assert (users / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("line, message", [
    ("lr = -1.0", "--lr must be positive"),
    ("val_fraction = 0.7", "validation fraction"),
    ("warm_start_epochs = 9", "--warm-start-epochs"),
])
def test_dry_run_checks_every_value_as_a_run_would(tmp_path, line, message):
    toml = tmp_path / "bad.toml"
    toml.write_text(f'name = "bad"\n[cells]\ndata = "digits"\nepochs = 2\n{line}\n')
    r = CliRunner().invoke(cli, ["run", str(toml), "--dry-run", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    [out] = r.output.strip().splitlines()
    assert out.startswith("error:") and str(toml) in out and message in out
    assert not (tmp_path / "o").exists()


def test_stratified_folds_are_balanced_seeded_and_partition_the_data():
    from synthetic import blobs

    labels = np.repeat(np.arange(4), [10, 10, 9, 11])
    fold = stratified_folds(labels, 5, seed=3)
    assert np.array_equal(fold, stratified_folds(labels, 5, seed=3))
    assert not np.array_equal(fold, stratified_folds(labels, 5, seed=4))
    for c in range(4):  # each class spread evenly: counts per fold differ by at most one
        counts = np.bincount(fold[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    data = blobs(50)
    train, held = fold_split(data, (2, 5), seed=0)
    assert len(train) + len(held) == 50 and not set(train.ids) & set(held.ids)
    with pytest.raises(NoisylabError, match="folds are numbered 1..5"):
        fold_split(data, (6, 5))


# ------------------------------------------------------------------------------------ stats


def test_mean_ci_against_hand_computed_values():
    m = stats.mean_ci([1.0, 2.0, 3.0])
    # mean 2, s = 1, t_{0.975, 2} = 4.3026527 (tables)
    assert m.mean == 2.0 and m.n == 3
    assert m.half_width == pytest.approx(4.3026527 / math.sqrt(3), rel=1e-7)
    one = stats.mean_ci([0.7])
    assert one.mean == 0.7 and math.isnan(one.half_width)
    assert stats.mean_ci([]).n == 0


def test_welch_against_hand_computed_values():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0]
    w = stats.welch(a, b)
    va, vb = (5 / 3) / 4, 4.0 / 3  # s^2 / n of each group
    assert w.diff == pytest.approx(-1.5)
    assert w.t == pytest.approx(-1.5 / math.sqrt(va + vb))
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    assert w.df == pytest.approx(df) and w.df == pytest.approx(3.23466, abs=1e-4)
    assert w.p == pytest.approx(2 * sps.t.sf(1.5 / math.sqrt(va + vb), df))
    assert w.half_width == pytest.approx(sps.t.ppf(0.975, df) * math.sqrt(va + vb))
    assert stats.welch([1.0], b) is None


def test_curve_helpers_and_pooled_reliability():
    assert stats.first_reaching([0.5, 0.98, 0.991, 0.99], 0.99) == 2
    assert stats.first_reaching([0.5, float("nan")], 0.99) is None
    assert stats.area_under_curve([0.5, 1.0]) == 0.75
    conf, acc, count = stats.pooled_reliability([
        {"confidence": [0.2, None], "accuracy": [0.0, None], "count": [1, 0]},
        {"confidence": [0.4, 0.9], "accuracy": [1.0, 1.0], "count": [3, 2]}])
    assert count.tolist() == [4, 2]
    assert conf[0] == pytest.approx((0.2 + 3 * 0.4) / 4) and acc[0] == pytest.approx(0.75)
    assert conf[1] == pytest.approx(0.9)


# ------------------------------------------------------------------------- end to end


def _images(root, per_class, seed, wrong=0.0, writers=False):
    """Class-per-folder 28x28 PNGs: class c is a jittered square in quadrant c on noise;
    ``wrong`` of them are filed under another class (so accuracy is not always 100%). With
    ``writers``, named as Chars74K's photos: image ``i`` of every class is by writer ``i``."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate("wxyz"):
        for i in range(per_class):
            im = rng.integers(0, 90, (28, 28)).astype(np.uint8)
            r, q = divmod(c, 2)
            y, x = 1 + 14 * r + rng.integers(0, 4), 1 + 14 * q + rng.integers(0, 4)
            im[y:y + 9, x:x + 9] = rng.integers(120, 256)
            folder = "wxyz"[(c + 1) % 4] if rng.random() < wrong else name
            (root / folder).mkdir(parents=True, exist_ok=True)
            file = f"img{c + 1:03d}-{i + 1:03d}.png" if writers else f"{name}{i:03d}.png"
            Image.fromarray(im).save(root / folder / file)
    return root


def _rows(report: str, heading: str) -> dict[str, list[str]]:
    """``{first cell: cells}`` of the markdown table under the heading line ``heading``."""
    body = report.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in body.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")]
    return {r[0]: r for r in rows[1:]}


def _pct(x):
    return f"{round(100 * x, 2) + 0.0:.2f}%"


def _ci(values):
    m, hw = np.mean(values), sps.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    return f"{round(100 * m, 2) + 0.0:.2f} ± {round(100 * hw, 2) + 0.0:.2f}%"


class Crash(Exception):
    pass


@pytest.fixture
def one_thread(monkeypatch):
    """Train on one thread: batches of 16 tiny images gain nothing from more, and on a busy
    machine two threads spin-waiting made these tests four times slower (measured)."""
    monkeypatch.setattr("os.cpu_count", lambda: 1)


def test_tiny_grid_end_to_end_report_equals_files_resume_skip_and_compare(tmp_path, monkeypatch,
                                                                          one_thread):
    monkeypatch.setenv("NOISYLAB_RUNS", str(tmp_path / "default-runs"))
    train_dir = _images(tmp_path / "train", 40, seed=0)
    test_dir = _images(tmp_path / "test", 20, seed=1, wrong=0.15)
    toml = tmp_path / "tiny.toml"
    toml.write_text(f'''
name = "tiny"
title = "tiny"
report = {{ kind = "task2", target = 0.9 }}
[pretrain]
data = "folder:{train_dir}"
arch = "lenet"
epochs = 1
batch_size = 16
[cells]
data = "folder:{train_dir}"
test_data = "folder:{test_dir}"
test_split = "train"
arch = "lenet"
init = ["scratch", "pretrained"]
batch_size = 16
augment = false
epochs = 2
seeds = 2
[profiles.quick]
seeds = 1
''')
    out = tmp_path / "out"
    exp = load_experiment(toml)

    # Interrupt the second cell after its first epoch; the run stops there.
    def crashing(msg: str) -> None:
        if msg.startswith("epoch   1/2") and (out / "tiny" / "scratch_s1" / "plan.json").exists():
            raise Crash
    with pytest.raises(Crash):
        run_experiment(exp, out=out, log=crashing)
    folder = out / "tiny"
    assert (folder / "scratch_s0" / "cell.json").exists()
    assert not (folder / "scratch_s1" / "cell.json").exists()

    # The CLI continues: the finished cell is skipped, the interrupted one resumed.
    r = CliRunner().invoke(cli, ["run", str(toml), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "scratch_s0: done earlier" in r.output and "pretrain: done earlier" in r.output
    assert "scratch_s1: resuming after epoch 1" in r.output
    info = json.loads((folder / "scratch_s1" / "cell.json").read_text())
    assert info["resumed_after_epoch"] == 1 and info["epochs"] == 2

    # Every number in the report's tables is the one in the cells' files.
    report = (folder / "report.md").read_text()
    cells = _rows(report, "## Every cell")
    accs = {"scratch": [], "pretrained": []}
    for c in exp.cells:
        d = folder / c.name
        ev = json.loads((d / "eval.json").read_text())
        cell = json.loads((d / "cell.json").read_text())
        history = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        best = json.loads((d / "best.json").read_text())["epoch"]
        row = cells[c.name]
        assert row[3] == str(best) == str(cell["best_epoch"])
        assert row[4] == _pct(ev["acc"]) and row[5] == f"{round(ev['nll'], 4) + 0.0:.4f}"
        assert row[7] == _pct(history[-1]["test_acc"]) and row[8] == str(len(history)) == "2"
        assert row[9] == f"{sum(h['seconds'] for h in history):.1f}"
        assert row[10].split()[0] == f"{cell['wall_seconds']:.1f}"
        assert ev["n"] == 80 and "step" in history[0] and "val_acc" in history[0]
        accs[c.labels["init"]].append(ev["acc"])
    results = _rows(report, "## Results")
    assert results["scratch"][2] == _ci(accs["scratch"])
    assert results["pretrained"][2] == _ci(accs["pretrained"])
    diff = 100 * (np.mean(accs["pretrained"]) - np.mean(accs["scratch"]))
    assert f"| pretrained − scratch | {round(diff, 2) + 0.0:+.2f}" in report  # Welch's row
    for needed in ("## Device and time", "cpu", "## References", "Welch", "Ioffe",
                   "figures/curve-test_acc.png", "figures/reliability-1.png"):
        assert needed in report
    assert (folder / "figures" / "curve-val_acc.png").stat().st_size > 1000

    # A second run trains nothing; a changed setting is refused, naming the folder.
    before = {c.name: (folder / c.name / "metrics.jsonl").read_text() for c in exp.cells}
    r = CliRunner().invoke(cli, ["run", str(toml), "--out", str(out)])
    assert r.exit_code == 0 and r.output.count("skipped") == 5 and "training" not in r.output
    assert before == {c.name: (folder / c.name / "metrics.jsonl").read_text() for c in exp.cells}
    saved = {n: (folder / n).read_text() for n in ("experiment.json", "experiment.toml")}
    toml.write_text(toml.read_text().replace("epochs = 2", "epochs = 3"))
    r = CliRunner().invoke(cli, ["run", str(toml), "--out", str(out)])
    assert r.exit_code == 2 and "scratch_s0 was run with other settings (epochs: 2 -> 3)" in r.output
    # ... before the experiment's saved plan was overwritten with the refused one.
    assert saved == {n: (folder / n).read_text() for n in saved}

    # compare: one row per run of the experiment folder, numbers from the same files.
    r = CliRunner().invoke(cli, ["compare", str(folder), str(folder / "scratch_s0")])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].split()[:4] == ["run", "data", "init", "loss"] and len(lines) == 1 + 5 + 1
    for c in exp.cells:
        line = next(x for x in lines[1:] if x.split()[0].endswith(c.name))
        ev = json.loads((folder / c.name / "eval.json").read_text())
        assert _pct(ev["acc"]) in line and "2/2" in line
        assert ("pretrain " if c.labels["init"] == "pretrained" else "scratch ") in line


def test_cross_validation_end_to_end(tmp_path, one_thread):
    data = _images(tmp_path / "chars", 20, seed=2, writers=True)
    toml = tmp_path / "cv.toml"
    toml.write_text(f'''
name = "cv"
report = "task1"
[cells]
data = "folder:{data}"
arch = "lenet"
batch_size = 8
epochs = 2
augment = false
cv_folds = 2
addons = "one-of-each"
''')
    r = CliRunner().invoke(cli, ["run", str(toml), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "out" / "cv"
    accs, as_sets = [], []
    for k in (1, 2):
        ev = json.loads((folder / f"f{k}_s0" / "eval.json").read_text())
        assert ev["n"] == 40 and ev["set"] == f"held-out fold {k}/2 of folder:{data}"
        accs.append(ev["acc"])
        # The 20 writers wrote each class once, so each fold's held-out images are also read
        # as one of each per writer (the add-on the file names).
        once = ev["adjusted"]["one-of-each"]
        assert once["images"] == 40 and once["applied"]
        as_sets.append(once["acc"])
        cell = json.loads((folder / f"f{k}_s0" / "cell.json").read_text())
        assert cell["test_acc_adjusted"] == {"one-of-each": once["acc"]}
        assert f"f{k}_s0: done in" in r.output
    assert r.output.count(" (+ one-of-each: ") == 2
    report = (folder / "report.md").read_text()
    row = _rows(report, "## Cross-validated accuracy")["all"]
    assert row[3] == _ci(accs)
    assert row[4] == ", ".join(f"{100 * a:.2f}" for a in accs)
    row = _rows(report, "### With one-of-each: each writer's images read as one of each "
                        "character")["all"]
    assert row[1:] == [_ci(as_sets), ", ".join(f"{100 * a:.2f}" for a in as_sets)]
    # The per-class table pools both held-out folds: every image predicted once.
    f1 = _rows(report, "### Per-class F1")
    assert sum(int(r[-1]) for r in f1.values()) == 80
    assert re.search(r"!\[confusion\]\(figures/confusion.png\)", report)


def test_task3_report_reads_the_audit_and_the_cells(tmp_path, monkeypatch, one_thread):
    """The task-3 report on injected complementary digits: the audit section is audit.json's,
    the "Measured here" accuracies and the results table are the cells' eval.json figures, and a
    missing trusted-labels file only skips the audit's self-measurement."""
    monkeypatch.setenv("NOISYLAB_RUNS", str(tmp_path / "default-runs"))
    toml = tmp_path / "t3.toml"
    toml.write_text('''
name = "t3"
report = { kind = "task3", target = 0.5, target_on = "test_acc" }
[audit]
data = "digits+complementary"
folds = 2
epochs = 1
trusted = "no-such-labels.gz"
[cells]
data = "digits+complementary"
test_data = "digits"        # the clean labels of the same images: enough to check plumbing
test_split = "train"
arch = "tiny"
batch_size = 64
epochs = 2
method = [
  { name = "ce", loss = "ce" },
  { name = "scl-nl", loss = "scl-nl", val_transition = "audit" },
]
''')
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", str(toml), "--out", str(out), "--root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "no trusted labels at" in r.output
    folder = out / "t3"
    summary = json.loads((folder / "audit" / "audit.json").read_text())
    assert "measured_with_trusted_labels" not in summary or not summary["measured_with_trusted_labels"]
    report = (folder / "report.md").read_text()
    audit_part = report.split("## 1. What is wrong with the labels (the audit)", 1)[1]
    audit_part = audit_part.split("\n## 2.", 1)[0]
    assert f"*given* labels of {summary['n']} images ({summary['folds']} folds" in audit_part
    assert f"`{summary['diagnosis']['recommended_loss']}`" in audit_part
    assert "Measured afterwards" not in audit_part

    accs = {m: json.loads((folder / f"{m}_s0" / "eval.json").read_text())["acc"]
            for m in ("ce", "scl-nl")}
    why = report.split("## 2. Why naive cross-entropy fails", 1)[1].split("\n## ", 1)[0]
    assert f"ce: {_pct(accs['ce'])}" in why and f"scl-nl: {_pct(accs['scl-nl'])}" in why
    results = _rows(report, "## 3. Results")
    assert results["ce"][2] == _pct(accs["ce"]) and results["scl-nl"][2] == _pct(accs["scl-nl"])
    # val_transition = "audit": the audit's T chose scl-nl's epoch; ce kept its own criterion.
    config = json.loads((folder / "scl-nl_s0" / "cell.json").read_text())["config"]
    assert config["val_transition"] == str(folder / "audit" / "transition.json")
    scl_metrics = (folder / "scl-nl_s0" / "metrics.jsonl").read_text()
    assert '"val_forward-nll"' in scl_metrics and '"val_complementary-nll"' in scl_metrics
    assert '"val_forward-nll"' not in (folder / "ce_s0" / "metrics.jsonl").read_text()


def test_task3_why_section_quotes_the_audits_measured_label_accuracy():
    """The explanation's figure for how good a model's best allowed class is comes from the
    audit's own measurement; without one the sentence carries no number at all."""
    from noisylab.report.task3 import why_section

    audit = {"epochs_per_fold": 8, "measured_with_trusted_labels": {"suggested_accuracy": 0.97316}}
    text = "\n".join(why_section({}, audit))
    assert "97.32% right" in text and "8 epochs a fold" in text
    for no_measure in (None, {"epochs_per_fold": 8, "measured_with_trusted_labels": []}):
        text = "\n".join(why_section({}, no_measure))
        assert "complementary one: the distillation phase" in text
        assert not re.search(r"\d+\.\d+% right", text)


def test_references_name_the_student_architecture_too(tmp_path):
    from types import SimpleNamespace

    from noisylab.report.common import CellRun, reference_keys

    def run(**config):
        return CellRun(cell=None, folder=tmp_path, info={"config": config}, metrics=[], eval=None,
                       eval_test=None)
    exp = SimpleNamespace(audit=None, cv_folds=None)
    teacher_only = reference_keys(exp, {"a": [run(arch="cnn-s", distill_epochs=0)]}, tmp_path)
    assert "lenet" not in teacher_only and "vgg" in teacher_only
    distilled = reference_keys(exp, {"a": [run(arch="cnn-s", distill_epochs=3,
                                               distill_arch="lenet")]}, tmp_path)
    assert "lenet" in distilled and "born-again" in distilled


def test_read_cv_plan_refuses_what_is_not_a_cross_validation_in_one_line(tmp_path):
    from noisylab.experiments import read_cv_plan

    with pytest.raises(NoisylabError, match="no experiment.json"):
        read_cv_plan(tmp_path)
    (tmp_path / "experiment.json").write_text(
        '{"axes": {"lr": [0.1, 0.2]}, "cv_folds": 5, "cells": []}')
    with pytest.raises(NoisylabError, match="no grid axes"):
        read_cv_plan(tmp_path)
    (tmp_path / "experiment.json").write_text(
        '{"axes": {}, "cv_folds": 5, "seeds": [0], '
        '"cells": [{"name": "f1_s0", "settings": {"fold": 1, "seed": 0, "cv_seed": 3}}]}')
    plan = read_cv_plan(tmp_path)
    assert (plan["cv_folds"], plan["cv_seed"], plan["seeds"]) == (5, 3, [0])
