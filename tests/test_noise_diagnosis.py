"""Diagnosing the kind of label noise, on ideal and on realistic (imperfect-model) predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noisylab.errors import NoisylabError
from noisylab.noise import (
    KINDS,
    RECOMMENDED_LOSS,
    complementary,
    corrupt,
    count_matrix,
    diagnose,
    diagnose_matrix,
    make_noise,
    pair_flip,
    permutation,
    simulate_pred_probs,
    symmetric,
    transition_from_labels,
    uniformity_test,
    unrelated,
)

K = 10

# (case, T, reference?, expected kind)
CASES = [
    ("clean", make_noise("clean", K), False, "clean"),
    ("symmetric 20%", symmetric(K, 0.2), False, "symmetric"),
    ("symmetric 50%", symmetric(K, 0.5), False, "symmetric"),
    ("pair-flip 30%", pair_flip(K, 0.3), False, "asymmetric"),
    ("pair-flip 45%", pair_flip(K, 0.45), False, "asymmetric"),
    ("permutation, no reference", permutation(K, seed=1), False, "clean"),
    ("permutation, reference", permutation(K, seed=1), True, "permutation"),
    ("uniform complementary", complementary(K), False, "complementary"),
    ("biased complementary", complementary(K, seed=3), False, "complementary"),
    ("unrelated", unrelated(K), False, "unrelated"),
]
IDS = [c[0] for c in CASES]


def _setup(T, N, seed=0):
    y = np.random.default_rng(seed).integers(0, T.shape[0], N)
    g, _ = corrupt(y, T, seed=seed + 1)
    return y, g


def _check(d, case, T, expected, has_ref):
    assert d.kind == expected, f"{case}: {d.kind} ({d.summary})"
    assert d.kind in KINDS
    assert 0.0 <= d.confidence <= 1.0
    if expected == "clean" and not has_ref:
        assert not d.decided and d.candidates == ("clean", "permutation")
        assert "reference" in d.summary
    if expected == "permutation":
        assert d.decided and d.recommended_loss == "relabel"
        true_of_given = np.argmax(T, axis=0)  # T[i, perm[i]] = 1
        assert np.array_equal(d.mapping, true_of_given)
    if expected == "complementary":
        assert d.keep_rate.max() < 0.01 and d.noise_rate > 0.99
        assert d.uniformity.uniform == (case == "uniform complementary")
        assert d.recommended_loss == ("scl-nl" if d.uniformity.uniform else "fwd")
    if expected in ("symmetric", "asymmetric"):
        assert abs(d.noise_rate - (1 - T[0, 0])) < 0.03
    if d.decided:
        assert d.candidates == (d.kind,)
    else:
        assert d.kind in d.candidates and len(d.candidates) > 1


@pytest.mark.parametrize("case,T,has_ref,expected", CASES, ids=IDS)
def test_kind_on_ideal_probabilities(case, T, has_ref, expected):
    y, g = _setup(T, 3000)
    T_emp = transition_from_labels(y, g, K)
    q = T_emp[y] if expected != "unrelated" else T[y]
    ref = np.eye(K)[y] if has_ref else None
    d = diagnose(q, g, reference_probs=ref)
    _check(d, case, T, expected, has_ref)


@pytest.mark.parametrize("case,T,has_ref,expected", CASES, ids=IDS)
def test_kind_on_realistic_probabilities(case, T, has_ref, expected):
    # a model that is right on 97% of images, with Dirichlet jitter on its q = T^T p outputs;
    # the reference is a weak (70% accurate) model of the true class
    y, g = _setup(T, 5000)
    Q, _ = simulate_pred_probs(y, T, accuracy=0.97, seed=2)
    ref = None
    if has_ref:
        _, ref = simulate_pred_probs(y, np.eye(K), accuracy=0.7, seed=3)
    d = diagnose(Q, g, reference_probs=ref)
    _check(d, case, T, expected, has_ref)


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
    assert d.kind == "complementary" and d.decided and d.uniformity.uniform
    assert d.recommended_loss == "scl-nl"
    assert np.abs(d.transition_matrix - T_emp).mean() <= 0.005
    assert np.abs(d.keep_rate - np.diag(T_emp)).max() <= 0.005
    assert "uniform complementary" in d.summary


def test_diagnose_matrix_on_exact_counts():
    y = np.random.default_rng(0).integers(0, K, 20000)
    for T, kind in [
        (symmetric(K, 0.3), "symmetric"),
        (pair_flip(K, 0.3), "asymmetric"),
        (complementary(K), "complementary"),
        (complementary(K, seed=1), "complementary"),
        (permutation(K, seed=2), "permutation"),
        (unrelated(K), "unrelated"),
        (np.eye(K), "clean"),
    ]:
        g, _ = corrupt(y, T, seed=3)
        C = count_matrix(y, g, K)
        d = diagnose_matrix(C / C.sum(1, keepdims=True), counts=C)
        assert d.kind == kind, (kind, d.summary)
        assert d.decided, kind
        assert d.recommended_loss in set(RECOMMENDED_LOSS.values()) | {"fwd"}


def test_a_regime_tie_names_the_other_reading_of_the_labels():
    # Complementary-regime estimate from little data: one keep rate reaches 1/K, so the kind
    # is asymmetric; a near tie of the regimes must then offer "complementary", never the
    # kind itself again.
    T = complementary(K).copy()
    T[0] = 0.9 * T[0]
    T[0, 0] += 0.1 + 0.01
    T[0] /= T[0].sum()
    assert T[0, 0] >= 1.0 / K
    tie = {"complementary": 1.0, "dominant": 0.95}
    d = diagnose_matrix(T, regime="complementary", regime_scores=tie)
    assert d.kind == "asymmetric" and not d.decided
    assert d.candidates == ("asymmetric", "complementary")
    assert "barely prefers this to complementary labels" in d.summary
    d = diagnose_matrix(complementary(K), regime="complementary", regime_scores=tie)
    assert d.kind == "complementary" and not d.decided
    assert d.candidates[0] == "complementary" and "asymmetric" in d.candidates
    assert len(set(d.candidates)) == len(d.candidates)


def test_two_classes_complementary_is_a_permutation():
    # with K = 2, "never the true class" is the swap: a renaming
    d = diagnose_matrix(complementary(2))
    assert d.kind == "permutation" and np.array_equal(d.mapping, [1, 0])


def test_uniformity_test():
    C = np.full((5, 5), 200.0)
    np.fill_diagonal(C, 800)
    u = uniformity_test(C / C.sum(1, keepdims=True), C)
    assert u.uniform and u.pvalue > 0.5 and u.distance < 1e-12
    P = pair_flip(5, 0.3) * 1000
    u = uniformity_test(P / 1000, P)
    assert not u.uniform and u.pvalue < 1e-10 and u.distance > 0.7


def test_summary_and_dict_are_plain():
    y, g = _setup(complementary(K), 3000)
    Q, _ = simulate_pred_probs(y, complementary(K), seed=2)
    d = diagnose(Q, g)
    text = json.dumps(d.to_dict())
    assert '"kind": "complementary"' in text
    assert "\n" not in d.summary and len(d.summary) > 100


def test_bad_options_give_clear_errors():
    q = np.full((10, 3), 1 / 3)
    g = np.arange(10) % 3
    with pytest.raises(NoisylabError, match="regime='best' is not valid"):
        diagnose(q, g, regime="best")
    with pytest.raises(NoisylabError, match="clean_tol"):
        diagnose(q, g, clean_tol=2)
    with pytest.raises(NoisylabError, match="alpha"):
        diagnose_matrix(np.eye(3), alpha=1.5)
    with pytest.raises(NoisylabError, match="counts"):
        diagnose_matrix(np.eye(3), counts=np.ones((2, 2)))
