"""The ladder's comparison: held-out likelihood, pseudo-BMA+ weights, naming marginals."""

import numpy as np
import pytest

from noisylab.errors import NoisylabError
from noisylab.noise import (
    corrupt,
    diagnose,
    fit_ladder,
    make_noise,
    pair_flip,
    simulate_pred_probs,
    symmetric,
)
from noisylab.noise.diagnosis import from_ladder
from noisylab.noise.ladder import heldout_power, naming_marginals, pseudo_bma


def test_pseudo_bma_shares_between_equal_models_and_follows_a_clear_winner():
    rng = np.random.default_rng(0)
    a = rng.normal(-1.0, 0.3, 2000)
    equal = pseudo_bma(np.stack([a, a]), np.ones(2000), np.zeros(2))
    assert np.allclose(equal, [0.5, 0.5])
    better = pseudo_bma(np.stack([a, a - 0.05]), np.ones(2000), np.zeros(2))
    assert better[0] > 0.999  # 100 nats apart
    # a difference inside the sampling noise of the scores leaves both open
    noise = rng.normal(0.0, 0.3, 2000)
    close = pseudo_bma(np.stack([a, a + noise - noise.mean() + 1.0 / 2000]), np.ones(2000),
                       np.zeros(2))
    assert 0.2 < close[0] < 0.8
    # samples of weight 0 count for nothing; a prior shifts the weights
    left_out = pseudo_bma(np.stack([a, np.r_[a[:1000], a[1000:] - 1.0]]),
                          np.r_[np.ones(1000), np.zeros(1000)], np.zeros(2))
    assert np.allclose(left_out, [0.5, 0.5])
    assert pseudo_bma(np.stack([a, a]), np.ones(2000), np.log([3.0, 1.0]))[0] == \
        pytest.approx(0.75)


def test_pseudo_bma_draws_average_to_its_weights():
    rng = np.random.default_rng(1)
    a = rng.normal(-1.0, 0.3, 500)
    L = np.stack([a, a + rng.normal(0.0, 0.3, 500)])
    mean, each = pseudo_bma(L, np.ones(500), np.zeros(2), draws=120, return_draws=True)
    assert each.shape == (120, 2) and np.allclose(each.sum(1), 1.0)
    assert np.allclose(each.mean(0), mean)
    assert each[:, 0].std() > 0.01  # the reweightings disagree: the spread is real


def test_kind_draws_spread_the_kind_probabilities():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 1500)
    T = make_noise("symmetric", 10, rate=0.3, seed=4)
    g, _ = corrupt(y, T, seed=5)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.9, seed=6)
    ladder = fit_ladder(Q, g)
    draws = ladder.kind_draws()
    assert set(draws) == set(ladder.kind_probabilities)
    for kind, p in ladder.kind_probabilities.items():
        assert draws[kind].mean() == pytest.approx(p, abs=1e-9)
    assert fit_ladder(np.eye(10)[y], g, compare="evidence", p_dof=0).kind_draws() is None


def test_naming_marginals_are_doubly_stochastic():
    K = 6
    sure = naming_marginals(50.0 * np.eye(K)[[2, 0, 1, 5, 3, 4]])
    assert np.allclose(sure, np.eye(K)[[2, 0, 1, 5, 3, 4]], atol=1e-6)
    flat = naming_marginals(np.zeros((K, K)))
    assert np.allclose(flat, 1.0 / K)
    # each cluster torn between two classes, and the two clusters sharing them
    score = np.full((K, K), -50.0)
    score[np.arange(K), np.arange(K)] = 0.0
    score[0, 1] = score[1, 0] = 0.0
    X = naming_marginals(score)
    assert np.allclose(X.sum(0), 1, atol=1e-3) and np.allclose(X.sum(1), 1, atol=1e-3)
    assert X[0, 1] == pytest.approx(0.5, abs=1e-3) and X[2, 2] == pytest.approx(1.0, abs=1e-3)


def _audit(kind: str, n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    T = make_noise(kind, k, seed=seed + 1)
    g, _ = corrupt(y, T, seed=seed + 2)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.945, seed=seed + 3)
    return diagnose(Q, g)


def test_labels_unrelated_to_many_classes_are_not_read_into_a_naming():
    # 62 classes, 80 images a class: matching each cluster to its most given label finds a
    # diagonal in pure noise; fitted on other images, that naming predicts nothing
    d = _audit("unrelated", 5000, 62)
    assert d.kind == "unrelated", d.summary
    assert "symmetric" not in d.candidates


def test_weak_complementary_labels_with_many_classes_stay_open():
    # 62 classes, 80 images a class, uniform complementary labels: each label moves the odds by
    # log(62/61), and which never-given label is a cluster's class is far from certain; the
    # labels cannot tell this from labels unrelated to the images, and the audit says so
    d = _audit("complementary", 5000, 62)
    assert "complementary" in d.candidates and not d.decided, d.summary
    assert d.kind_probabilities["complementary"] > 0.05


