"""Transition-matrix estimators: exact counts, reference model, out-of-sample predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisylab.errors import NoisylabError
from noisylab.noise import (
    complementary,
    corrupt,
    estimate_transition,
    estimate_transition_matrix,
    independence_test,
    make_noise,
    pair_flip,
    permutation,
    save_transition,
    simulate_pred_probs,
    symmetric,
    transition_from_labels,
    transition_from_reference,
    true_class_probs,
    unrelated,
)


def _data(T, N, seed=0, exact=False):
    K = T.shape[0]
    y = np.random.default_rng(seed).integers(0, K, N)
    g, _ = corrupt(y, T, seed=seed + 1, exact=exact)
    return y, g


def test_transition_from_labels_counts_exactly():
    true = [0, 0, 0, 1, 1, 2]
    given = [0, 1, 1, 1, 0, 2]
    T = transition_from_labels(true, given, 4)
    assert np.allclose(T[0], [1 / 3, 2 / 3, 0, 0])
    assert np.allclose(T[1], [0.5, 0.5, 0, 0])
    assert np.allclose(T[3], [0, 0, 0, 1])  # no samples: identity row
    with pytest.raises(NoisylabError, match="entries"):
        transition_from_labels([0, 1], [0], 2)


IDEAL_KINDS = [
    ("clean", make_noise("clean", 6)),
    ("symmetric 20%", symmetric(6, 0.2)),
    ("symmetric 50%", symmetric(6, 0.5)),
    ("pair-flip 30%", pair_flip(6, 0.3)),
    ("pair-flip 45%", pair_flip(6, 0.45)),
    ("complementary", complementary(6)),
    ("biased complementary", complementary(6, seed=4)),
]


@pytest.mark.parametrize("name,T", IDEAL_KINDS, ids=[n for n, _ in IDEAL_KINDS])
def test_exact_recovery_on_ideal_probabilities(name, T):
    y, g = _data(T, 3000)
    T_emp = transition_from_labels(y, g, 6)
    est = estimate_transition(T_emp[y], g)  # q(x) = T[true(x)]: the model knows the noise
    assert np.allclose(est.matrix, T_emp, atol=1e-4), name
    assert np.array_equal(est.posterior.argmax(1)[g != y], y[g != y])


def test_exact_recovery_of_a_permutation_needs_a_reference():
    T = permutation(5, seed=2)
    y, g = _data(T, 2000)
    q = T[y]
    ref = np.eye(5)[y]
    assert np.allclose(estimate_transition(q, g, reference_probs=ref).matrix, T)
    # without one, the renamed classes look clean
    assert np.allclose(estimate_transition(q, g).matrix, np.eye(5))


def test_unrelated_labels_give_equal_rows():
    T = unrelated(4, prior=[1, 2, 3, 4])
    y, g = _data(T, 4000)
    est = estimate_transition(T[y], g)
    marginal = np.bincount(g, minlength=4) / g.size
    assert np.allclose(est.matrix, np.tile(marginal, (4, 1)))
    assert est.independence.pvalue > 0.5 and est.n_iter == 0


def test_regime_selection_and_override():
    T = complementary(5)
    y, g = _data(T, 3000)
    Q, _ = simulate_pred_probs(y, T, seed=3)
    assert estimate_transition(Q, g).regime == "complementary"
    assert estimate_transition(Q, g, regime="dominant").regime == "dominant"
    T = symmetric(5, 0.3)
    y, g = _data(T, 3000)
    Q, _ = simulate_pred_probs(y, T, seed=3)
    est = estimate_transition(Q, g)
    assert est.regime == "dominant"
    assert est.regime_scores["dominant"] > est.regime_scores["complementary"]


@pytest.mark.parametrize(
    "T",
    [complementary(10), complementary(10, seed=3), symmetric(10, 0.2), pair_flip(10, 0.45)],
    ids=["complementary", "biased complementary", "symmetric 20%", "pair-flip 45%"],
)
def test_realistic_model_estimates_within_target(T):
    # a 97%-accurate, jittery model; the targets the real audit needs
    y, g = _data(T, 8000)
    T_emp = transition_from_labels(y, g, 10)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=5)
    est = estimate_transition(Q, g)
    assert np.abs(est.matrix - T_emp).mean() <= 0.005
    assert np.abs(np.diag(est.matrix) - np.diag(T_emp)).max() <= 0.02
    if T[0, 0] == 0:  # complementary: the tight target on the keep rate
        assert np.abs(np.diag(est.matrix) - np.diag(T_emp)).max() <= 0.005
    assert (est.posterior.argmax(1) == y).mean() >= 0.96


def test_refinement_beats_the_plain_count_on_complementary_labels():
    T = complementary(10)
    y, g = _data(T, 8000)
    T_emp = transition_from_labels(y, g, 10)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=5)
    hard = estimate_transition(Q, g, refine=False).matrix
    soft = estimate_transition(Q, g).matrix
    keep_err = lambda M: np.abs(np.diag(M) - np.diag(T_emp)).max()  # noqa: E731
    assert keep_err(soft) < keep_err(hard)
    assert keep_err(hard) > 0.002  # the bias the refinement removes is real


def test_weak_reference_maps_permuted_classes():
    T = permutation(10, seed=1) @ symmetric(10, 0.1)  # renamed, then 10% symmetric noise
    y, g = _data(T, 6000)
    T_emp = transition_from_labels(y, g, 10)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=2)
    _, ref = simulate_pred_probs(y, np.eye(10), accuracy=0.7, seed=3)
    est = estimate_transition(Q, g, reference_probs=ref)
    assert 0.6 < est.reference_agreement < 0.8
    assert np.abs(est.matrix - T_emp).mean() < 0.005


def test_transition_from_reference_is_unbiased_for_a_calibrated_reference():
    T = pair_flip(5, 0.3)
    y, g = _data(T, 20000)
    T_emp = transition_from_labels(y, g, 5)
    _, ref = simulate_pred_probs(y, np.eye(5), accuracy=0.85, concentration=None, seed=7)
    hard = transition_from_reference(ref, g, refine=False)
    em = transition_from_reference(ref, g)
    assert np.abs(em - T_emp).mean() < np.abs(hard - T_emp).mean()
    assert np.abs(em - T_emp).max() < 0.05


@settings(max_examples=12, deadline=None)
@given(
    K=st.integers(3, 6),
    kind=st.sampled_from(["symmetric", "pair_flip", "complementary", "biased_complementary"]),
    rate=st.floats(0.05, 0.45),
    seed=st.integers(0, 1000),
)
def test_relabelling_classes_permutes_the_estimate(K, kind, rate, seed):
    T = make_noise(kind, K, rate=rate, seed=seed)
    y, g = _data(T, 1500, seed=seed)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.95, seed=seed)
    sigma = np.random.default_rng(seed).permutation(K)
    inv = np.argsort(sigma)
    a = estimate_transition(Q, g).matrix
    b = estimate_transition(Q[:, inv], sigma[g]).matrix  # class i is now called sigma[i]
    assert np.allclose(b[np.ix_(sigma, sigma)], a, atol=1e-6)
    assert np.allclose(a.sum(1), 1) and a.min() >= 0


@settings(max_examples=15, deadline=None)
@given(N=st.integers(1, 300), K=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_rows_sum_to_one_on_arbitrary_input(N, K, seed):
    rng = np.random.default_rng(seed)
    Q = rng.dirichlet(np.full(K, 0.5), N)
    g = rng.integers(0, K, N)
    est = estimate_transition(Q, g)
    assert est.matrix.shape == (K, K)
    assert np.allclose(est.matrix.sum(1), 1) and est.matrix.min() >= 0
    assert np.allclose(est.posterior.sum(1), 1)


def test_true_class_probs_inverts_an_invertible_matrix():
    T = symmetric(4, 0.3)
    P = np.random.default_rng(0).dirichlet(np.ones(4), 50)
    assert np.allclose(true_class_probs(P @ T, T), P, atol=1e-8)


def test_independence_test_separates_related_from_unrelated():
    rng = np.random.default_rng(0)
    parts = rng.integers(0, 4, 5000)
    assert independence_test(parts, rng.integers(0, 4, 5000), 4).pvalue > 0.001
    assert independence_test(parts, parts, 4).pvalue < 1e-10


def test_bad_options_give_clear_errors():
    Q = np.full((4, 3), 1 / 3)
    g = np.array([0, 1, 2, 0])
    with pytest.raises(NoisylabError, match="regime='argmin' is not valid: choose one of"):
        estimate_transition(Q, g, regime="argmin")
    with pytest.raises(NoisylabError, match="shape"):
        estimate_transition(Q[:, :1], g)
    with pytest.raises(NoisylabError, match="sum to 1"):
        estimate_transition(Q * 2, g)
    with pytest.raises(NoisylabError, match="not logits"):
        estimate_transition(Q - 0.5, g)
    with pytest.raises(NoisylabError, match="class indices"):
        estimate_transition(Q, [0, 1, 2, 3])
    with pytest.raises(NoisylabError, match="rows"):
        estimate_transition(Q, g[:3])
    with pytest.raises(NoisylabError, match="reference_probs"):
        estimate_transition(Q, g, reference_probs=Q[:2])
    with pytest.raises(NoisylabError, match="alpha"):
        estimate_transition(Q, g, alpha=0)
    with pytest.raises(NoisylabError, match="max_iter"):
        estimate_transition(Q, g, max_iter=0)
    assert estimate_transition_matrix(Q, g).shape == (3, 3)


def test_save_transition_writes_what_training_reads(tmp_path):
    path = tmp_path / "T.json"
    save_transition(path, symmetric(3, 0.3), classes=["a", "b", "c"])
    content = json.loads(path.read_text())
    assert content["classes"] == ["a", "b", "c"]
    assert np.allclose(content["matrix"], symmetric(3, 0.3))
    with pytest.raises(NoisylabError, match="names"):
        save_transition(path, symmetric(3, 0.3), classes=["a"])


def test_golden_search_finds_the_maximum_and_resolves_a_flat_stretch_upwards():
    from noisylab.noise.transition import _golden_max

    assert abs(_golden_max(lambda x: -(x - 0.3) ** 2, 0.0, 1.0, n=30) - 0.3) < 1e-3
    # flat but for rounding noise in either direction: not rounding but the rule decides
    noise = iter(np.random.default_rng(0).normal(0, 1e-14, 100))
    assert _golden_max(lambda x: -0.85 + next(noise), 0.0, 1.0) > 0.95
