"""`noisylab.addons.writers.one_of_each`: a writer's test images read as one of each character
(the ``one-of-each`` add-on)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from noisylab.addons import saved_adjusters
from noisylab.addons.writers.one_of_each import FILE, MAX_CLASHES, OneOfEach, OneOfEachAddon
from noisylab.errors import NoisylabError

CLASSES = ["a", "b", "c", "d", "e", "f"]
MODULE = "noisylab.addons.writers.one_of_each"


def name(label: int, writer: int) -> str:
    return f"img{label + 1:03d}-{writer:03d}.png"


@pytest.fixture
def record():
    # Writer 1 wrote a and b in training, writer 2 wrote c; writer 3 is not in training.
    ids = [name(0, 1), name(1, 1), name(2, 2), "scan_0001.png"]
    return OneOfEach.fit(ids, np.array([0, 1, 2, 3]), CLASSES)


def test_fit_records_each_writers_training_classes(record):
    assert record.seen == {"001": [0, 1], "002": [2]}  # the unnamed image is left out


def test_fit_refuses_a_writer_with_a_class_twice():
    with pytest.raises(NoisylabError, match=r"writer 001 has two training images of class b "
                                            r"\(img002-001.png is the second\)"):
        OneOfEach.fit([name(1, 1), "img002-001.png"], np.array([1, 1]), CLASSES)
    with pytest.raises(NoisylabError, match="no training file name names its writer"):
        OneOfEach.fit(["scan_1.png"], np.array([0]), CLASSES)


def test_a_writers_training_classes_are_excluded(record):
    probs = np.array([[0.6, 0.1, 0.3, 0, 0, 0],    # writer 1 has a already: c
                      [0.6, 0.1, 0.3, 0, 0, 0],    # writer 2 has c, not a: a stays
                      [0.5, 0.0, 0.0, 0.5, 0, 0],  # no writer named: its own answer
                      *np.eye(6)[3:]])             # writer 3, not in training: d, e, f
    ids = [name(5, 1), name(5, 2), "scan_9.png"] + [name(9, 3)] * 3
    kept, predictions, info = record.apply(probs, ids)
    assert predictions.tolist() == [2, 0, 0, 3, 4, 5]
    assert info["applied"] and info["changed"] == 1 and info["clashes"] == 1 / 5
    assert info["images"] == 5 and info["writers"] == 3
    np.testing.assert_allclose(kept.sum(1), 1)
    assert kept[0, :2].max() == 0 and kept[0, 2] == pytest.approx(1)
    assert kept[1, 2] == 0 and kept[1, 0] == pytest.approx(0.6 / 0.7)
    np.testing.assert_allclose(kept[2], probs[2], atol=1e-9)


def test_one_writers_images_get_distinct_classes_of_the_largest_joint_probability(monkeypatch):
    monkeypatch.setattr(MODULE + ".MAX_CLASHES", 1.0)  # random answers clash often
    rng = np.random.default_rng(0)
    record = OneOfEach.fit([name(0, 7)], np.array([0]), CLASSES)  # writer 7 wrote a
    for _ in range(20):
        probs = rng.dirichlet(np.full(6, 0.3), size=4)
        _, predictions, info = record.apply(probs, [name(9, 7)] * 4)
        assert info["applied"] and len(set(predictions.tolist())) == 4 and 0 not in predictions
        best = max(itertools.permutations(range(1, 6), 4),
                   key=lambda p: sum(np.log(probs[i, c] + 1e-12) for i, c in enumerate(p)))
        assert tuple(predictions.tolist()) == best


def test_a_clear_second_choice_beats_a_weak_first_choice():
    record = OneOfEach.fit([name(5, 1)], np.array([5]), CLASSES)
    probs = np.array([[0.90, 0.09, 0.01, 0, 0, 0],
                      [0.55, 0.05, 0.40, 0, 0, 0],  # both say a: the surer one keeps it
                      *np.eye(6)[3:5]])
    _, predictions, info = record.apply(probs, [name(9, 1)] * 4)
    assert predictions.tolist() == [0, 2, 3, 4] and info["clashes"] == 1 / 4


def test_test_images_that_clash_leave_the_models_answers(record):
    # Writer 1's test images all look like a and b, which writer 1 already wrote: other people.
    probs = np.tile([0.5, 0.4, 0.1, 0, 0, 0], (4, 1))
    _, predictions, info = record.apply(probs, [name(9, 1)] * 2 + [name(9, 3)] * 2)
    assert not info["applied"] and info["clashes"] == 0.75 > MAX_CLASHES
    assert "75% of the named test images' answers clash" in info["why"]
    assert predictions.tolist() == [0, 0, 0, 0] and info["changed"] == 0


def test_more_test_images_than_classes_left_leave_the_models_answers(record):
    probs = np.eye(6)[[2, 3, 4, 5, 2]]  # writer 1 has 4 classes left, and 5 test images
    _, predictions, info = record.apply(probs, [name(9, 1)] * 5)
    assert not info["applied"] and predictions.tolist() == [2, 3, 4, 5, 2]
    assert "writer 001 has 5 test images but only 4 classes" in info["why"]


def test_no_named_writer_changes_nothing(record):
    probs = np.eye(6)[[0, 0]]
    _, predictions, info = record.apply(probs, ["a.png", "b.png"])
    assert not info["applied"] and predictions.tolist() == [0, 0]
    assert info["why"] == "no test file name names its writer"


def test_probabilities_of_other_classes_are_one_error(record):
    with pytest.raises(NoisylabError, match=r"shape \(2, 4\) for a one-of-each record of 6"):
        record.apply(np.full((2, 4), 0.25), [name(0, 1), name(1, 1)])


def test_a_saved_record_is_the_same_and_a_damaged_one_is_one_error(record, tmp_path):
    path = OneOfEachAddon(record).save(tmp_path)
    assert path == tmp_path / FILE and OneOfEach.load(path) == record
    (found, where), = saved_adjusters([tmp_path / "best"])
    assert where == path and found.record == record
    assert saved_adjusters([tmp_path / "other" / "best"]) == []
    for damaged in ('{"classes": ["a"]', '{"classes": ["a"], "seen": {"001": [3]}}', "[]"):
        path.write_text(damaged)
        with pytest.raises(NoisylabError, match=f"{FILE}.*--no-addon one-of-each"):
            OneOfEach.load(path)
        with pytest.raises(NoisylabError, match=f"{FILE}.*--no-addon one-of-each"):
            saved_adjusters([tmp_path])


def test_the_changed_figure_colours_what_got_right_and_what_got_wrong(tmp_path, monkeypatch):
    from noisylab import evaluate as ev

    drawn = {}
    monkeypatch.setattr(ev.plots, "captioned_grid",
                        lambda images, captions, colors, path, title: drawn.update(
                            n=len(images), captions=captions, colors=colors, title=title) or path)
    before, after = np.array([0, 1, 2, 3, 4]), np.array([1, 1, 3, 0, 5])
    labels = np.array([1, 1, 2, 5, 4])  # fixed, kept, broken, wrong twice, broken
    ev.changed_figure(np.zeros((5, 28, 28), np.uint8), before, after, labels, CLASSES,
                      tmp_path / "x.png", what="read as one of each per writer")
    assert drawn["n"] == 4 and drawn["captions"] == ["a→b", "c→d", "d→a", "e→f"]
    assert drawn["colors"] == ["green", "red", "grey", "red"]
    assert drawn["title"].startswith("read as one of each per writer: 4 predictions changed, "
                                     "1 now right (green), 2 now wrong (red)")


def run(*args):
    from noisylab.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_saves_it_and_evaluate_reads_each_writer_as_one_of_each(make_chars62, real_cache,
                                                                       tmp_path, monkeypatch):
    root = make_chars62(per_class=2)                                  # writers 001, 002
    make_chars62(split="test", per_class=2, root=root, first_writer=5)  # writers 005, 006
    out = tmp_path / "run"
    r = run("train", "--data", "trainPart1", "--root", root, "--arch", "lenet", "--epochs", "1",
            "--batch-size", "16", "--no-addon", "case-by-size", "--out", out)
    assert r.exit_code == 0, r.output
    assert f"add-on one-of-each ({OneOfEachAddon.title}) fitted -> {out / FILE}" in r.output
    assert "  + one-of-each (" in r.output and ": not applied: " in r.output  # see below
    assert OneOfEach.load(out / FILE).seen == {"001": list(range(62)), "002": list(range(62))}

    args = ("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", root)
    # The synthetic classes are mostly the same ring, so the model answers a few classes for
    # everything: that clashes with one of each, which is then left off.
    r = run(*args)
    assert r.exit_code == 0 and f"  + one-of-each ({OneOfEachAddon.title}, {out / FILE}): " \
        "not applied: " in r.output
    assert "answers clash with one of each" in r.output
    monkeypatch.setattr(MODULE + ".MAX_CLASHES", 1.0)
    figures = json.loads(run(*args, "--json").output)
    once = figures["adjusted"]["one-of-each"]
    assert once["applied"] and once["images"] == 124 and once["writers"] == 2
    # A one-epoch model answers some classes many times; read as one of each, the two writers'
    # 62 images are the 62 classes each, so every class is answered twice.
    from noisylab.data import load
    from noisylab.evaluate import evaluate, model_probs

    test = load("trainPart1", root=root, split="test", progress=False)
    alone = np.array(evaluate(out, test)["confusion"]).sum(0)  # each image alone
    _, info = OneOfEachAddon.load(out / FILE).adjust(model_probs(out, test), test)
    assert alone.max() > 2 and (np.bincount(info["predictions"], minlength=62) == 2).all()
    assert once["acc"] == pytest.approx((info["predictions"] == test.labels.numpy()).mean())
    r = run(*args, "--out", tmp_path / "eval")
    assert r.exit_code == 0 and f"{once['changed']} predictions changed; 124 images of 2 " \
        "writers" in r.output
    # The images it changed are drawn, captioned before→after.
    assert once["changed"] > 0 and (tmp_path / "eval" / "one_of_each.png").stat().st_size > 0
    assert f"{tmp_path / 'eval' / 'one_of_each.png'}" in r.output
    off = json.loads(run(*args, "--no-addon", "one-of-each", "--json").output)
    assert off["adjusted"] == {} and off["acc"] == figures["acc"]

    # Test photos by the training writers again: every class taken, so it is left off.
    again = tmp_path / "again"
    make_chars62(split="test", per_class=1, root=again)
    r = run("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", again)
    assert r.exit_code == 0, r.output
    assert "not applied: writer 001 has 62" in r.output

    # A record of other classes (another run's) is one line too.
    OneOfEach(CLASSES, {}).save(out / FILE)
    r = run(*args)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "the one-of-each record names 6 classes" in r.output
    assert "--no-addon one-of-each" in r.output

    # A damaged file is one line naming it and the way out; the run is left as it was.
    (out / FILE).write_text("[")
    r = run(*args)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(out / FILE) in r.output and "--no-addon one-of-each" in r.output
    assert (out / "best.safetensors").exists()
    assert run(*args, "--no-addon", "one-of-each").exit_code == 0


def test_importing_it_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = (f"import sys, {MODULE}; "
            f"assert 'torch' not in sys.modules, '{MODULE} imported torch'")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
