"""The ``relative-box`` add-on: a CNN that also reads the character's ink box relative to its
writer's, beside the pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from synthetic import crash_then_resume, timeless
from test_writer_size import CLASSES, hands

from noisylab.addons.writers.box import RelativeBox
from noisylab.addons.writers.writer_size import (
    FILE,
    MIN_REFERENCE,
    SIDE_INPUTS,
    WriterSize,
    box_features,
    leave_one_out,
    side_inputs,
)
from noisylab.checkpoints import load_checkpoint
from noisylab.data.base import LabeledImages
from noisylab.errors import NoisylabError
from noisylab.evaluate import evaluate
from noisylab.models import ARCHITECTURES, build_model, reads_side_inputs, side_inputs_of
from noisylab.pipeline import make_side_inputs
from noisylab.train import TrainConfig, train

CHARS62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def quiet(_msg: str) -> None:
    pass


def test_leave_one_out_describes_each_image_without_itself():
    boxes, ids, _ = hands(3, 2)  # 12 images a writer
    ids = ids + ["img001-099.png"] * 3 + ["image_1.png"]  # writer 099 has too few; no writer
    boxes = np.vstack([boxes, boxes[:4]])
    relative, has = leave_one_out(boxes, ids)
    features = box_features(boxes)
    rows = [i for i, name in enumerate(ids) if name.endswith("-002.png")]
    i = rows[5]
    others = [r for r in rows if r != i]
    np.testing.assert_allclose(relative[i], features[i] - np.median(features[others], axis=0))
    assert has[:36].all() and not has[36:].any()
    np.testing.assert_array_equal(relative[36:], features[36:])  # left as they were


def test_leave_one_out_needs_enough_other_images():
    boxes, ids, _ = hands(1, 2)  # 12 images: 11 others each
    assert leave_one_out(boxes, ids)[1].all()
    assert not leave_one_out(boxes[:MIN_REFERENCE], ids[:MIN_REFERENCE])[1].any()


def test_side_inputs_are_zero_without_a_reference_and_flag_it():
    relative = np.arange(12, dtype=float).reshape(2, 6) + 1
    out = side_inputs(relative, np.array([True, False]))
    assert out.shape == (2, SIDE_INPUTS) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [*relative[0], 1])
    np.testing.assert_array_equal(out[1], np.zeros(SIDE_INPUTS))


def test_references_describe_new_images_by_the_training_medians():
    boxes, ids, _ = hands(4, 2)
    references = WriterSize.references(boxes, ids, CLASSES)
    assert references.groups == [] and sorted(references.reference) == ["001", "002", "003", "004"]
    new_boxes, new_ids, _ = hands(2, 1, seed=5)  # writers 001 and 002 again
    out = references.side_inputs_for(new_boxes, new_ids)
    expected = box_features(new_boxes)[0] - references.reference["001"]
    np.testing.assert_allclose(out[0, :-1], expected, rtol=1e-5)
    assert (out[:, -1] == 1).all()
    with pytest.raises(NoisylabError, match="do not name writers"):
        WriterSize.references(boxes[:3], ["a.png", "b.png", "c.png"], CLASSES)


def test_the_provider_makes_leave_one_out_inputs_for_training_and_reference_ones_after():
    data, new = sized(6, 6, seed=0), sized(6, 2, seed=1)
    provider = RelativeBox().fit(data)
    np.testing.assert_array_equal(provider.training_features(data),
                                  side_inputs(*leave_one_out(data.boxes, data.ids)))
    again = RelativeBox.from_dict(json.loads(json.dumps(provider.to_dict())))
    np.testing.assert_array_equal(again.features(new), provider.features(new))
    assert provider.record()["addon"] == "relative-box"


def test_the_model_reads_known_side_inputs_and_nothing_of_unknown_ones():
    torch.manual_seed(0)
    model = build_model("cnn-m", 5, side_inputs=SIDE_INPUTS).eval()
    assert side_inputs_of(model) == SIDE_INPUTS and side_inputs_of(build_model("cnn-m", 5)) == 0
    assert reads_side_inputs("cnn-m") and not reads_side_inputs("lenet")
    with pytest.raises(NoisylabError, match="lenet reads only the pixels"):
        build_model("lenet", 5, side_inputs=SIDE_INPUTS)
    x = torch.rand(3, 1, 28, 28)
    known = torch.cat([torch.randn(3, SIDE_INPUTS - 1), torch.ones(3, 1)], 1)
    other = torch.cat([torch.randn(3, SIDE_INPUTS - 1), torch.ones(3, 1)], 1)
    assert not torch.allclose(model(x, known), model(x, other))
    unknown_a = torch.cat([torch.randn(3, SIDE_INPUTS - 1), torch.zeros(3, 1)], 1)
    unknown_b = torch.cat([torch.randn(3, SIDE_INPUTS - 1), torch.zeros(3, 1)], 1)
    torch.testing.assert_close(model(x, unknown_a), model(x, unknown_b))
    with pytest.raises(NoisylabError, match="none were given"):
        model(x)


def test_side_scaling_comes_from_the_known_rows_and_is_saved():
    model = build_model("cnn-m", 5, side_inputs=SIDE_INPUTS)
    side = torch.tensor([[1.0] * 6 + [1], [3.0] * 6 + [1], [100.0] * 6 + [0]])
    model.set_side_scaling(side)
    torch.testing.assert_close(model.side_mean, torch.full((6,), 2.0))
    torch.testing.assert_close(model.side_scale, torch.full((6,), 2 ** 0.5))
    assert {"side_mean", "side_scale"} <= set(model.state_dict())


def test_side_dropout_hides_them_in_training_only():
    torch.manual_seed(0)
    model = build_model("cnn-m", 5, side_inputs=SIDE_INPUTS)
    model.side_dropout = 1.0
    model.train()
    x = torch.rand(4, 1, 28, 28)
    a = torch.cat([torch.randn(4, 6), torch.ones(4, 1)], 1)
    b = torch.cat([torch.randn(4, 6), torch.ones(4, 1)], 1)
    model.features[-1].p = 0.0  # no image dropout, so only the side inputs could differ
    torch.testing.assert_close(model(x, a), model(x, b))
    model.eval()
    assert not torch.allclose(model(x, a), model(x, b))


def sized(n_writers: int, per_class: int, seed: int) -> LabeledImages:
    """Two classes of the same image that only their size relative to the writer tells
    apart (`hands`' ``c`` and ``C``, from writers of very different hands)."""
    boxes, ids, labels = hands(n_writers, per_class, seed=seed)
    keep = np.isin(labels, [2, 4])  # C and c
    images = torch.zeros(int(keep.sum()), 1, 28, 28, dtype=torch.uint8)
    images[:, :, 8:20, 8:20] = 255  # the same glyph for both
    return LabeledImages(images, torch.from_numpy((labels[keep] == 4).astype(np.int64)),
                         ("C", "c"), tuple(np.array(ids)[keep]), "sized",
                         boxes=boxes[keep].astype(np.float32))


BOX = dict(arch="cnn-m", epochs=4, batch_size=32, lr=5e-3, augment=False, device="cpu")


def test_it_learns_what_only_the_writer_relative_size_tells(tmp_path):
    data, test = sized(20, 10, seed=0), sized(20, 3, seed=1)  # the same 20 writers
    side = make_side_inputs("relative-box", data, test, log=quiet)
    result = train(data, TrainConfig(**BOX), out_dir=tmp_path / "box", test_set=test,
                   side=side, progress=False, log=quiet)
    assert result.history[-1]["test_acc"] > 0.9
    saved = load_checkpoint(tmp_path / "box" / "best")
    record = saved.metadata["side_inputs"]
    assert record["addon"] == "relative-box"
    assert sorted(record["state"]["reference"]) == [f"{w:03d}" for w in range(1, 21)]
    # evaluate makes the same side inputs from the checkpoint alone: the same figures.
    figures = evaluate(tmp_path / "box", test)
    assert figures["acc"] == pytest.approx(result.best["test_acc"])
    assert figures["side_inputs"] == {"addon": "relative-box", "known": len(test)}
    with pytest.raises(NoisylabError, match="cannot be scored without them"):
        evaluate(tmp_path / "box", test, without=["relative-box"])
    # A glyph-only model has nothing to go on.
    glyph = train(data, TrainConfig(**BOX), out_dir=tmp_path / "glyph",
                  test_set=test, progress=False, log=quiet)
    assert glyph.history[-1]["test_acc"] < 0.75


def test_a_resumed_box_run_matches_the_uninterrupted_one(tmp_path):
    data = sized(12, 6, seed=0)
    side = make_side_inputs("relative-box", data, log=quiet)
    cfg = TrainConfig(**dict(BOX, epochs=3, augment=True))
    full = train(data, cfg, out_dir=tmp_path / "full", side=side, progress=False, log=quiet)
    resumed = crash_then_resume(data, cfg, tmp_path / "cut", side=side)
    assert timeless(resumed.history) == timeless(full.history)


def test_without_boxes_or_writers_it_is_a_clear_error(tmp_path):
    data = sized(4, 4, seed=0)
    no_boxes = LabeledImages(data.images, data.labels, data.classes, data.ids, "plain")
    with pytest.raises(NoisylabError, match="the add-on relative-box.*plain has no ink boxes.*"
                                            "pass --no-addon relative-box"):
        make_side_inputs("relative-box", no_boxes, way_out="pass --no-addon relative-box")
    anonymous = LabeledImages(data.images, data.labels, data.classes,
                              tuple(f"x{i}.png" for i in range(len(data))), "anon",
                              boxes=data.boxes)
    with pytest.raises(NoisylabError, match="do not name writers"):
        make_side_inputs("relative-box", anonymous)
    data = sized(4, 6, seed=0)  # 12 images a writer: enough for a reference
    side = make_side_inputs("relative-box", data, log=quiet)
    with pytest.raises(NoisylabError, match="lenet reads only the pixels"):
        train(data, TrainConfig(**dict(BOX, arch="lenet", epochs=1)), out_dir=tmp_path / "r",
              side=side, progress=False, log=quiet)


def run(*args):
    from noisylab.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_and_evaluate_from_the_command_line(make_chars62, real_cache, tmp_path):
    root = make_chars62(per_class=4)  # writers 001..004
    make_chars62(split="test", per_class=2, root=root)  # writers 001, 002
    out = tmp_path / "run"
    r = run("train", "--data", "trainPart1", "--root", root, "--epochs", "1", "--out", out)
    assert r.exit_code == 0, r.output
    assert "side inputs (relative-box): the ink box relative to the writer's median box, known " \
           "for 248 of 248 training images and 124 of 124 test images" in r.output
    # The model reads the size itself: no case-by-size on top.
    assert "add-on case-by-size not fitted: the model reads relative-box itself" in r.output
    assert not (out / FILE).exists()
    trained = r.output.split("best epoch 1 (chosen on given labels): test acc ")[1].split("%")[0]

    r = run("evaluate", out, "--data", "trainPart1", "--split", "test", "--root", root)
    assert r.exit_code == 0, r.output
    assert "the model reads the side inputs of relative-box (the ink box relative to the " \
           "writer's median box): known for 124 of 124 images" in r.output
    assert f"accuracy {trained}%" in r.output

    meta = json.loads((out / "best.json").read_text())
    assert meta["architecture"] == "cnn-m" and meta["side_inputs"]["addon"] == "relative-box"

    # Without the add-on the recipe's cnn-m reads the pixels alone.
    r = run("train", "--data", "trainPart1", "--root", root, "--epochs", "1", "--no-addon",
            "relative-box", "--out", tmp_path / "plain-run")
    assert r.exit_code == 0, r.output
    assert "side_inputs" not in json.loads((tmp_path / "plain-run" / "best.json").read_text())

    # Data without ink boxes (28x28 images in class folders): one line, the run left intact.
    from PIL import Image

    folders = tmp_path / "plain"
    for c in CHARS62:
        (folders / c).mkdir(parents=True)
        glyph = np.zeros((28, 28), np.uint8)
        glyph[8:20, 8:20] = 255  # MNIST-style: light ink on black, used as it is
        Image.fromarray(glyph).save(folders / c / "x.png")
    r = run("evaluate", out, "--data", f"folder:{folders}", "--split", "train")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "has no ink boxes" in r.output and (out / "best.safetensors").exists()
    # Nor can a run on them start from it: the way out is another checkpoint.
    r = run("train", "--data", f"folder:{folders}", "--init", out, "--loss", "ce", "--epochs", "1",
            "--out", tmp_path / "from-box")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "start from a checkpoint that reads no side inputs (--init)" in r.output


def test_a_checkpoint_without_its_references_is_one_line(make_chars62, real_cache, tmp_path):
    from noisylab.checkpoints import save_checkpoint

    root = make_chars62(per_class=2)
    model = build_model("cnn-m", 62, side_inputs=SIDE_INPUTS)
    save_checkpoint(tmp_path, "bare", model, metadata={
        "num_classes": 62, "architecture": "cnn-m", "epoch": 1,
        "class_names": list(CHARS62)})
    r = run("evaluate", tmp_path / "bare", "--data", "trainPart1", "--root", root)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "does not record how they are made" in r.output


def test_a_checkpoint_of_the_old_box_architecture_still_reads_its_box(tmp_path):
    """Checkpoints saved as ``cnn-m+box``, their references bare in ``side_inputs``, are cnn-m
    models of the relative-box add-on: they load and score as they did."""
    from noisylab.checkpoints import _RESERVED_KEYS, save_checkpoint

    data, test = sized(12, 6, seed=0), sized(12, 2, seed=1)
    side = make_side_inputs("relative-box", data, test, log=quiet)
    train(data, TrainConfig(**dict(BOX, epochs=1)), out_dir=tmp_path / "new", test_set=test,
          side=side, progress=False, log=quiet)
    new = load_checkpoint(tmp_path / "new" / "best")
    saved = {k: v for k, v in new.metadata.items() if k not in _RESERVED_KEYS}
    old_meta = {**saved, "architecture": "cnn-m+box",
                "side_inputs": new.metadata["side_inputs"]["state"],
                "config": {**new.metadata["config"], "arch": "cnn-m+box"}}
    save_checkpoint(tmp_path / "old", "best", new.state_dict, metadata=old_meta)
    old = load_checkpoint(tmp_path / "old" / "best")
    assert old.metadata["architecture"] == "cnn-m" and old.metadata["config"]["arch"] == "cnn-m"
    assert old.metadata["side_inputs"] == new.metadata["side_inputs"]
    assert evaluate(tmp_path / "old", test)["acc"] == evaluate(tmp_path / "new", test)["acc"]


def test_asking_an_architecture_whether_it_reads_side_inputs_draws_no_random_numbers():
    torch.manual_seed(0)
    reads_side_inputs("cnn-m"), reads_side_inputs("lenet")
    drawn = torch.rand(3)
    torch.manual_seed(0)
    torch.testing.assert_close(drawn, torch.rand(3))
    for arch, (make, _) in ARCHITECTURES.items():
        assert side_inputs_of(make(3)) == 0
        if reads_side_inputs(arch):
            assert side_inputs_of(make(3, SIDE_INPUTS)) == SIDE_INPUTS
