"""Build label-noise transition matrices and apply them to labels.

Every matrix here means ``T[i, j] = P(given = j | true = i)``: rows are true classes, columns
given labels, and each row sums to 1. :func:`corrupt` draws given labels from the rows of ``T``.

Kinds of noise
--------------
``symmetric``      keep with probability ``1 - rate``, else a uniformly chosen *other* class.
``pair_flip``      keep with probability ``1 - rate``, else the next class ``(i + 1) mod K``.
``permutation``    every class is renamed: true ``i`` is always given ``perm[i]``.
``complementary``  the given label is never the true class (zero diagonal); uniform over the
                   other classes, or biased by positive off-diagonal weights.
``unrelated``      the given label ignores the image: every row is the same ``prior``.
"""

from __future__ import annotations

import numpy as np

from noisylab.errors import NoisylabError
from noisylab.noise._validation import (
    check_labels,
    check_num_classes,
    check_option,
    check_rate,
    check_transition,
)

__all__ = [
    "NOISE_KINDS",
    "clean",
    "complementary",
    "corrupt",
    "make_noise",
    "pair_flip",
    "permutation",
    "simulate_pred_probs",
    "symmetric",
    "unrelated",
]


def clean(K: int) -> np.ndarray:
    """The identity: every label is right. Shape ``(K, K)``."""
    return np.eye(check_num_classes(K))


def symmetric(K: int, rate: float) -> np.ndarray:
    """Symmetric (uniform) noise, shape ``(K, K)``.

    ``T[i, i] = 1 - rate`` and ``T[i, j] = rate / (K - 1)`` for ``j != i``. ``rate`` is the
    probability that a label is wrong; ``rate = (K - 1) / K`` makes labels unrelated to the image
    and ``rate = 1`` is uniform complementary.
    """
    K = check_num_classes(K)
    rate = check_rate(rate)
    T = np.full((K, K), rate / (K - 1))
    np.fill_diagonal(T, 1.0 - rate)
    return T


def pair_flip(K: int, rate: float) -> np.ndarray:
    """Pair-flip noise, shape ``(K, K)``: true ``i`` is given ``(i + 1) mod K`` with probability ``rate``."""
    K = check_num_classes(K)
    rate = check_rate(rate)
    T = np.eye(K) * (1.0 - rate)
    T[np.arange(K), (np.arange(K) + 1) % K] += rate
    return T


def permutation(K: int, *, seed: int | None = None, perm: object = None) -> np.ndarray:
    """A renaming of whole classes, shape ``(K, K)``: ``T[i, perm[i]] = 1``.

    Parameters
    ----------
    K : int
        Number of classes.
    seed : int, optional
        Draw a random *derangement* (no class keeps its name) with this seed. Ignored when
        ``perm`` is given; without either, the shift ``perm[i] = (i + 1) mod K`` is used.
    perm : array-like of int, shape ``(K,)``, optional
        ``perm[i]`` is the label given to every sample of true class ``i``.
    """
    K = check_num_classes(K)
    if perm is not None:
        p = check_labels(perm, "perm", K)
        if p.shape[0] != K or np.unique(p).size != K:
            raise NoisylabError(f"perm must be a permutation of 0..{K - 1}, got {p.tolist()}")
    elif seed is not None:
        rng = np.random.default_rng(seed)
        p = rng.permutation(K)
        while np.any(p == np.arange(K)):
            p = rng.permutation(K)
    else:
        p = (np.arange(K) + 1) % K
    T = np.zeros((K, K))
    T[np.arange(K), p] = 1.0
    return T


