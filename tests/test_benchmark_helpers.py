"""The pure helpers of the benchmark scripts (the scripts themselves run on real data only)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from noisylab.errors import NoisylabError


def _load(name):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


case_by_size = _load("case_by_size")


def test_writer_is_read_from_the_photo_name():
    assert case_by_size.writer_of(["img011-007.png", "img062-055.png"]).tolist() == [7, 55]
    with pytest.raises(NoisylabError, match="photo 'a.png'"):
        case_by_size.writer_of(["img011-007.png", "a.png"])


def test_size_relative_to_the_writer_leaves_the_image_itself_out():
    log_box = np.log(np.array([[10, 10], [20, 20], [40, 40], [100, 50], [100, 50]], float))
    writers = np.array([1, 1, 1, 2, 3])
    reference = np.array([True, True, True, True, False])
    rel = case_by_size.relative_to_writer(log_box, writers, reference)
    # image 0: its writer's other references are 20 and 40 px, median 28.28 px
    np.testing.assert_allclose(rel[0], np.log(10) - 0.5 * (np.log(20) + np.log(40)))
    # image 1: others 10 and 40 px, median 20 px: exactly the writer's size
    np.testing.assert_allclose(rel[1], 0.0, atol=1e-12)
    # writer 2 has no other reference image, writer 3 none at all: both fall back to the
    # median of every reference image (between 20 and 40 px, high and wide)
    np.testing.assert_allclose(rel[3], np.log([100, 50]) - 0.5 * (np.log(20) + np.log(40)))
    np.testing.assert_allclose(rel[4], rel[3])


learning_curve = _load("learning_curve")


def test_power_law_recovers_an_exact_curve_and_extrapolates_it():
    n = np.array([20.0, 26.7, 32.0, 36.0])
    a, b = learning_curve.power_law(n, 0.5 * n ** -0.4)
    assert a == pytest.approx(0.5) and b == pytest.approx(0.4)
    # More images, fewer errors: the extrapolation to 40 a class is below the last error.
    assert a * 40 ** -b < 0.5 * 36 ** -0.4


def test_power_law_of_a_flat_curve_has_no_slope():
    a, b = learning_curve.power_law(np.array([20.0, 32.0, 36.0]), np.full(3, 0.07))
    assert a == pytest.approx(0.07) and b == pytest.approx(0.0, abs=1e-12)


ensemble_size = _load("ensemble_size")


def _votes():
    """Three models, each right and sure on two thirds of six images and wrong but unsure on the
    rest (a different third each): alone 4/6 right, any two or all three 6/6."""
    labels = np.array([0, 1, 2, 0, 1, 2])
    probs = np.zeros((3, 6, 3))
    for m in range(3):
        guess = labels.copy()
        wrong = [2 * m, 2 * m + 1]
        guess[wrong] = (labels[wrong] + 1) % 3
        probs[m, np.arange(6), labels] = 0.9
        probs[m, wrong, labels[wrong]] = 0.3
        probs[m, wrong, guess[wrong]] = 0.6
        probs[m] += 0.05
    return probs, labels


def test_an_ensemble_of_models_wrong_in_different_places_is_right_everywhere():
    probs, labels = _votes()
    rng = np.random.default_rng(0)
    alone = ensemble_size.subset_accuracies(probs, labels, 1, draws=10, rng=rng)
    assert alone.tolist() == pytest.approx([4 / 6] * 3)
    assert ensemble_size.subset_accuracies(probs, labels, 3, 10, rng).tolist() == [1.0]
    # Every pair is enumerated (3 of them) when the draws allow; random subsets otherwise.
    assert ensemble_size.subset_accuracies(probs, labels, 2, 10, rng).tolist() == [1.0] * 3
    drawn = ensemble_size.subset_accuracies(probs, labels, 2, 2, rng)
    assert len(drawn) == 2 and drawn.tolist() == [1.0, 1.0]
