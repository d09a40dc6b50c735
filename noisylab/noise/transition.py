"""Estimate the label-noise transition matrix ``T[i, j] = P(given = j | true = i)``.

Three sources of evidence, three estimators:

:func:`transition_from_labels`
    trusted true labels beside the given ones: the exact empirical matrix (for *measuring*).
:func:`transition_from_reference`
    a trusted reference model's ``reference_probs`` ``(N, K)`` of ``p(true | x)``.
:func:`estimate_transition`
    out-of-sample ``pred_probs`` ``(N, K)`` of a model trained on the *given* labels, i.e.
    estimates of ``q(x) = P(given | x) = T^T p(true | x)``, optionally with ``reference_probs``.

How :func:`estimate_transition` works
-------------------------------------
Where ``p(true | x)`` is nearly one-hot, ``q(x)`` is nearly the row ``T[true(x), :]``: the
``q`` vectors form K clusters whose centres are the rows of ``T``. Which cluster belongs to which
true class needs an assumption, the *regime*:

``"dominant"``
    a sample's true class is ``argmax q(x)`` (most labels are right; cleanlab's assumption);
``"complementary"``
    a sample's true class is ``argmin q(x)`` (the given label is almost never the true one).

``regime="auto"`` keeps the partition that carries more information about the given labels
(the plug-in mutual information between the partition and the given labels). Because the
given label depends on the image only through its true class, no function of the image can
carry more information about it than the true class itself, so the partition nearer the true
classes wins. With ``reference_probs``, each part is mapped to a true class by Hungarian matching
on the (part x reference argmax) contingency table, which tolerates a weak reference; without
one, part ``c`` is class ``c``.

Each row of ``T`` is first estimated by counting the given labels of the samples assigned to
that class (a confident-joint-style count). Under class-conditional noise this count is exact
for correctly assigned samples; the few misassigned ones bias it (in the complementary regime
each lands on the diagonal with probability about ``1 / (K - 1)``). With ``refine=True`` an EM
step removes that bias: a calibrated ``p(true | x)`` is built from ``pred_probs``, the posterior
``p(true = i | x, given = j) ∝ p(true = i | x) T[i, j]`` weighs each sample's given label, and
``T`` is re-estimated from posterior-weighted counts until it stops changing.

How ``p(true | x)`` is built depends on the regime (measured on simulations, see
``python -m noisylab.noise.benchmark``). Dominant: ``T`` is well conditioned, so ``p`` is
un-mixed linearly (``argmin ||T^T p - q||`` on the simplex, :func:`true_class_probs`) and then
sharpened, ``p ∝ p_unmixed ** s``. Complementary: ``q ≈ (1 - p) / (K - 1)``, so linear
un-mixing multiplies any error in ``q`` by ``K - 1``; ``p`` is instead a soft nearest-row
assignment, ``p(i) ∝ prior[i] exp(-s KL(T[i] || q))``. Either way the single calibration
parameter ``s`` is chosen by maximum likelihood of the given labels (which the out-of-sample
``pred_probs`` never saw); with ``s`` fixed at 1 the EM was measured to make the complementary
estimate worse than the plain count, because un-mixed ``p`` is badly calibrated there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import chdtrc

from noisylab.errors import NoisylabError
from noisylab.noise._validation import (
    check_alpha,
    check_labels,
    check_option,
    check_probs,
    check_transition,
)

__all__ = [
    "REGIMES",
    "IndependenceTest",
    "TransitionEstimate",
    "count_matrix",
    "estimate_transition",
    "estimate_transition_matrix",
    "independence_test",
    "save_transition",
    "transition_from_labels",
    "transition_from_reference",
    "true_class_probs",
]

#: Values accepted by ``regime=``.
REGIMES = ("auto", "dominant", "complementary")


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


def count_matrix(true_labels: object, given_labels: object, K: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true class ``i`` and given label ``j``, shape ``(K, K)``.

    ``K`` defaults to one more than the largest label seen.
    """
    t = check_labels(true_labels, "true_labels", K)
    g = check_labels(given_labels, "given_labels", K)
    if t.shape != g.shape:
        raise NoisylabError(
            f"true_labels has {t.shape[0]} entries but given_labels has {g.shape[0]}"
        )
    if K is None:
        K = int(max(t.max(initial=-1), g.max(initial=-1))) + 1
        if K < 2:
            K = 2
    return np.bincount(t * K + g, minlength=K * K).reshape(K, K).astype(np.int64)


