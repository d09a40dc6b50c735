"""Building transition matrices and corrupting labels with them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisylab.errors import NoisylabError
from noisylab.noise import (
    NOISE_KINDS,
    complementary,
    corrupt,
    make_noise,
    pair_flip,
    permutation,
    simulate_pred_probs,
    symmetric,
    transition_from_labels,
    unrelated,
)


def _is_stochastic(T: np.ndarray) -> bool:
    return T.ndim == 2 and T.shape[0] == T.shape[1] and T.min() >= 0 and np.allclose(T.sum(1), 1)


@settings(max_examples=40, deadline=None)
@given(K=st.integers(2, 12), rate=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_every_builder_gives_rows_summing_to_one(K, rate, seed):
    for T in (
        symmetric(K, rate),
        pair_flip(K, rate),
        permutation(K, seed=seed),
        complementary(K),
        complementary(K, seed=seed),
        unrelated(K),
    ):
        assert _is_stochastic(T)


def test_symmetric_and_pair_flip_structure():
    T = symmetric(5, 0.2)
    assert np.allclose(np.diag(T), 0.8)
    assert np.allclose(T[~np.eye(5, dtype=bool)], 0.05)
    P = pair_flip(4, 0.3)
    assert np.allclose(np.diag(P), 0.7)
    assert np.allclose(P[np.arange(4), (np.arange(4) + 1) % 4], 0.3)


def test_permutation_is_a_derangement_or_the_given_perm():
    T = permutation(6, seed=3)
    assert np.all(T.sum(0) == 1) and np.all(np.diag(T) == 0)
    T = permutation(3, perm=[2, 0, 1])
    assert T[0, 2] == T[1, 0] == T[2, 1] == 1
    with pytest.raises(NoisylabError, match="permutation"):
        permutation(3, perm=[0, 0, 1])


def test_complementary_uniform_and_biased():
    U = complementary(10)
    assert np.all(np.diag(U) == 0)
    assert np.allclose(U[~np.eye(10, dtype=bool)], 1 / 9)
    B = complementary(10, seed=1)
    off = B[~np.eye(10, dtype=bool)]
    assert np.all(np.diag(B) == 0) and off.min() > 0 and off.std() > 0.01
    W = np.arange(16.0).reshape(4, 4) + 1
    assert np.allclose(complementary(4, weights=W)[0, 1:], W[0, 1:] / W[0, 1:].sum())
    with pytest.raises(NoisylabError, match="positive"):
        complementary(3, weights=-np.ones((3, 3)))


def test_unrelated_rows_are_the_prior():
    T = unrelated(3, prior=[1, 1, 2])
    assert np.allclose(T, [[0.25, 0.25, 0.5]] * 3)


def test_corrupt_matches_the_requested_matrix_at_large_n():
    K, N = 5, 200_000
    y = np.random.default_rng(0).integers(0, K, N)
    for T in (symmetric(K, 0.3), pair_flip(K, 0.45), complementary(K, seed=2), unrelated(K)):
        given, used = corrupt(y, T, seed=1)
        assert np.allclose(used, T)
        emp = transition_from_labels(y, given, K)
        # each row has ~40,000 samples: standard error <= 0.0025
        assert np.abs(emp - T).max() < 0.012


def test_corrupt_exact_hits_the_matrix_up_to_rounding():
    y = np.repeat(np.arange(4), 1000)
    T = complementary(4, seed=0)
    given, _ = corrupt(y, T, seed=0, exact=True)
    assert np.abs(transition_from_labels(y, given, 4) - T).max() <= 1 / 1000


def test_corrupt_rejects_bad_input():
    with pytest.raises(NoisylabError, match="sum to 1"):
        corrupt([0, 1], [[0.5, 0.4], [0, 1]])
    with pytest.raises(NoisylabError, match="class indices"):
        corrupt([0, 3], symmetric(3, 0.1))


def test_make_noise_names_and_errors():
    for kind in NOISE_KINDS:
        assert _is_stochastic(make_noise(kind, 4, rate=0.2, seed=1))
    with pytest.raises(NoisylabError, match="kind='sym' is not valid: choose one of"):
        make_noise("sym", 4, rate=0.2)
    with pytest.raises(NoisylabError, match="needs rate="):
        make_noise("symmetric", 4)
    with pytest.raises(NoisylabError, match="rate"):
        symmetric(4, 1.5)
    with pytest.raises(NoisylabError, match="K must be an integer"):
        symmetric(1, 0.1)


def test_simulated_model_hits_its_accuracy():
    y = np.random.default_rng(0).integers(0, 10, 5000)
    Q, P = simulate_pred_probs(y, complementary(10), accuracy=0.9, seed=0)
    assert abs((P.argmax(1) == y).mean() - 0.9) < 0.002
    assert np.allclose(Q.sum(1), 1) and np.allclose(P.sum(1), 1)
    # calibrated on average: mean confidence equals accuracy
    assert abs(P.max(1).mean() - 0.9) < 0.01