def test_fit_ladder_checks_its_comparison_options():
    P = np.eye(3)[np.arange(30) % 3]
    with pytest.raises(NoisylabError, match="compare"):
        fit_ladder(P, np.arange(30) % 3, compare="aic")
    with pytest.raises(NoisylabError, match="folds"):
        fit_ladder(P, np.arange(30) % 3, folds=1)


def _sharpened(K: int, n: int, rate: float, accuracy: float, power: float, seed: int):
    """Calibrated ``P(true | x)`` ``(n, K)`` raised to ``power`` (rows renormalised), and labels
    given under symmetric noise at ``rate``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    g, _ = corrupt(y, make_noise("symmetric", K, rate=rate, seed=seed + 1), seed=seed + 2)
    Q, _ = simulate_pred_probs(y, np.eye(K), accuracy=accuracy, seed=seed + 3)
    sharp = Q ** power
    return sharp / sharp.sum(1, keepdims=True), g


def test_heldout_power_softens_predictions_surer_than_they_are():
    Q, g = _sharpened(10, 4000, rate=0.3, accuracy=0.85, power=1.0, seed=7)  # P(true | x)
    assert 0.85 <= heldout_power(Q, g) <= 1.2
    sharp, _ = _sharpened(10, 4000, rate=0.3, accuracy=0.85, power=3.0, seed=7)
    assert heldout_power(sharp, g) <= 0.5  # about 1/3 undoes the sharpening


def test_heldout_power_keeps_calibrated_predictions_of_many_classes_and_few_images():
    # 62 classes, 32 images a class: a free matrix's maximum-likelihood rows overfit, and
    # judged by them a much softer P (about 0.2) would win for the smoothing it lends them
    P, g = _sharpened(62, 2000, rate=0.5, accuracy=0.9, power=1.0, seed=3)
    assert heldout_power(P, g) >= 0.85


def test_heldout_power_goes_below_one_half_for_predictions_that_carry_little():
    # predictions sharpened ten times over: only a power near 0.1 undoes it
    P, g = _sharpened(10, 3000, rate=0.3, accuracy=0.7, power=10.0, seed=11)
    assert heldout_power(P, g) <= 0.2


def test_heldout_power_undoes_a_sharpening_of_many_classes_and_few_images():
    # 62 classes, 40 images a class, predictions sharpened 1.5 times: the power should be
    # about 1/1.5. A fixed prior on the free matrix's rows misjudges it either way: none
    # (maximum likelihood) chooses 0.2, a pseudo-count of 1 an entry chooses 0.85.
    P, g = _sharpened(62, 2480, rate=0.2, accuracy=0.9, power=1.5, seed=3)
    assert 0.5 <= heldout_power(P, g) <= 0.7


def _look_alike(y: np.ndarray, K: int, mistaken: float, seed: int, *,
                pairs: bool = False) -> np.ndarray:
    """Predictions ``(N, K)`` of a class that is the image's look-alike for a share ``mistaken``
    of the images (a predictor taking ``c`` for ``C``): 85% sure of it, the look-alike being the
    next class; with ``pairs`` 99% sure, the look-alike being the pair partner (0-1, 2-3, ...),
    which gets 0.5% of every prediction."""
    rng = np.random.default_rng(seed)
    alike = y ^ 1 if pairs else (y + 1) % K
    pred = np.where(rng.random(len(y)) < mistaken, alike, y)
    sure, second = (0.99, 0.005) if pairs else (0.85, 0.0)
    P = np.full((len(y), K), (1.0 - sure - second) / (K - 1 - int(pairs)))
    P[np.arange(len(y)), pred] = sure
    if pairs:
        P[np.arange(len(y)), pred ^ 1] = second
    return P


@pytest.mark.parametrize("seed", [0, 2])
def test_even_noise_seen_through_look_alike_mistakes_stays_a_candidate(seed):
    # The predictions' expected error is 0.15; a tenth of each class taken for one other class,
    # symmetric noise piles about 0.08 of each class onto one wrong label: pair-flip fits best,
    # but the predictor alone could have piled that much
    K = 10
    y = np.random.default_rng(seed).integers(0, K, 3000)
    g, _ = corrupt(y, symmetric(K, 0.2), seed=seed + 10)
    P = _look_alike(y, K, 0.1, seed + 20)
    ladder = fit_ladder(P, g, resolution=float(np.mean(1 - P.max(1))))
    assert ladder.selected.kind == "pair-flip" and "symmetric" in ladder.candidates
    # kept open by the bound, not by its likelihood (far below): the summary says why
    assert ladder.kind_probabilities["symmetric"] < 1e-3
    assert "predictions' own mistakes" in from_ladder(ladder, regime="dominant").summary
    # pair-flip noise of 30% piles twice what the predictor could: even noise is ruled out
    g, _ = corrupt(y, pair_flip(K, 0.3), seed=seed + 10)
    P = _look_alike(y, K, 0.0, seed + 20)
    ladder = fit_ladder(P, g, resolution=float(np.mean(1 - P.max(1))))
    assert ladder.selected.kind == "pair-flip" and "symmetric" not in ladder.candidates


@pytest.mark.parametrize("seed", [0, 3])
def test_even_noise_seen_through_sure_look_alike_mistakes_stays_a_candidate(seed):
    # Predictions sure of every image (expected error 0.01) but wrong between look-alikes for
    # a tenth of them: symmetric noise looks piled, pair-flip fits far best, and only the
    # predictions' confusion at the power they are compared on (where they are calibrated)
    # shows that they alone could have piled that much
    from noisylab.noise.ladder import _within_resolution

    K = 10
    y = np.random.default_rng(seed).integers(0, K, 3000)
    g, _ = corrupt(y, symmetric(K, 0.2), seed=seed + 10)
    P = _look_alike(y, K, 0.1, seed + 20, pairs=True)
    ladder = fit_ladder(P, g, resolution=float(np.mean(1 - P.max(1))),
                        compare_power=heldout_power(P, g))
    assert ladder.selected.kind == "pair-flip" and ladder.kind_probabilities["pair-flip"] > 0.99
    assert not _within_resolution(ladder.selected, ladder.resolution)  # 0.01 alone: ruled out
    assert ladder.confusion > 0.05 and "symmetric" in ladder.candidates
    assert "take a class for one other class" in from_ladder(ladder, regime="dominant").summary
    # the same predictor without its mistakes and pair-flip noise: nothing to confuse
    g, _ = corrupt(y, pair_flip(K, 0.3), seed=seed + 10)
    P = _look_alike(y, K, 0.0, seed + 20, pairs=True)
    ladder = fit_ladder(P, g, resolution=float(np.mean(1 - P.max(1))),
                        compare_power=heldout_power(P, g))
    assert ladder.confusion < 0.01
    assert ladder.selected.kind == "pair-flip" and "symmetric" not in ladder.candidates


@pytest.mark.parametrize("seed", [1, 2])
def test_slightly_biased_complementary_labels_within_the_predictions_error_keep_uniform_open(seed):
    # Complementary labels drawn with weights in [0.8, 1]: each class's rarest wrong label is
    # about 0.012 below an even spread, less than the 0.15 / 9 that uniform complementary
    # labels seen through a predictor 85% sure of each image can show. Biased fits clearly
    # best, but uniform stays open and the loss that serves both is recommended
    from noisylab.noise import complementary
    from noisylab.noise.ladder import _within_resolution

    K = 10
    y = np.random.default_rng(seed).integers(0, K, 20000)
    P = _look_alike(y, K, 0.0, seed + 20)
    ladders = {}
    for low, kept in ((0.8, True), (0.25, False)):  # weights in [0.25, 1]: a gap of about 0.07
        weights = np.random.default_rng(seed + 1).uniform(low, 1.0, (K, K))
        g, _ = corrupt(y, complementary(K, weights=weights), seed=seed + 10)
        ladder = fit_ladder(P, g, resolution=float(np.mean(1 - P.max(1))), prefer="complementary")
        assert ladder.selected.kind == "biased-complementary"
        assert _within_resolution(ladder.selected, ladder.resolution) is kept
        assert ("complementary" in ladder.candidates) is kept
        ladders[low] = ladder
    assert ladders[0.8].kind_probabilities.get("complementary", 0.0) < 1e-3  # kept by the bound
    diag = from_ladder(ladders[0.8], regime="complementary")
    assert "could make look spread unevenly" in diag.summary
    assert diag.recommended_loss == "fwd"  # uniform complementary is fwd with an even matrix


def _sure(y: np.ndarray, K: int, sure: float = 0.98) -> np.ndarray:
    P = np.full((len(y), K), (1.0 - sure) / (K - 1))
    P[np.arange(len(y)), y] = sure
    return P


def _gap(m) -> float:
    K = m.matrix.shape[0]
    off = np.where(np.eye(K, dtype=bool), np.inf, m.matrix)
    return float(m.class_prior @ ((1.0 - np.diag(m.matrix)) / (K - 1) - off.min(1)))


def _unshrunk_biased(P: np.ndarray, g: np.ndarray, resolution: float):
    """The biased-complementary model of a ladder, its matrix the counts' own shares (no
    shrinkage toward an even spread)."""
    from dataclasses import replace

    m = fit_ladder(P, g, resolution=resolution).best_of("biased-complementary")
    assert m.reading == "complementary"
    return replace(m, matrix=m.realised, params={**m.params, "concentration": 0.0})


@pytest.mark.parametrize("seed", [0, 1])
def test_the_gap_uniform_complementary_labels_show_by_sampling_keeps_them_open(seed):
    # 200 images a class with uniform complementary labels: each class's 200 wrong labels fall
    # unevenly on the other nine by chance, so the biased-complementary matrix of their counts
    # has a gap far beyond what predictions 98% sure of each image can make (0.02 / 9), yet
    # they are evenly spread; strongly biased labels (weights in [0.25, 1]) stay beyond both
    from noisylab.noise import complementary
    from noisylab.noise.ladder import _within_resolution, sampling_unevenness

    K = 10
    y = np.random.default_rng(seed).integers(0, K, 2000)
    P = _sure(y, K)
    resolution = float(np.mean(1 - P.max(1)))
    g, _ = corrupt(y, complementary(K), seed=seed + 10)
    biased = _unshrunk_biased(P, g, resolution)
    assert _gap(biased) > 5 * resolution / (K - 1)  # the predictions' bound alone rules it out
    assert _gap(biased) <= resolution / (K - 1) + sampling_unevenness(biased, side="gap")
    assert _within_resolution(biased, resolution)
    weights = np.random.default_rng(seed + 1).uniform(0.25, 1.0, (K, K))
    g, _ = corrupt(y, complementary(K, weights=weights), seed=seed + 10)
    assert not _within_resolution(_unshrunk_biased(P, g, resolution), resolution)


def test_sampling_unevenness_shrinks_with_the_images_and_the_models_concentration():
    from dataclasses import replace

    from noisylab.noise import complementary
    from noisylab.noise.ladder import sampling_unevenness

    K = 10
    y = np.random.default_rng(0).integers(0, K, 2000)
    g, _ = corrupt(y, complementary(K), seed=3)
    m = _unshrunk_biased(_sure(y, K), g, 0.02)
    # a class's smallest of nine shares of ~200 labels: about 0.034 below 1/9 (simulated
    # expectation); the class-weighted mean's 95th percentile lies a little above
    small = sampling_unevenness(m, side="gap")
    assert 0.03 < small < 0.045
    assert sampling_unevenness(m, side="pile") > 0.03
    large = sampling_unevenness(replace(m, counts=m.counts * 100), side="gap")
    assert 0.08 < large / small < 0.12  # 100 times the labels: a tenth (square root)
    wrong = float(np.mean(m.counts.sum(1) - np.diag(m.counts)))
    shrunk = sampling_unevenness(replace(m, params={**m.params, "concentration": wrong}),
                                 side="gap")
    assert 0.4 < shrunk / small < 0.6  # shrunk halfway to an even spread
    two = fit_ladder(_sure(y % 2, 2), y % 2, resolution=0.02).models[0]
    assert sampling_unevenness(two, side="pile") == 0.0  # one wrong label a class
    with pytest.raises(NoisylabError, match="side must be"):
        sampling_unevenness(m, side="top")


def test_largest_confusion_is_the_share_taken_for_one_other_cluster():
    from noisylab.noise.ladder import largest_confusion

    assert largest_confusion(np.eye(4)[[0, 1, 2, 3, 0, 1]]) == 0.0  # one-hot: none
    # each image half in its cluster, half in the next: each cluster's images sit half in it
    # and a quarter in each neighbour
    P = np.zeros((4, 4))
    P[np.arange(4), np.arange(4)] = P[np.arange(4), (np.arange(4) + 1) % 4] = 0.5
    assert np.isclose(largest_confusion(P), 0.25)
    assert np.isclose(largest_confusion(np.full((5, 3), 1 / 3)), 1 / 3)


def test_a_model_that_reads_the_images_never_speaks_for_labels_that_ignore_them():
    # A complementary fit no different from uniform labels is still another explanation
    # (faint complementary labels, not labels with nothing to teach): both stay candidates
    from types import SimpleNamespace

    from noisylab.noise.ladder import _speaks_for

    def model(name, reading, dof):
        return SimpleNamespace(name=name, reading=reading, dof=dof)

    uniform = model("uniform", "none", 0)
    always = lambda a, b: True  # noqa: E731 - the fits predict alike
    assert not _speaks_for(model("complementary", "complementary", 1), uniform, always)
    assert not _speaks_for(model("symmetric", "dominant", 1), uniform, always)
    assert _speaks_for(model("unrelated", "none", 9), uniform, always)
    assert _speaks_for(model("asymmetric", "dominant", 2), model("symmetric", "dominant", 1),
                       always)