def _normalise_rows(C: np.ndarray, empty: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``C`` scaled to sum to 1; an empty row becomes ``empty``'s row (identity by default)."""
    C = np.asarray(C, dtype=np.float64)
    K = C.shape[0]
    sums = C.sum(axis=1, keepdims=True)
    fallback = np.eye(K) if empty is None else empty
    with np.errstate(invalid="ignore", divide="ignore"):
        T = np.where(sums > 0, C / np.where(sums > 0, sums, 1.0), fallback)
    return T


def transition_from_labels(
    true_labels: object, given_labels: object, K: int | None = None
) -> np.ndarray:
    """The exact empirical transition matrix from trusted true labels, shape ``(K, K)``.

    ``T[i, j]`` is the fraction of samples of true class ``i`` whose given label is ``j``. Use it
    to *measure* an audit against known truth, never inside a method that learns from noisy
    labels. A class with no samples gets an identity row (no evidence of noise).

    Parameters
    ----------
    true_labels, given_labels : array-like of int, shape ``(N,)``
        Trusted and given class indices in ``[0, K)``.
    K : int, optional
        Number of classes; defaults to one more than the largest label seen.
    """
    return _normalise_rows(count_matrix(true_labels, given_labels, K))


@dataclass(frozen=True)
class IndependenceTest:
    """G-test of independence between a partition of the samples and their given labels.

    ``mutual_information`` is the plug-in estimate in nats; ``statistic = 2 N MI`` is
    chi-square with ``dof`` degrees of freedom under independence.
    """

    statistic: float
    pvalue: float
    dof: int
    mutual_information: float


def independence_test(
    parts: object, given_labels: object, K: int | None = None
) -> IndependenceTest:
    """G-test of whether ``given_labels`` ``(N,)`` are independent of ``parts`` ``(N,)``.

    With out-of-sample predictions, ``parts`` (say ``argmax pred_probs``) is a function of the
    image alone, so a large p-value means the given labels carry no detectable information
    about the image.
    """
    return _g_test(count_matrix(parts, given_labels, K).astype(np.float64))


def _g_test(C: np.ndarray) -> IndependenceTest:
    """G-test of independence of the rows and columns of a contingency table ``C`` ``(R, S)``."""
    n = float(C.sum())
    if n <= 0:
        return IndependenceTest(0.0, 1.0, 0, 0.0)
    rows, cols = C.sum(axis=1), C.sum(axis=0)
    expected = np.outer(rows, cols) / n
    mask = C > 0
    mi = max(float(np.sum(C[mask] * np.log(C[mask] / expected[mask])) / n), 0.0)
    dof = int(max((np.count_nonzero(rows) - 1) * (np.count_nonzero(cols) - 1), 0))
    stat = 2.0 * n * mi
    pvalue = float(chdtrc(dof, stat)) if dof > 0 else 1.0
    return IndependenceTest(stat, pvalue, dof, mi)


# --------------------------------------------------------------------------------------------
# Un-mixing and EM
# --------------------------------------------------------------------------------------------


def _project_rows_to_simplex(V: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``V`` ``(N, K)`` onto the probability simplex."""
    N, K = V.shape
    U = -np.sort(-V, axis=1)
    css = np.cumsum(U, axis=1) - 1.0
    ind = np.arange(1, K + 1)
    cond = U - css / ind > 0
    rho = K - 1 - np.argmax(cond[:, ::-1], axis=1)
    theta = css[np.arange(N), rho] / (rho + 1)
    return np.maximum(V - theta[:, None], 0.0)


def true_class_probs(pred_probs: object, T: object, *, n_iter: int = 100) -> np.ndarray:
    """Recover ``p(true | x)`` ``(N, K)`` from ``pred_probs`` ``(N, K)`` of ``P(given | x)``.

    Solves ``min_p ||T^T p - q||^2`` over the probability simplex for each row ``q`` of
    ``pred_probs`` (least squares, then projected-gradient steps). Where ``T`` is invertible and
    ``q`` is exactly a mixture of its rows, the answer is exact.

    Parameters
    ----------
    pred_probs : array-like, shape ``(N, K)``
        Predicted probabilities of the given labels.
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    n_iter : int, default 100
        Projected-gradient iterations after the least-squares start.
    """
    Q = check_probs(pred_probs, "pred_probs")
    T = check_transition(T, K=Q.shape[1])
    return _unmix(Q, T, n_iter=n_iter)


def _unmix(Q: np.ndarray, T: np.ndarray, *, n_iter: int = 100) -> np.ndarray:
    # Rows of P @ T should match rows of Q.  Start from the least-squares solution projected on
    # the simplex, then run accelerated projected gradient on ||P T - Q||^2 (exact when the
    # unconstrained solution is already a probability vector).
    P = _project_rows_to_simplex(Q @ np.linalg.pinv(T))
    if n_iter <= 0:
        return P
    L = float(np.linalg.norm(T, 2) ** 2)
    if L <= 0:
        return P
    step = 1.0 / L
    TT = T @ T.T
    QT = Q @ T.T
    Y, t = P.copy(), 1.0
    for _ in range(n_iter):
        P_next = _project_rows_to_simplex(Y - step * (Y @ TT - QT))
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        Y = P_next + ((t - 1.0) / t_next) * (P_next - P)
        P, t = P_next, t_next
    return P


def _posterior(P: np.ndarray, T: np.ndarray, given: np.ndarray) -> np.ndarray:
    """``p(true = i | x, given) ∝ P[n, i] T[i, given[n]]``, shape ``(N, K)``."""
    R = P * T[:, given].T
    s = R.sum(axis=1, keepdims=True)
    bad = s[:, 0] <= 0
    if np.any(bad):  # the model rules out every class that could give this label: keep p(true|x)
        R[bad] = P[bad]
        s[bad] = P[bad].sum(axis=1, keepdims=True)
    return R / s


def _em(P: np.ndarray, given: np.ndarray, T: np.ndarray, *, max_iter: int, tol: float) -> tuple:
    """Maximise ``sum_n log sum_i P[n, i] T[i, given[n]]`` over ``T`` with ``P`` fixed.

    Returns ``(T, posterior (N, K), soft counts (K, K), iterations)``.
    """
    from noisylab.noise.ladder import _Samples

    data = _Samples(P, given)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        C, _ = data.estep(T)
        T_new = _normalise_rows(C, empty=T)
        delta = float(np.max(np.abs(T_new - T)))
        T = T_new
        if delta < tol:
            break
    C, _ = data.estep(T)
    return T, data.posterior(T), C, n_iter


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TransitionEstimate:
    """Everything :func:`estimate_transition` learned.

    Attributes
    ----------
    matrix : np.ndarray, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``; rows sum to 1.
    regime : str
        ``"dominant"`` (true class = argmax of ``pred_probs``) or ``"complementary"`` (argmin).
    counts : np.ndarray, shape ``(K, K)``
        Posterior-weighted counts of (true class, given label); ``matrix`` is their row-normalised
        form and ``counts.sum() == N``.
    class_prior : np.ndarray, shape ``(K,)``
        Estimated ``P(true = i)``.
    true_probs : np.ndarray, shape ``(N, K)``
        ``p(true | x)`` recovered from ``pred_probs`` (the given label not used).
    posterior : np.ndarray, shape ``(N, K)``
        ``p(true | x, given)``: ``true_probs`` weighed by ``T[:, given]``.
    assignment : np.ndarray of int, shape ``(N,)``
        The hard first-pass true class of each sample (argmax or argmin, then ``mapping``).
    mapping : np.ndarray of int, shape ``(K,)``
        ``mapping[c]`` is the true class of part ``c`` (the samples whose argmax, or argmin, is
        ``c``); the identity without a reference.
    regime_scores : dict
        Mutual information (nats) between each regime's partition and the given labels.
    independence : IndependenceTest
        G-test of the chosen partition against the given labels (a large p-value: the labels
        look unrelated to the images). With ``regime="auto"`` the p-value is doubled
        (Bonferroni), since the better of two partitions was kept.
    reference_agreement : float or None
        Fraction of samples whose mapped part equals the reference argmax; None without one.
    sharpness : float
        The fitted calibration parameter of ``true_probs`` (see :func:`estimate_transition`).
    n_iter : int
        EM iterations run (0 with ``refine=False``).
    given : np.ndarray of int, shape ``(N,)``
        The given labels the estimate was made from.
    """

    matrix: np.ndarray
    regime: str
    counts: np.ndarray
    class_prior: np.ndarray
    true_probs: np.ndarray
    posterior: np.ndarray
    assignment: np.ndarray
    mapping: np.ndarray
    regime_scores: dict
    independence: IndependenceTest
    reference_agreement: float | None
    sharpness: float
    n_iter: int
    given: np.ndarray

    @property
    def has_reference(self) -> bool:
        """Whether a trusted reference fixed which part is which true class."""
        return self.reference_agreement is not None


def _check_refine_args(max_iter: object, tol: object) -> tuple[int, float]:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise NoisylabError(f"max_iter must be a positive integer, got {max_iter!r}")
    try:
        tol_f = float(tol)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NoisylabError(f"tol must be a positive number, got {tol!r}") from None
    if not tol_f > 0:
        raise NoisylabError(f"tol must be a positive number, got {tol!r}")
    return int(max_iter), tol_f


def _sharpen(Pu: np.ndarray, beta: float) -> np.ndarray:
    """``Pu ** beta`` with rows renormalised (``Pu`` rows already sum to 1).

    Entries below 1e-12 are rounding dust from the un-mixing and are zeroed first, or a power
    below 1 would blow them up (``(1e-17) ** 0.2 = 4e-4``).
    """
    P = np.where(Pu > 1e-12, Pu, 0.0) ** beta
    return P / P.sum(axis=1, keepdims=True)


def _kl_responsibilities(Q: np.ndarray, T: np.ndarray, prior: np.ndarray, c: float) -> np.ndarray:
    """``p(true = i | x) ∝ prior[i] exp(-c KL(T[i] || q(x)))``, shape ``(N, K)``."""
    logq = np.log(np.clip(Q, 1e-12, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        negent = np.where(T > 0, T * np.log(np.where(T > 0, T, 1.0)), 0.0).sum(axis=1)
    L = c * (logq @ T.T - negent[None, :]) + np.log(np.clip(prior, 1e-12, None))[None, :]
    L -= L.max(axis=1, keepdims=True)
    P = np.exp(L)
    return P / P.sum(axis=1, keepdims=True)


def _log_likelihood(P: np.ndarray, T: np.ndarray, given: np.ndarray) -> float:
    """Mean ``log sum_i P[n, i] T[i, given[n]]`` of the given labels."""
    return float(np.mean(np.log(np.einsum("ni,in->n", P, T[:, given]) + 1e-300)))


#: Differences of a mean log-likelihood below this are ties (rounding, not evidence: 1e-10 a
#: sample is far below what any number of labels could show).
_TIE = 1e-10


def _golden_max(f, lo: float, hi: float, n: int = 10) -> float:
    """Maximiser of a unimodal ``f`` on ``[lo, hi]`` by golden-section search.

    Where ``f`` is flat (values within `_TIE`) the search moves to the larger argument, so that
    a flat stretch is not resolved by rounding: for the sharpness of predictions that are
    already sure of every sample (each sharpness explains the labels equally well) it keeps
    them sure.
    """
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(n):
        if fc > fd + _TIE:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2.0


#: Search ranges (log scale) of the calibration parameter of each regime's p(true | x) family.
_SHARPNESS_RANGE = {"dominant": (0.1, 8.0), "complementary": (0.1, 1000.0)}


def _true_probs_family(Q: np.ndarray, T: np.ndarray, prior: np.ndarray, regime: str):
    """The one-parameter family ``s -> p_s(true | x)`` ``(N, K)`` used for ``regime``.

    Dominant regime: ``T`` is near the identity and well conditioned, so ``p`` is un-mixed
    linearly (:func:`true_class_probs`) and sharpened, ``p_s ∝ p ** s``. Complementary regime:
    ``q ≈ (1 - p) / (K - 1)`` amplifies any error in ``q`` by ``K - 1`` when un-mixed, so ``p`` is
    instead a soft nearest-row assignment, ``p_s(i) ∝ prior[i] exp(-s KL(T[i] || q))``.
    """
    if regime == "dominant":
        Pu = _unmix(Q, T, n_iter=20)
        return lambda s: _sharpen(Pu, s)
    return lambda s: _kl_responsibilities(Q, T, prior, s)


def _refine(
    Q: np.ndarray,
    given: np.ndarray,
    T0: np.ndarray,
    prior0: np.ndarray,
    regime: str,
    *,
    max_iter: int,
    tol: float,
    ref: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float]:
    """Calibrate ``p(true | x)`` and ``T`` together by maximum likelihood of the given labels.

    Builds the regime's one-parameter family of ``p(true | x)`` from the first-pass ``T0``,
    picks the parameter whose EM fit explains the given labels best (golden-section search on a
    log scale), and runs EM to convergence with it. The given labels were not used to make
    ``pred_probs`` (out of sample), so fitting this one calibration parameter on them is fair.
    (Re-building the family from the refined ``T`` and repeating was measured to drift on
    pair-flip noise without helping elsewhere, so it is done once.)

    With a reference ``ref`` ``(N, K)`` (a model that never saw these labels either), the two
    are independent evidence about the true class and are combined as a product of experts,
    ``p ∝ p_s * ref ** b``, with ``b >= 0`` fitted the same way (``b = 0``: the reference adds
    nothing; large ``b``: it decides).
    """
    family = _true_probs_family(Q, T0, prior0, regime)
    warm = {"T": T0}

    def fit(P: np.ndarray) -> float:
        Tw, *_ = _em(P, given, warm["T"], max_iter=max(20, max_iter // 4), tol=max(tol, 1e-6))
        warm["T"] = Tw
        return _log_likelihood(P, Tw, given)

    lo, hi = _SHARPNESS_RANGE[regime]
    s = float(np.exp(_golden_max(lambda log_s: fit(family(float(np.exp(log_s)))),
                                 np.log(lo), np.log(hi))))
    P = family(s)
    if ref is not None:
        log_ref = np.log(np.clip(ref, 1e-12, None))
        base = P

        def combined(b: float) -> np.ndarray:
            L = np.log(np.clip(base, 1e-300, None)) + b * log_ref
            E = np.exp(L - L.max(1, keepdims=True))
            return E / E.sum(1, keepdims=True)

        b = _golden_max(lambda b: fit(combined(b)), 0.0, 4.0)
        if fit(combined(b)) > fit(base):
            P = combined(b)
    T, R, C, n = _em(P, given, T0, max_iter=max_iter, tol=tol)
    return T, C, P, R, n, s


def transition_from_reference(
    reference_probs: object,
    given_labels: object,
    *,
    refine: bool = True,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> np.ndarray:
    """Estimate ``T`` ``(K, K)`` from a trusted reference model's ``p(true | x)`` alone.

    First counts the given labels of the samples in each reference-argmax class; with
    ``refine=True`` (default) it then maximises the likelihood of the given labels,
    ``sum_n log sum_i reference_probs[n, i] T[i, given[n]]``, by EM. The EM answer is unbiased
    when the reference is calibrated, even if it is often wrong; the hard count is blurred by
    the reference's errors.

    Parameters
    ----------
    reference_probs : array-like, shape ``(N, K)``
        ``p(true | x)`` from a model trained on other, clean data.
    given_labels : array-like of int, shape ``(N,)``
        The labels whose noise is measured.
    """
    P = check_probs(reference_probs, "reference_probs")
    N, K = P.shape
    given = check_labels(given_labels, "given_labels", K, N)
    max_iter, tol = _check_refine_args(max_iter, tol)
    marginal = np.bincount(given, minlength=K) / N
    T0 = _normalise_rows(
        count_matrix(np.argmax(P, axis=1), given, K), empty=np.tile(marginal, (K, 1))
    )
    if not refine:
        return T0
    # start the EM inside the simplex so no entry is frozen at zero by the hard count
    T0 = 0.9 * T0 + 0.1 / K
    T, *_ = _em(P, given, T0, max_iter=max_iter, tol=tol)
    return T


def _partition(Q: np.ndarray, given: np.ndarray, ref: np.ndarray | None, regime: str) -> tuple:
    """Each sample's first-pass true class, and how it was chosen.

    Returns ``(regime, assignment, mapping, reference_agreement, independence, regime_scores)``
    (see :class:`TransitionEstimate`).
    """
    N, K = Q.shape
    parts = {"dominant": np.argmax(Q, axis=1), "complementary": np.argmin(Q, axis=1)}
    tests = {name: independence_test(p, given, K) for name, p in parts.items()}
    scores = {name: t.mutual_information for name, t in tests.items()}
    independence = None
    if regime == "auto":
        dom, comp = scores["dominant"], scores["complementary"]
        regime = "complementary" if comp > dom * (1.0 + 1e-9) + 1e-12 else "dominant"
        # the better of two partitions was kept: Bonferroni-adjust its p-value
        t = tests[regime]
        independence = IndependenceTest(
            t.statistic, min(1.0, 2.0 * t.pvalue), t.dof, t.mutual_information
        )
    part = parts[regime]
    if independence is None:
        independence = tests[regime]

    mapping = np.arange(K)
    agreement = None
    ref_test = independence_test(np.argmax(ref, axis=1), given, K) if ref is not None else None
    if ref_test is not None and ref_test.mutual_information > independence.mutual_information:
        # The reference separates the classes more clearly than the model of the given labels
        # (small data): its own argmax is the partition, and it names the classes itself.
        part, independence, agreement = np.argmax(ref, axis=1), ref_test, 1.0
    elif ref is not None:
        M = count_matrix(part, np.argmax(ref, axis=1), K)
        rows, cols = linear_sum_assignment(-M)
        mapping = np.empty(K, dtype=np.int64)
        mapping[rows] = cols
        agreement = float(M[rows, cols].sum() / N)
    return regime, mapping[part], mapping, agreement, independence, scores


def _smoothed(C: np.ndarray, regime: str, marginal: np.ndarray) -> np.ndarray:
    """First-pass rows ``(K, K)`` from counts ``C``, shrunk toward the regime's simplest model.

    Each row gets one pseudo-count a cell spread as the simplest matrix of its regime fitted to
    all the counts (symmetric for dominant, uniform complementary for complementary): with few
    images a class and many classes the raw rows are mostly empty cells, and the empty cell that
    marks a complementary class is lost among them.
    """
    K = C.shape[0]
    tot = max(float(C.sum()), 1e-300)
    keep = float(np.trace(C)) / tot
    keep = min(keep, 1.0 / K) if regime == "complementary" else max(keep, 1.0 / K)
    M = np.full((K, K), (1.0 - keep) / (K - 1))
    np.fill_diagonal(M, keep)
    seen = C.sum(1, keepdims=True) > 0  # an empty row keeps the label marginal
    return _normalise_rows(C + K * M * seen, empty=np.tile(marginal, (K, 1)))


def estimate_transition(
    pred_probs: object,
    given_labels: object,
    *,
    reference_probs: object = None,
    regime: str = "auto",
    refine: bool = True,
    alpha: float = 0.001,
    max_iter: int = 200,
    tol: float = 1e-7,
) -> TransitionEstimate:
    """Estimate ``T`` from out-of-sample predicted probabilities of the given labels.

    Parameters
    ----------
    pred_probs : array-like, shape ``(N, K)``
        Out-of-sample ``P(given | x)`` from a model trained on the given labels (cross-fitted).
    given_labels : array-like of int, shape ``(N,)``
        The given (possibly wrong) labels.
    reference_probs : array-like, shape ``(N, K)``, optional
        ``p(true | x)`` from a trusted reference model (it may be weak). Its argmax names the
        parts (without it a renaming of classes cannot be seen), or is the partition itself when
        it tells more about the given labels than ``pred_probs`` does (small data).
    regime : {"auto", "dominant", "complementary"}, default "auto"
        Where a sample's true class sits in ``pred_probs``: at the argmax (``"dominant"``), at the
        argmin (``"complementary"``), or whichever partition tells more about the given labels.
    refine : bool, default True
        Correct the first-pass counts for misassigned samples by EM (see the module notes).
    alpha : float, default 0.001
        Level of the independence test of the partition against the given labels; where it
        cannot reject, the refinement is skipped (EM would fit noise).
    max_iter : int, default 200
        EM iterations.
    tol : float, default 1e-7
        EM stops when no entry of ``T`` moves by more than this.

    Returns
    -------
    TransitionEstimate
        The matrix ``(K, K)`` and what was learned on the way (posterior ``(N, K)``, prior ...).
    """
    Q = check_probs(pred_probs, "pred_probs")
    N, K = Q.shape
    given = check_labels(given_labels, "given_labels", K, N)
    regime = check_option(regime, "regime", REGIMES)
    max_iter, tol = _check_refine_args(max_iter, tol)
    alpha = check_alpha(alpha)
    ref = None
    if reference_probs is not None:
        ref = check_probs(reference_probs, "reference_probs", K)
        if ref.shape[0] != N:
            raise NoisylabError(f"reference_probs has {ref.shape[0]} rows but pred_probs has {N}")

    regime, assignment, mapping, agreement, independence, scores = _partition(
        Q, given, ref, regime)
    C0 = count_matrix(assignment, given, K).astype(np.float64)
    # a class no sample was assigned to gets the overall label distribution: no information
    marginal = np.bincount(given, minlength=K) / N
    T0 = _smoothed(C0, regime, marginal)
    prior0 = C0.sum(axis=1) / N
    if refine and independence.pvalue < alpha:
        T, C, P, R, n_iter, sharpness = _refine(Q, given, T0, prior0, regime,
                                                 max_iter=max_iter, tol=tol, ref=ref)
    else:  # nothing to calibrate against: the plain counts
        sharpness = 1.0
        T = _normalise_rows(C0, empty=np.tile(marginal, (K, 1)))
        P = _true_probs_family(Q, T, prior0, regime)(sharpness)
        C, R, n_iter = C0, _posterior(P, T, given), 0
    return TransitionEstimate(
        matrix=T, regime=regime, counts=C, class_prior=C.sum(axis=1) / C.sum(), true_probs=P,
        posterior=R, assignment=assignment, mapping=mapping, regime_scores=scores,
        independence=independence, reference_agreement=agreement, sharpness=sharpness,
        n_iter=n_iter, given=given)


def estimate_transition_matrix(
    pred_probs: object, given_labels: object, **options: object
) -> np.ndarray:
    """Shortcut for ``estimate_transition(pred_probs, given_labels, **options).matrix`` ``(K, K)``."""
    return estimate_transition(pred_probs, given_labels, **options).matrix  # type: ignore[arg-type]


def save_transition(path: str | os.PathLike, T: object, *, classes: object = None) -> None:
    """Write ``T`` as JSON ``{"classes": [...], "matrix": [[...], ...]}`` (what training reads).

    Parameters
    ----------
    path : str or path-like
        File to write.
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    classes : sequence of str, optional
        Class names, ``K`` of them; default ``"0" .. "K-1"``.
    """
    M = check_transition(T)
    K = M.shape[0]
    names = [str(i) for i in range(K)] if classes is None else [str(c) for c in classes]  # type: ignore[union-attr]
    if len(names) != K:
        raise NoisylabError(f"classes lists {len(names)} names but T is {K}x{K}")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"classes": names, "matrix": M.tolist()}, f, indent=1)
        f.write("\n")
