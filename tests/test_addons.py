"""The add-on interfaces, proved end to end by two toy add-ons defined here: a side input (each
image's mean brightness) that the model reads, and an adjuster (the class rarest in training
is never answered) whose figure train and evaluate report beside the plain one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from noisylab import addons
from noisylab.addons import PredictionAdjuster, SideInputProvider
from noisylab.errors import NoisylabError


class Brightness(SideInputProvider):
    """Each image's mean pixel minus the training images' mean, then "known" (1)."""

    name = "toy-brightness"
    title = "the image's mean brightness"

    def __init__(self, mean: float | None = None):
        self.mean = mean

    def fit(self, train_set) -> Brightness:
        self.mean = float(train_set.images.float().mean())
        return self

    def features(self, dataset) -> np.ndarray:
        brightness = dataset.images.float().mean((1, 2, 3)).numpy() - self.mean
        return np.column_stack([brightness, np.ones(len(brightness))]).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean}

    @classmethod
    def from_dict(cls, d: dict) -> Brightness:
        return cls(float(d["mean"]))


class NeverRarest(PredictionAdjuster):
    """The class with the fewest training images gets probability 0."""

    name = "toy-never-rarest"
    title = "the class rarest in training never answered"
    description = "The rarest training class is assumed absent from the test images."

    def __init__(self, rarest: int | None = None):
        self.rarest = rarest

    def fit(self, train_set) -> NeverRarest:
        counts = np.bincount(train_set.labels.numpy(), minlength=len(train_set.classes))
        self.rarest = int(counts.argmin())
        return self

    def adjust(self, probs: np.ndarray, test_set) -> tuple[np.ndarray, dict]:
        out = np.array(probs, dtype=np.float64)
        out[:, self.rarest] = 0.0
        return out / out.sum(1, keepdims=True), {"rarest": self.rarest}

    @classmethod
    def summary(cls, info: dict) -> str:
        return f"class {info['rarest']} never answered"

    def to_dict(self) -> dict:
        return {"rarest": self.rarest}

    @classmethod
    def from_dict(cls, d: dict) -> NeverRarest:
        return cls(int(d["rarest"]))


TOYS = (Brightness.name, NeverRarest.name)


@pytest.fixture
def toys():
    for cls in (Brightness, NeverRarest):
        addons.register(cls)
    yield
    for name in TOYS:
        addons.registry.unregister(name)


def write_images(folder, counts, seed):
    """Class-per-folder 28x28 PNGs: class c is a square in quadrant c, of a brightness that
    grows with c, on noise; ``counts[c]`` images of class c."""
    rng = np.random.default_rng(seed)
    for c, n in enumerate(counts):
        (folder / "abcd"[c]).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            im = rng.integers(0, 60, (28, 28)).astype(np.uint8)
            r, q = divmod(c, 2)
            y, x = 2 + 14 * r + rng.integers(0, 3), 2 + 14 * q + rng.integers(0, 3)
            im[y:y + 9, x:x + 9] = 120 + 40 * c
            Image.fromarray(im).save(folder / "abcd"[c] / f"{i:03d}.png")
    return folder


def run(*args):
    from noisylab.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_registry_checks_names_kinds_and_combinations(toys):
    assert addons.get(Brightness.name) is Brightness
    assert addons.is_side_input(Brightness.name) and not addons.is_side_input(NeverRarest.name)
    assert addons.resolve(["toy-never-rarest"], on=["toy-brightness"]) == TOYS[::-1]
    assert addons.resolve(TOYS, off=["toy-never-rarest"]) == ("toy-brightness",)
    assert addons.parse_names("toy-brightness, toy-never-rarest") == TOYS
    assert addons.parse_names("") == ()
    with pytest.raises(NoisylabError, match="unknown add-on 'nope'; known: .*toy-brightness"):
        addons.resolve(["nope"])
    with pytest.raises(NoisylabError, match="both asked for"):
        addons.resolve([], on=["toy-never-rarest"], off=["toy-never-rarest"])
    with pytest.raises(NoisylabError, match="reads the side inputs of one add-on"):
        addons.resolve(["relative-box", "toy-brightness"])
    with pytest.raises(ValueError, match="already registered"):
        addons.register(type("Other", (Brightness,), {}))
    with pytest.raises(TypeError):
        addons.register(dict)


def test_side_inputs_must_be_one_row_per_image_ending_in_a_known_flag():
    good = addons.check_features(np.array([[0.5, 1], [0.0, 0]]), 2, "toy")
    assert good.dtype == np.float32
    with pytest.raises(NoisylabError, match="one row per image"):
        addons.check_features(np.zeros((3, 2)), 2, "toy")
    with pytest.raises(NoisylabError, match="last column is not 1"):
        addons.check_features(np.array([[0.5, 0.5]]), 1, "toy")


def test_toy_addons_end_to_end_through_a_recipe_train_and_evaluate(toys, tmp_path, monkeypatch):
    from noisylab.evaluate import model_probs
    from noisylab.recipes import RECIPES, Recipe

    train_dir = write_images(tmp_path / "train", [40, 40, 40, 20], seed=0)
    test_dir = write_images(tmp_path / "test", [8, 8, 8, 8], seed=1)
    data, test = f"folder:{train_dir}", f"folder:{test_dir}"
    monkeypatch.setitem(RECIPES, data, Recipe(
        train=dict(arch="cnn-s", epochs=4, batch_size=16, lr=3e-3, augment=False, device="cpu"),
        test=(test, "train"), loss="ce", addons=TOYS))
    # is_present knows the named sources only; this recipe's test set is a folder.
    monkeypatch.setattr("noisylab.data.is_present", lambda name, root=None, split="train": True,
                        raising=False)
    out = tmp_path / "run"
    r = run("train", "--data", data, "--out", out)
    assert r.exit_code == 0, r.output
    assert "side inputs (toy-brightness): the image's mean brightness, known for 140 of 140 " \
           "training images and 32 of 32 test images" in r.output
    # The plain test figure first, the adjuster's beside it, named.
    plain = r.output.split("(chosen on given labels): test acc ")[1].split("%")[0]
    adjusted = r.output.split("\n  + toy-never-rarest (the class rarest in training never "
                              "answered): test acc ")[1]
    assert "class 3 never answered" in adjusted.splitlines()[0]

    # The model reads the side input, made from the state saved in its checkpoint.
    meta = json.loads((out / "best.json").read_text())
    assert meta["side_inputs"]["addon"] == "toy-brightness"
    assert json.loads((out / "toy-never-rarest.json").read_text()) == {"rarest": 3}
    from noisylab.data import load

    test_set = load(test, split="train", progress=False)
    probs = model_probs(out, test_set)
    meta["side_inputs"]["state"]["mean"] += 50.0
    (out / "best.json").write_text(json.dumps(meta))
    assert not np.allclose(model_probs(out, test_set), probs)
    meta["side_inputs"]["state"]["mean"] -= 50.0
    (out / "best.json").write_text(json.dumps(meta))

    # evaluate reloads both from the run folder and gives the same figures.
    r = run("evaluate", out, "--data", test)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].startswith(f"accuracy {plain}%") and lines[1].endswith("(each image alone)")
    assert "the model reads the side inputs of toy-brightness" in lines[2]
    assert lines[3].startswith(f"  + toy-never-rarest (the class rarest in training never "
                               f"answered, {out / 'toy-never-rarest.json'}): accuracy "
                               f"{adjusted.split('%')[0]}%")
    kept = probs.copy()
    kept[:, 3] = 0
    figures = json.loads(run("evaluate", out, "--data", test, "--json").output)
    never = figures["adjusted"]["toy-never-rarest"]
    assert never["acc"] == pytest.approx((kept.argmax(1) == test_set.labels.numpy()).mean())
    assert never["changed"] == int((kept.argmax(1) != probs.argmax(1)).sum()) > 0
    off = json.loads(run("evaluate", out, "--data", test, "--no-addon", "toy-never-rarest",
                         "--json").output)
    assert off["adjusted"] == {} and off["acc"] == figures["acc"]
    r = run("evaluate", out, "--data", test, "--no-addon", "toy-brightness")
    assert r.exit_code == 2 and "cannot be scored without them" in r.output

    # Turned off in training, neither is there.
    r = run("train", "--data", data, "--no-addon", "toy-brightness", "--no-addon",
            "toy-never-rarest", "--out", tmp_path / "plain")
    assert r.exit_code == 0, r.output
    assert "side_inputs" not in json.loads((tmp_path / "plain" / "best.json").read_text())
    assert "toy-" not in r.output and not (tmp_path / "plain" / "toy-never-rarest.json").exists()
    r = run("evaluate", tmp_path / "plain", "--data", test, "--addon", "toy-never-rarest")
    assert r.exit_code == 2 and "has no saved state of the add-on toy-never-rarest" in r.output