def complementary(K: int, *, weights: object = None, seed: int | None = None) -> np.ndarray:
    """Complementary labels, shape ``(K, K)``: the given label is never the true class.

    Parameters
    ----------
    K : int
        Number of classes.
    weights : array-like, shape ``(K, K)``, optional
        Positive off-diagonal weights; row ``i`` is normalised over ``j != i`` (the diagonal of
        ``weights`` is ignored). Gives *biased* complementary labels.
    seed : int, optional
        Without ``weights``: draw biased weights uniformly in ``[0.25, 1]`` with this seed (so
        off-diagonal entries differ by up to a factor of 4). Without ``weights`` or ``seed`` the
        labels are *uniform* complementary: ``T[i, j] = 1 / (K - 1)`` for ``j != i``.
    """
    K = check_num_classes(K)
    off = ~np.eye(K, dtype=bool)
    if weights is not None:
        W = np.asarray(weights, dtype=np.float64)
        if W.shape != (K, K):
            raise NoisylabError(f"weights must have shape ({K}, {K}), got {W.shape}")
        if not np.all(np.isfinite(W[off])) or np.any(W[off] <= 0):
            raise NoisylabError("complementary weights must be positive off the diagonal")
    elif seed is not None:
        W = np.random.default_rng(seed).uniform(0.25, 1.0, size=(K, K))
    else:
        W = np.ones((K, K))
    W = np.where(off, W, 0.0)
    return W / W.sum(axis=1, keepdims=True)


def unrelated(K: int, *, prior: object = None) -> np.ndarray:
    """Labels that ignore the image, shape ``(K, K)``: every row is ``prior`` (default uniform)."""
    K = check_num_classes(K)
    if prior is None:
        p = np.full(K, 1.0 / K)
    else:
        p = np.asarray(prior, dtype=np.float64)
        if p.shape != (K,) or not np.all(np.isfinite(p)) or p.min() < 0 or p.sum() <= 0:
            raise NoisylabError(f"prior must be {K} nonnegative numbers with a positive sum")
        p = p / p.sum()
    return np.tile(p, (K, 1))


#: Names accepted by :func:`make_noise`.
NOISE_KINDS = (
    "clean",
    "symmetric",
    "pair_flip",
    "permutation",
    "complementary",
    "biased_complementary",
    "unrelated",
)


def make_noise(
    kind: str, K: int, *, rate: float | None = None, seed: int | None = None
) -> np.ndarray:
    """A transition matrix of a named kind, shape ``(K, K)``.

    Parameters
    ----------
    kind : str
        One of :data:`NOISE_KINDS`. ``"symmetric"`` and ``"pair_flip"`` need ``rate``;
        ``"permutation"`` draws a derangement from ``seed`` (the shift ``i -> i + 1`` without one);
        ``"biased_complementary"`` draws its weights from ``seed`` (default 0).
    K : int
        Number of classes.
    rate : float, optional
        Probability that a label is wrong (symmetric, pair_flip).
    seed : int, optional
        Seed for the random kinds.
    """
    kind = check_option(kind, "kind", NOISE_KINDS)
    if kind in ("symmetric", "pair_flip"):
        if rate is None:
            raise NoisylabError(
                f"make_noise({kind!r}) needs rate=, the probability a label is wrong"
            )
        return symmetric(K, rate) if kind == "symmetric" else pair_flip(K, rate)
    if kind == "clean":
        return clean(K)
    if kind == "permutation":
        return permutation(K, seed=seed)
    if kind == "complementary":
        return complementary(K)
    if kind == "biased_complementary":
        return complementary(K, seed=0 if seed is None else seed)
    return unrelated(K)


