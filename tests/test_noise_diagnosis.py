"""Noise models chosen by likelihood: kinds, readings the labels cannot tell apart, intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noisylab.errors import NoisylabError
from noisylab.noise import (
    KINDS,
    RECOMMENDED_LOSS,
    NoiseEstimator,
    choose_to_verify,
    complementary,
    corrupt,
    count_matrix,
    diagnose,
    diagnose_matrix,
    fit_ladder,
    make_noise,
    pair_flip,
    permutation,
    reading_posterior,
    simulate_pred_probs,
    symmetric,
    transition_from_labels,
    unrelated,
    weigh_readings,
)

K = 10

# (case, T, reference?, expected kind, expected candidates)
CASES = [
    ("clean", make_noise("clean", K), False, "clean", ("clean", "permutation")),
    ("symmetric 20%", symmetric(K, 0.2), False, "symmetric", ("symmetric",)),
    ("symmetric 50%", symmetric(K, 0.5), False, "symmetric", ("symmetric",)),
    ("pair-flip 30%", pair_flip(K, 0.3), False, "pair-flip", ("pair-flip",)),
    ("pair-flip 45%", pair_flip(K, 0.45), False, "pair-flip", ("pair-flip",)),
    ("permutation, no reference", permutation(K, seed=1), False, "clean",
     ("clean", "permutation")),
    ("permutation, reference", permutation(K, seed=1), True, "permutation", ("permutation",)),
    ("uniform complementary", complementary(K), False, "complementary", ("complementary",)),
    ("biased complementary", complementary(K, seed=3), False, "biased-complementary",
     ("biased-complementary",)),
    ("two partners a class", None, False, None, {"asymmetric", "biased-complementary"}),
    ("biased complementary, reference", complementary(K, seed=3), True, "biased-complementary",
     ("biased-complementary",)),
    # predictions of a model trained on unrelated labels are flat: they cannot show that the
    # labels are not clean ones a blind model failed to learn, so other readings stay open
    ("unrelated", unrelated(K), False, "unrelated", ...),
]
IDS = [c[0] for c in CASES]


def two_partners(k: int = K) -> np.ndarray:
    """Mostly right (45-85% by class), the wrong labels on two other classes: no simpler model
    fits, and a free matrix fits the clusters read as dominant or as complementary alike."""
    T = np.zeros((k, k))
    keep = np.linspace(0.45, 0.85, k)
    for i in range(k):
        T[i, i], T[i, (i + 1) % k], T[i, (i + 4) % k] = keep[i], 0.6 * (1 - keep[i]), \
            0.4 * (1 - keep[i])
    return T


def _setup(T, N, seed=0):
    y = np.random.default_rng(seed).integers(0, T.shape[0], N)
    g, _ = corrupt(y, T, seed=seed + 1)
    return y, g


def _check(d, case, T, kind, candidates):
    assert d.kind in KINDS
    if kind is not None:
        assert d.kind == kind, f"{case}: {d.kind} {d.candidates} ({d.summary})"
    if candidates is ...:
        assert d.candidates[0] == kind, f"{case}: {d.candidates} ({d.summary})"
    elif isinstance(candidates, set):
        assert set(d.candidates) == candidates and not d.decided
        assert d.recommended_loss is None  # the readings call for different losses
        assert "--verify" in d.what_decides
        namings = {tuple(r.naming) for r in d.readings}
        assert len(namings) == 2  # the two readings name the clusters differently
    else:
        assert d.candidates == candidates, f"{case}: {d.candidates} ({d.summary})"
    assert 0.0 <= d.confidence <= 1.0 and d.confidence > 0.5
    if d.decided:
        assert d.recommended_loss == RECOMMENDED_LOSS[d.kind] and d.what_decides == ""
    if kind == "permutation":
        assert np.array_equal(d.mapping, np.argmax(T, axis=0))
    if kind in ("symmetric", "pair-flip"):
        assert abs(d.noise_rate - (1 - T[0, 0])) < 0.03
    if kind in ("complementary", "biased-complementary"):
        assert d.keep_rate.max() < 0.01


@pytest.mark.parametrize("case,T,has_ref,kind,candidates", CASES, ids=IDS)
def test_kind_on_realistic_probabilities(case, T, has_ref, kind, candidates):
    # a model right on 97% of images, with Dirichlet jitter on its q = T^T p outputs;
    # the reference is a weak (70% accurate) model of the true class
    T = two_partners() if T is None else T
    y, g = _setup(T, 5000)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=2)
    ref = None
    if has_ref:
        _, ref = simulate_pred_probs(y, np.eye(K), accuracy=0.7, seed=3)
    _check(diagnose(Q, g, reference_probs=ref), case, T, kind, candidates)


def test_the_two_readings_of_a_free_matrix_each_imply_their_own_matrix():
    T = two_partners()
    y, g = _setup(T, 6000)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=2)
    est = NoiseEstimator().fit(Q, g)
    dom, comp = sorted(est.diagnosis_.readings, key=lambda r: r.kind != "asymmetric")
    T_emp = transition_from_labels(y, g, K)
    assert np.abs(dom.transition_matrix - T_emp).mean() < 0.005  # the right reading
    assert comp.keep_rate.max() < 0.01  # the other: each cluster's least given label
    assert comp.recommended_loss == "fwd" and dom.recommended_loss == "forward"
    # the labels cannot tell: neither reading is clearly worse
    assert min(comp.probability, dom.probability) * 20 > max(comp.probability, dom.probability)


def test_many_classes_few_images_find_the_pair_structure():
    # 62 classes, 40 images each, 20% of each class given the next one
    T = pair_flip(62, 0.2)
    y = np.repeat(np.arange(62), 40)
    g, _ = corrupt(y, T, seed=1)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.9, seed=2)
    d = diagnose(Q, g)
    assert d.kind == "pair-flip" and d.decided, d.summary
    partner = np.array(d.readings[0].params["partner"])
    assert np.mean(partner == (np.arange(62) + 1) % 62) > 0.9


def test_mnist_task3_like_complementary_meets_the_audit_targets():
    # the real mnistTask3: uniform complementary with 6 kept labels per class of ~6000
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, 20000)
    T = np.full((K, K), 0.999 / (K - 1))
    np.fill_diagonal(T, 0.001)
    g, _ = corrupt(y, T, seed=1, exact=True)
    T_emp = transition_from_labels(y, g, K)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.975, seed=2)
    d = diagnose(Q, g)
    assert d.kind == "complementary" and d.decided
    assert d.recommended_loss == "scl-nl"
    assert np.abs(d.transition_matrix - T_emp).mean() <= 0.005
    assert np.abs(d.keep_rate - np.diag(T_emp)).max() <= 0.005


def test_bootstrap_intervals_cover_the_realised_matrix():
    T = symmetric(K, 0.3)
    y, g = _setup(T, 4000, seed=5)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=6)
    d = diagnose(Q, g, bootstrap_replicates=30)
    iv = d.intervals
    truth = transition_from_labels(y, g, K)
    inside = (iv.transition[0] - 1e-9 <= truth) & (truth <= iv.transition[1] + 1e-9)
    assert inside.mean() > 0.8
    true_noise = float(np.mean(g != y))
    assert iv.noise_rate[0] - 0.01 <= true_noise <= iv.noise_rate[1] + 0.01
    assert 0.5 < d.confidence <= 1.0 and d.confidence == iv.kind_probability
    lo, hi = iv.kind_probability_interval
    assert 0.0 <= lo <= hi <= 1.0 and 0.0 <= iv.selected_share <= 1.0
    assert np.all(iv.transition[0] <= iv.transition[1])


def test_intervals_hold_the_spread_when_sure_predictions_say_nothing_of_the_labels():
    # Labels unrelated to the images, predictions sure of classes that have nothing to do with
    # them: which image is which class is all but unknown, and so is the realised matrix.
    # Drawn from the sure predictions themselves, the intervals would hug one arbitrary
    # realisation and hold about a tenth of its entries.
    rng = np.random.default_rng(11)
    y = rng.integers(0, K, 1000)
    g = rng.integers(0, K, 1000)
    Q = np.full((1000, K), 1e-5)
    Q[np.arange(1000), rng.integers(0, K, 1000)] = 1.0
    Q /= Q.sum(1, keepdims=True)
    d = diagnose(Q, g, bootstrap_replicates=30)
    assert d.kind == "unrelated"
    truth = transition_from_labels(y, g, K)
    lo, hi = d.intervals.transition
    assert ((lo - 1e-9 <= truth) & (truth <= hi + 1e-9)).mean() >= 0.8


def test_diagnose_matrix_on_exact_counts():
    y = np.random.default_rng(0).integers(0, K, 20000)
    for T, kind in [
        (symmetric(K, 0.3), "symmetric"),
        (pair_flip(K, 0.3), "pair-flip"),
        (complementary(K), "complementary"),
        (complementary(K, seed=1), "biased-complementary"),
        (permutation(K, seed=2), "permutation"),
        (unrelated(K), "unrelated"),
        (np.eye(K), "clean"),
    ]:
        g, _ = corrupt(y, T, seed=3)
        C = count_matrix(y, g, K)
        d = diagnose_matrix(C / C.sum(1, keepdims=True), counts=C)
        assert d.kind == kind and d.decided, (kind, d.candidates, d.summary)


def test_two_classes_complementary_is_a_permutation():
    # with K = 2, "never the true class" is the swap: a renaming
    d = diagnose_matrix(complementary(2))
    assert d.kind == "permutation" and np.array_equal(d.mapping, [1, 0])


def test_ladder_reports_every_model_with_its_evidence():
    T = symmetric(K, 0.2)
    y, g = _setup(T, 3000)
    C = count_matrix(y, g, K)
    lad = fit_ladder(np.eye(K)[y], g, cluster_counts=C, has_reference=True, p_dof=0)
    names = {m.name for m in lad.models}
    assert {"clean", "symmetric", "pair-flip", "complementary", "asymmetric", "unrelated",
            "biased-complementary"} <= names  # permutation: Hungarian found the identity
    assert abs(sum(m.probability for m in lad.models) - 1) < 1e-9
    assert lad.selected.name == "symmetric" and lad.log_odds > np.log(20)
    free = next(m for m in lad.models if m.name == "asymmetric")
    assert free.loglik >= lad.selected.loglik - 1e-6  # more parameters never fit worse


def test_summary_and_dict_are_plain():
    y, g = _setup(complementary(K), 3000)
    Q, _ = simulate_pred_probs(y, complementary(K), seed=2)
    d = diagnose(Q, g, bootstrap_replicates=5)
    text = json.dumps(d.to_dict())
    assert '"kind": "complementary"' in text and '"intervals"' in text
    assert "\n" not in d.summary and len(d.summary) > 100


def test_bad_options_give_clear_errors():
    q = np.full((10, 3), 1 / 3)
    g = np.arange(10) % 3
    with pytest.raises(NoisylabError, match="regime='best' is not valid"):
        diagnose(q, g, regime="best")
    with pytest.raises(NoisylabError, match="counts"):
        diagnose_matrix(np.eye(3), counts=np.ones((2, 2)))
    with pytest.raises(NoisylabError, match="bootstrap"):
        NoiseEstimator(bootstrap=-1).fit(q, g)


def test_a_few_verified_labels_decide_between_the_readings():
    T = two_partners()
    y, g = _setup(T, 6000)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=2)
    est = NoiseEstimator().fit(Q, g)
    d = est.diagnosis_
    assert not d.decided and d.labels_needed is not None and d.labels_needed <= 3
    posts = [reading_posterior(est.estimate_, d, i) for i in range(len(d.readings))]
    pick = choose_to_verify(posts, 3)
    assert len(set(pick.tolist())) == 3
    est.apply_verified(pick, y[pick])  # a person who knows the true classes
    d = est.diagnosis_
    assert d.decided and d.kind == "asymmetric" and d.recommended_loss == "forward"
    assert d.verified["n"] == 3 and d.confidence > 0.99
    assert d.verified["agree"] == 3 and "agrees with 3 of them" in d.summary
    assert "times less likely than 'asymmetric'" in d.summary
    assert np.mean(est.suggested_labels_ == y) > 0.95
    # once decided, more labels have no reading to weigh; the summary says how far they agree
    K = T.shape[0]
    again = est.apply_verified(pick, (y[pick] + 1) % K).diagnosis_
    assert again.verified["agree"] == 0 and "no other reading was open" in again.summary
    assert again.verified["expected_agree"] > 2.5  # it was sure of these: the person disagrees
    # labels that name each image's cluster by its least given label settle the other reading
    other = NoiseEstimator().fit(Q, g)
    comp = next(r for r in other.diagnosis_.readings if r.kind == "biased-complementary")
    other.apply_verified(pick, comp.naming[np.argmax(other.estimate_.true_probs[pick], 1)])
    assert other.diagnosis_.kind == "biased-complementary" and other.diagnosis_.decided


def test_weigh_readings_allows_for_a_mistaken_label():
    R_a = np.eye(3)[[0, 1, 2, 0]]
    R_b = np.eye(3)[[1, 2, 0, 1]]
    p, ll = weigh_readings([R_a, R_b], np.arange(4), np.array([0, 1, 2, 1]), np.array([0.5, 0.5]))
    assert np.isfinite(ll).all() and p[0] > 0.99  # three agree with a, one mistake is forgiven


def test_readings_no_verified_labels_can_separate_say_what_would_instead():
    # Complementary labels drawn with weights in [0.8, 1], seen through a model 85% right:
    # biased and uniform complementary stay open, and they agree on every image's class
    K = 10
    y = np.random.default_rng(1).integers(0, K, 20000)
    T = complementary(K, weights=np.random.default_rng(2).uniform(0.8, 1.0, (K, K)))
    g, _ = corrupt(y, T, seed=11)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.85, seed=3)
    d = NoiseEstimator().fit(Q, g).diagnosis_
    assert set(d.candidates) == {"biased-complementary", "complementary"}
    assert d.labels_needed is None
    assert "Verified labels would hardly tell" in d.what_decides
    assert "a few images" not in d.summary and d.what_decides in d.summary
