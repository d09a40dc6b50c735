"""`noisylab.addons.writers.writer_size`: capital or small by the size relative to the writer's
hand, and the ``case-by-size`` add-on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from noisylab.addons import saved_adjusters
from noisylab.addons.writers.writer_size import (
    FILE,
    MIN_REFERENCE,
    CaseBySize,
    WriterSize,
    box_features,
    case_pairs,
    lookalike_groups,
    writers_of,
)
from noisylab.errors import NoisylabError

CLASSES = ("0", "1", "C", "O", "c", "o")  # two letters with both cases, two digits


def hands(n_writers: int, per_class: int, seed: int = 0, first_writer: int = 1):
    """Synthetic ink boxes of writers who write at very different sizes.

    Writer ``w``'s hand has a scale in 0.4..1.1, the same in every call; capitals and digits are 0.5 of the page high times
    it, small letters 0.32 times it (plus 5% noise). On the page the sizes of ``c`` and ``C``
    overlap; relative to the writer they do not.

    Returns ``(boxes (N, 4), ids (N,), labels (N,))``.
    """
    rng = np.random.default_rng(seed)
    boxes, ids, labels = [], [], []
    for w in range(first_writer, first_writer + n_writers):
        scale = np.random.default_rng(1000 + w).uniform(0.4, 1.1)  # a writer's hand is theirs
        for k, c in enumerate(CLASSES):
            for m in range(per_class):
                h = (0.32 if c.islower() else 0.5) * scale * rng.lognormal(0, 0.05)
                top = rng.uniform(0.05, 0.9 - h)
                left = rng.uniform(0.05, 0.5)
                boxes.append((top, top + h, left, left + 0.8 * h))
                ids.append(f"img{10 * k + m:03d}-{w:03d}.png")  # only the writer is read
                labels.append(k)
    return np.array(boxes), ids, np.array(labels)


@pytest.fixture
def fitted():
    boxes, ids, labels = hands(30, 2, seed=0)
    return WriterSize.fit(boxes, ids, labels, CLASSES)


def test_writers_are_read_from_chars74k_names_only():
    assert writers_of(["img011-042.png", "train/Sample001/img001-007.png", "image_000123.jpg",
                       "img011-042.jpg.png"]) == ["042", "007", None, None]


def test_case_pairs_of_the_62_classes_are_the_26_letters():
    from noisylab.data.trainpart1 import CLASSES as C62
    from noisylab.data.trainpart1 import DIGITS

    pairs = case_pairs(C62)
    assert len(pairs) == 26
    assert (C62.index("C"), C62.index("c")) in pairs
    assert case_pairs(DIGITS) == []


def test_lookalike_groups_join_the_case_pairs_through_digits():
    from noisylab.data.trainpart1 import CLASSES as C62

    named = ["".join(C62[k] for k in g) for g in lookalike_groups(C62)]
    assert len(named) == 24  # 26 letters' pairs; I-l and G-q each join two of them
    for g in ("0Oo", "1ILil", "2Zz", "5Ss", "8Bb", "9GQgq", "Cc", "Xx"):
        assert g in named
    assert lookalike_groups(CLASSES) == [[0, 3, 5], [2, 4]]  # 1 has no look-alike here


def test_box_features_are_log_size_and_position():
    f = box_features(np.array([[0.1, 0.6, 0.2, 0.45]]))
    np.testing.assert_allclose(f, [[np.log(0.5), np.log(0.25), 0.1, 0.6, 0.2, 0.45]])


def test_the_writers_size_tells_the_case_that_the_page_size_does_not(fitted):
    boxes, ids, labels = hands(30, 1, seed=0)  # the same writers, fresh characters
    loglik, has = fitted.log_likelihoods(boxes, ids)
    assert has.all()
    for big, small in [("C", "c"), ("O", "o")]:
        big, small = CLASSES.index(big), CLASSES.index(small)
        rows = np.isin(labels, [big, small])
        right = (loglik[rows, big] > loglik[rows, small]) == (labels[rows] == big)
        assert right.mean() > 0.95
    # On the page alone, height overlaps across writers: no threshold gets c/C 95% right.
    c, big = CLASSES.index("c"), CLASSES.index("C")
    h = boxes[:, 1] - boxes[:, 0]
    rows = np.isin(labels, [c, big])
    best = max(((h[rows] > t) == (labels[rows] == big)).mean() for t in np.unique(h[rows]))
    assert best < 0.95


def test_adjust_resplits_each_group_and_keeps_the_rest(fitted):
    boxes, ids, labels = hands(30, 1, seed=1)
    n = len(labels)
    probs = np.full((n, len(CLASSES)), 0.1)
    probs[:, [CLASSES.index("C"), CLASSES.index("c")]] = 0.3  # the glyph cannot tell c from C
    out, info = fitted.adjust(probs, boxes, ids)
    np.testing.assert_allclose(out.sum(1), 1.0)
    np.testing.assert_allclose(out[:, 1], probs[:, 1])  # "1" is in no group here
    np.testing.assert_allclose(out[:, 2] + out[:, 4], 0.6)  # C c
    np.testing.assert_allclose(out[:, [0, 3, 5]].sum(1), 0.3)  # 0 O o
    cc = np.isin(labels, [CLASSES.index("C"), CLASSES.index("c")])
    assert (out[cc].argmax(1) == labels[cc]).mean() > 0.95
    assert info["images"] == n and info["changed"] > 0


def test_unknown_writers_use_their_own_images_when_there_are_enough(fitted):
    few = MIN_REFERENCE - 1
    boxes, ids, labels = hands(2, 1, seed=2, first_writer=900)
    # Writer 900 has 6 images here (< MIN_REFERENCE): no reference, no change.
    assert len(CLASSES) <= few
    loglik, has = fitted.log_likelihoods(boxes, ids)
    assert not has.any() and not loglik.any()
    probs = np.full((len(ids), len(CLASSES)), 1 / len(CLASSES))
    out, info = fitted.adjust(probs, boxes, ids)
    np.testing.assert_allclose(out, probs)
    assert info == {"images": 0, "changed": 0}
    # With more images of one new writer, their own median is the reference.
    many_boxes, many_ids, _ = hands(1, 2, seed=3, first_writer=901)
    _, has = fitted.log_likelihoods(many_boxes, many_ids)
    assert has.all()
    # Names without a writer are left alone.
    _, has = fitted.log_likelihoods(many_boxes, [f"x{i}.png" for i in range(len(many_ids))])
    assert not has.any()


def test_fit_needs_writers_in_the_names():
    boxes, ids, labels = hands(3, 1)
    with pytest.raises(NoisylabError, match="do not name writers"):
        WriterSize.fit(boxes, [f"photo{i}.png" for i in range(len(ids))], labels, CLASSES)
    with pytest.raises(NoisylabError, match=r"no writer has the 10 images .* \(the most: 6\)"):
        WriterSize.fit(boxes, ids, labels, CLASSES)
    boxes, ids, labels = hands(3, 2)
    with pytest.raises(NoisylabError, match="no letter has both its cases"):  # 0, 1: no pair
        WriterSize.fit(boxes, ids, labels % 2, ("0", "1"))


def test_a_saved_model_gives_the_same_answers(fitted, tmp_path):
    boxes, ids, _ = hands(30, 1, seed=4)
    path = fitted.save(tmp_path / "run" / FILE)
    again = WriterSize.load(path)
    np.testing.assert_allclose(again.log_likelihoods(boxes, ids)[0],
                               fitted.log_likelihoods(boxes, ids)[0])
    found = saved_adjusters([tmp_path / "elsewhere", tmp_path / "run"])
    assert [(type(a), p) for a, p in found] == [(CaseBySize, path)]
    assert saved_adjusters([tmp_path / "run" / "best"])[0][1] == path  # a checkpoint inside
    assert saved_adjusters([tmp_path / "elsewhere"]) == []
    np.testing.assert_allclose(found[0][0].model.log_likelihoods(boxes, ids)[0],
                               fitted.log_likelihoods(boxes, ids)[0])
    path.write_text(json.dumps({"classes": []}))
    with pytest.raises(NoisylabError, match="not a readable writer-size model"):
        WriterSize.load(path)
    with pytest.raises(NoisylabError, match=f"{FILE}.*--no-addon case-by-size"):
        saved_adjusters([tmp_path / "run"])


def test_loaded_photos_carry_their_ink_boxes(make_chars62, real_cache):
    from noisylab.data import load

    root = make_chars62(per_class=2)
    d = load("trainPart1", root=root, progress=False)
    assert d.boxes.shape == (len(d), 4) and d.boxes.dtype == np.float32
    assert ((d.boxes >= 0) & (d.boxes <= 1)).all()
    height = d.boxes[:, 1] - d.boxes[:, 0]
    big, small = d.classes.index("C"), d.classes.index("c")
    labels = d.labels.numpy()
    assert height[labels == big].min() > 2 * height[labels == small].max()
    # A cache hit, a subset and the digits keep them.
    again = load("trainPart1", root=root, progress=False)
    assert again.meta["cache"] == "hit"
    np.testing.assert_array_equal(again.boxes, d.boxes)
    np.testing.assert_array_equal(d.subset([3, 1]).boxes, d.boxes[[3, 1]])
    digits = load("trainPart1-digits", root=root, progress=False)
    np.testing.assert_array_equal(digits.boxes, d.boxes[labels < 10])


def run(*args):
    from noisylab.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_saves_it_and_evaluate_uses_it(make_chars62, real_cache, tmp_path):
    root = make_chars62(per_class=4)  # writers 001..004, 62 images each
    make_chars62(split="test", per_class=2, root=root)  # writers 001, 002: known from training
    out = tmp_path / "run"
    # lenet reads only the pixels, so the recipe's relative-box is not used, and case-by-size is.
    r = run("train", "--data", "trainPart1", "--root", root, "--arch", "lenet", "--epochs", "1",
            "--out", out)
    assert r.exit_code == 0, r.output
    assert "lenet reads only the pixels: the add-on relative-box is not used" in r.output
    assert f"add-on case-by-size ({CaseBySize.title}) fitted -> {out / FILE}" in r.output
    best = r.output.split("(chosen on given labels): test acc ")[1]
    plain = best.split("%")[0]
    assert best.splitlines()[1].startswith("  + case-by-size (")  # beside the plain figure
    saved = WriterSize.load(out / FILE)
    assert sorted(saved.reference) == ["001", "002", "003", "004"]

    r = run("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", root, "--json")
    assert r.exit_code == 0, r.output
    figures = json.loads(r.output)
    assert figures["adjusted"]["case-by-size"]["images"] == 124
    assert f"{100 * figures['acc']:.2f}" == plain  # the plain figure is the model's own
    r = run("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", root)
    lines = r.output.splitlines()
    assert lines[1].startswith(f"accuracy {plain}%") and "(each image alone)" in lines[1]
    assert lines[2].startswith("  + case-by-size (") and "124 images had a writer ref" in lines[2]
    r = run("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", root,
            "--no-addon", "case-by-size", "--json")
    assert "case-by-size" not in json.loads(r.output)["adjusted"]

    # A damaged file is one line naming it and the way out; the run is left as it was.
    (out / FILE).write_text("{")
    r = run("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", root)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(out / FILE) in r.output and "--no-addon case-by-size" in r.output
    assert (out / "best.safetensors").exists()

    # Without it, a run folder keeps no earlier state of it, which would not match the run.
    r = run("train", "--data", "trainPart1", "--root", root, "--arch", "lenet", "--epochs", "1",
            "--no-addon", "case-by-size", "--out", tmp_path / "run2")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "run2" / FILE).exists() and "case-by-size" not in r.output
    from noisylab.data import load
    from noisylab.pipeline import fit_adjusters

    assert (out / FILE).exists()
    fit_adjusters([], load("trainPart1", root=root, progress=False), out)
    assert not (out / FILE).exists()

    # The digits' recipe does not name it: no model, and nothing said about it.
    digits = tmp_path / "digits"
    r = run("train", "--data", "trainPart1-digits", "--root", root, "--arch", "lenet",
            "--epochs", "1", "--batch-size", "8", "--out", digits)
    assert r.exit_code == 0, r.output
    assert "case-by-size" not in r.output and not (digits / FILE).exists()