def _apportion(n: int, p: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``n`` closest to ``n * p`` (largest remainders)."""
    raw = n * p
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def corrupt(
    labels: object,
    T: object,
    *,
    seed: int | None = None,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw given labels from true labels through a transition matrix.

    Parameters
    ----------
    labels : array-like of int, shape ``(N,)``
        True class of each sample, in ``[0, K)``.
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``; rows must sum to 1.
    seed : int, optional
        Seed of the random draw.
    exact : bool, default False
        If True, each true class ``i`` with ``n_i`` samples gets exactly ``round(n_i * T[i, j])``
        given labels ``j`` (largest-remainder rounding), shuffled within the class; the empirical
        transition then equals ``T`` up to that rounding. If False, labels are drawn independently.

    Returns
    -------
    given : np.ndarray of int64, shape ``(N,)``
        The corrupted labels.
    T_used : np.ndarray, shape ``(K, K)``
        The transition matrix that was applied (validated, rows renormalised).
    """
    T_used = check_transition(T)
    K = T_used.shape[0]
    y = check_labels(labels, "labels", K)
    rng = np.random.default_rng(seed)
    given = np.empty_like(y)
    cum = np.cumsum(T_used, axis=1)
    cum[:, -1] = 1.0
    for i in range(K):
        idx = np.flatnonzero(y == i)
        if idx.size == 0:
            continue
        if exact:
            draw = np.repeat(np.arange(K), _apportion(idx.size, T_used[i]))
            given[idx] = rng.permutation(draw)
        else:
            given[idx] = np.searchsorted(cum[i], rng.random(idx.size), side="right")
    return given, T_used


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def simulate_pred_probs(
    true_labels: object,
    T: object,
    *,
    accuracy: float = 0.97,
    overconfidence: float = 1.0,
    concentration: float | None = 300.0,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate an imperfect model's out-of-sample predictions, for tests and benchmarks.

    The model's belief ``p_hat(true | x)`` is the softmax of noisy logits (standard normal
    noise plus a margin on the true class) whose argmax is right on a fraction ``accuracy`` of
    the samples, scaled so that its mean confidence equals its accuracy (calibrated on
    average) and then sharpened by ``overconfidence``. A model trained on labels corrupted by
    ``T`` predicts ``q_hat = T^T p_hat``, here with Dirichlet jitter of the given
    ``concentration`` (None for none).

    Parameters
    ----------
    true_labels : array-like of int, shape ``(N,)``
        True class of each sample.
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    accuracy : float, default 0.97
        Fraction of samples whose ``argmax p_hat`` is the true class (hit exactly on the sample).
    overconfidence : float, default 1.0
        Multiplies the calibrated logits; above 1 the model is overconfident.
    concentration : float or None, default 300
        Dirichlet concentration of the jitter on ``q_hat``; larger is smaller jitter.
    seed : int, optional
        Seed of all draws.

    Returns
    -------
    pred_probs : np.ndarray, shape ``(N, K)``
        ``q_hat``, the predicted probabilities of the given labels.
    true_probs : np.ndarray, shape ``(N, K)``
        ``p_hat``, the model's belief about the true class.
    """
    T = check_transition(T)
    K = T.shape[0]
    y = check_labels(true_labels, "true_labels", K)
    acc = check_rate(accuracy, "accuracy")
    if acc <= 1.0 / K:
        raise NoisylabError(f"accuracy must be above chance (1/{K}), got {accuracy!r}")
    rng = np.random.default_rng(seed)
    N = y.size
    noise = rng.standard_normal((N, K))
    rows = np.arange(N)
    others = noise.copy()
    others[rows, y] = -np.inf
    gap = others.max(axis=1) - noise[rows, y]  # the sample is right iff margin > gap
    margin = float(np.quantile(gap, acc)) if acc < 1.0 else float(gap.max()) + 1.0
    Z = noise
    Z[rows, y] += margin
    lo, hi = 1e-3, 1e3  # temperature so that mean confidence == accuracy
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        conf = _softmax(Z * mid).max(axis=1).mean()
        lo, hi = (mid, hi) if conf < acc else (lo, mid)
    P = _softmax(Z * np.sqrt(lo * hi) * float(overconfidence))
    Qm = P @ T
    if concentration is None:
        return Qm, P
    G = rng.gamma(float(concentration) * Qm + 1e-2)
    S = G.sum(axis=1, keepdims=True)
    Q = np.where(S > 0, G / np.where(S > 0, S, 1.0), Qm)
    return Q, P
