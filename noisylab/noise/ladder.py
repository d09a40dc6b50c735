"""Noise models chosen by likelihood: a ladder of parametric models of ``T``, each fitted by EM.

Setting
-------
``P`` ``(N, K)`` holds each image's probabilities of being in each of K *clusters* (the true
classes, up to their names), built from out-of-sample predictions that never saw the image's
own label (or one-hot, for trusted labels). A model ``M`` of ``T[i, j] = P(given = j | true = i)``
together with a *naming* ``sigma`` (cluster ``c`` is true class ``sigma[c]``) gives the
likelihood of the given labels

    L(M) = sum_n log sum_c P[n, c] T_M[sigma[c], given[n]],

maximised over the model's parameters by EM (the true class is the latent variable).

Comparison
----------
Models are compared by their marginal likelihood (the evidence), with flat priors on their
parameters (a uniform Dirichlet on each free row, uniform rates, uniform discrete choices),
in the Cheeseman-Stutz approximation for latent-class models:

    log p(labels | M) ~ log p(C | M) + L(M) - log p(C | T_M),

where ``C`` ``(K, K)`` are the posterior-weighted counts of (true class, given label) at the
maximum and ``log p(C | M)`` is the closed-form marginal of those counts. Unlike BIC it charges
each parameter for the data that informs it (a row's parameters for that row's samples, not
all N), and it charges discrete choices (which class each class flips to, which permutation) by
their number. Models that read ``P`` also pay ``p_dof / 2 log N`` for the calibration of ``P``
fitted on the same labels.
With every model equally likely a priori, ``exp(log p(labels | M))`` normalised is the posterior
probability of ``M``; a kind's probability sums its models'. A model is *clearly worse* when its
probability is below 1/20 of the best's (odds of 20 to 1: "strong" evidence on the usual scale of
Kass and Raftery 1995), and the reported model is the simplest one that is not clearly worse.

The ladder
----------
=======================  ======================================================  ===========
model                    ``T``                                                    parameters
=======================  ======================================================  ===========
uniform                  every entry 1/K: the labels ignore the images            0
unrelated                every row the label marginal                             K - 1
clean                    identity                                                 0
symmetric                keep ``1 - r``, the rest spread evenly, ``r <= (K-1)/K``  1
pair-flip                keep, one partner class each (keep >= flip), background   2 + map
pair-flip per class      the same with rates per class                             2K + map
complementary            uniform complementary: keep ``k <= 1/K``, rest even       1
biased-complementary     keep ``k <= 1/K``, each row's rest dispersed around even   2
asymmetric               keep ``>= 1/K``, each row's rest dispersed around even     2
free                     any matrix (read two ways without a reference)            K(K-1)
permutation              a renaming, with background (with a reference)            1 + perm
=======================  ======================================================  ===========

The dispersed models draw each row's wrong labels from a Dirichlet centred on the even
spread, with one concentration for all rows (integrated out, log-uniform from K - 1 to 1e5):
large when the wrong labels are nearly even, small when they are uneven. They sit between the
one-parameter models and the free matrix, and shrink each row toward the even spread as far as
its counts allow.

Readings: what the labels cannot tell
-------------------------------------
The likelihood never depends on the naming alone: without trusted evidence (a reference model,
verified labels) a renaming of whole classes explains the given labels exactly as well. Which
cluster is which class then rests on the structure of a model: under symmetric, pair-flip or
uniform complementary noise the class is the label that stands out from a regular pattern (the
one given most, or the one never given), so the structure names the clusters. A *free* matrix
fits every naming equally, so without a reference it is entered twice, read two ways, each
reading with half the prior: *asymmetric* (each cluster's class is its most given label, the
``dominant`` reading) and *biased-complementary* (its least given label). When nothing simpler
explains the labels the two readings tie, and the audit says so. A zero diagonal is deliberately
not counted as structure without a reference: under the other reading the same zero sits off
the diagonal, where a free matrix fits it just as well.

Small noise rates cannot be told from the predictions' own mistakes: a dominant-reading model
whose noise rate is at most ``resolution`` (the predictions' expected error, ``mean(1 - max P)``)
is reported as ``clean``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import betainc, betaln, gammaln

from noisylab.errors import NoisylabError

__all__ = ["EVIDENCE", "KIND_OF_MODEL", "FittedModel", "Ladder", "fit_ladder", "model_posterior"]

#: Odds against a model beyond which it is "clearly worse" than the best.
EVIDENCE = 20.0

#: The kind each ladder model reports (before its fitted matrix can turn it into another).
KIND_OF_MODEL = {
    "uniform": "unrelated",
    "unrelated": "unrelated",
    "clean": "clean",
    "symmetric": "symmetric",
    "pair-flip": "pair-flip",
    "pair-flip per class": "pair-flip",
    "complementary": "complementary",
    "biased-complementary": "biased-complementary",
    "asymmetric": "asymmetric",
    "free, read as complementary": "biased-complementary",
    "free, read as dominant": "asymmetric",
    "free": "asymmetric",
    "permutation": "permutation",
}

#: The naming convention each model needs without a reference.
READING_OF_MODEL = {
    "clean": "dominant", "symmetric": "dominant", "pair-flip": "dominant",
    "pair-flip per class": "dominant", "asymmetric": "dominant",
    "free, read as dominant": "dominant",
    "complementary": "complementary", "biased-complementary": "complementary",
    "free, read as complementary": "complementary",
    "unrelated": "none", "uniform": "none",
}

#: The free matrix: one model, read two ways without a reference.
FREE = ("free", "free, read as dominant", "free, read as complementary")

#: Models each model contains as special cases (up to a renaming of classes).
NESTS = {
    "uniform": set(), "clean": set(), "permutation": set(),
    "unrelated": {"uniform"},
    "symmetric": {"clean", "uniform"},
    "complementary": {"uniform"},
    "pair-flip": {"clean", "symmetric", "uniform"},
    "pair-flip per class": {"clean", "symmetric", "uniform", "pair-flip"},
    "biased-complementary": {"complementary", "uniform"},
    "asymmetric": {"symmetric", "clean", "uniform"},
}


@dataclass(frozen=True, eq=False)
class FittedModel:
    """One model of the ladder, fitted.

    Attributes
    ----------
    name : str
        The ladder entry (see the module table).
    kind : str
        The kind it reports.
    reading : str
        ``"dominant"``, ``"complementary"``, ``"reference"`` (named by trusted evidence) or
        ``"none"`` (the labels ignore the images).
    naming : ndarray of int ``(K,)``
        ``naming[c]``: the true class of cluster ``c`` (column ``c`` of ``P``).
    matrix : ndarray ``(K, K)``
        The model's ``T`` (rows true classes, columns given labels).
    counts : ndarray ``(K, K)``
        Posterior-weighted counts of (true class, given label) under the model; they sum to N.
    realised : ndarray ``(K, K)``
        ``counts`` row-normalised: the estimate of the matrix these very labels realise. It
        follows the data where the predictions are sure and the model where they are not.
    loglik : float
        Maximised log-likelihood of the given labels (nats, summed over samples).
    dof : int
        Continuous parameters of ``T`` (``p_dof`` excluded).
    log_evidence : float
        Approximate log marginal likelihood (nats), prior included.
    probability : float
        Posterior probability of the model among those of the ladder.
    params : dict
        The model's own parameters by name (rates, partners, permutation).
    """

    name: str
    kind: str
    reading: str
    naming: np.ndarray
    matrix: np.ndarray
    counts: np.ndarray
    realised: np.ndarray
    loglik: float
    dof: int
    log_evidence: float
    probability: float
    params: dict

    @property
    def class_prior(self) -> np.ndarray:
        """``P(true = i)`` ``(K,)`` from ``counts``."""
        return self.counts.sum(1) / max(self.counts.sum(), 1e-300)

    @property
    def keep_rate(self) -> np.ndarray:
        """``realised[i, i]`` ``(K,)``: how often true class ``i`` keeps its label."""
        return np.diag(self.realised).copy()

    @property
    def noise_rate(self) -> float:
        """``P(given != true)`` under ``realised`` and ``class_prior``."""
        return float(1.0 - self.class_prior @ np.diag(self.realised))


@dataclass(frozen=True, eq=False)
class Ladder:
    """Every model of the ladder fitted to the same labels, and what the comparison says.

    Attributes
    ----------
    models : tuple of FittedModel
        Most probable first.
    selected : FittedModel
        The simplest model not clearly worse than the best.
    runner_up : FittedModel or None
        The most probable model of another kind that is not the selected one with parameters
        added (that failing, the most probable of another kind).
    kind_probabilities : dict of str to float
        Posterior probability of each kind (its models' probabilities summed).
    candidates : tuple of str
        The kinds not clearly worse than the best, the selected kind first; ``("clean",
        "permutation")`` when clean labels are found without a reference.
    has_reference : bool
    resolution : float
        Noise rates at or below this are read as clean.
    """

    models: tuple
    selected: FittedModel
    runner_up: FittedModel | None
    kind_probabilities: dict
    candidates: tuple
    has_reference: bool
    resolution: float

    @property
    def decided(self) -> bool:
        """True when one kind is left."""
        return len(self.candidates) == 1

    @property
    def confidence(self) -> float:
        """Probability that the truth is among ``candidates`` (the kind itself, when decided)."""
        return float(min(1.0, sum(self.kind_probabilities.get(k, 0.0) for k in self.candidates)))

    @property
    def log_odds(self) -> float | None:
        """Log evidence of the selected model minus the runner-up's (nats; None without one)."""
        if self.runner_up is None:
            return None
        return float(self.selected.log_evidence - self.runner_up.log_evidence)

    def best_of(self, kind: str) -> FittedModel | None:
        """The most probable model reporting ``kind`` (None if no model does)."""
        return next((m for m in self.models if m.kind == kind), None)


# --------------------------------------------------------------------------------------------
# EM on samples grouped by their given label
# --------------------------------------------------------------------------------------------


class _Samples:
    """``P`` split by given label, so that one E-step is 2K matrix-vector products."""

    def __init__(self, P: np.ndarray, given: np.ndarray, weights: np.ndarray | None = None):
        self.K = P.shape[1]
        P = np.clip(P, 1e-12, None)
        P = P / P.sum(1, keepdims=True)
        self.index = [np.flatnonzero(given == j) for j in range(self.K)]
        self.blocks = [np.ascontiguousarray(P[idx]) for idx in self.index]
        w = np.ones(len(given)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights = [w[idx] for idx in self.index]
        self.n = float(w.sum())

    def reweighted(self, w: np.ndarray) -> _Samples:
        """The same samples with new weights ``(N,)`` (for the bootstrap)."""
        other = object.__new__(_Samples)
        other.K, other.index, other.blocks = self.K, self.index, self.blocks
        other.weights = [w[idx] for idx in self.index]
        other.n = float(w.sum())
        return other

    def estep(self, Tc: np.ndarray) -> tuple[np.ndarray, float]:
        """Soft counts ``(K, K)`` (cluster x given label) and log-likelihood under cluster rows ``Tc``."""
        C = np.zeros((self.K, self.K))
        ll = 0.0
        for j, (B, w) in enumerate(zip(self.blocks, self.weights, strict=True)):
            if B.shape[0] == 0:
                continue
            s = np.maximum(B @ Tc[:, j], 1e-300)
            ll += float(w @ np.log(s))
            C[:, j] = Tc[:, j] * (B.T @ (w / s))
        return C, ll

    def pointwise(self, Tc: np.ndarray) -> np.ndarray:
        """Each sample's log-likelihood ``(N,)`` of its given label under cluster rows ``Tc``."""
        out = np.zeros(sum(len(i) for i in self.index))
        for j, (B, idx) in enumerate(zip(self.blocks, self.index, strict=True)):
            out[idx] = np.log(np.maximum(B @ Tc[:, j], 1e-300))
        return out

    def posterior(self, Tc: np.ndarray) -> np.ndarray:
        """``p(cluster | x, given)`` ``(N, K)`` under cluster rows ``Tc``."""
        N = sum(len(i) for i in self.index)
        R = np.zeros((N, self.K))
        for j, (B, idx) in enumerate(zip(self.blocks, self.index, strict=True)):
            L = B * Tc[:, j]
            R[idx] = L / np.maximum(L.sum(1, keepdims=True), 1e-300)
        return R


def _sym(K: int, rate: float) -> np.ndarray:
    T = np.full((K, K), rate / (K - 1))
    np.fill_diagonal(T, 1.0 - rate)
    return T


def _rows(C: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = C.sum(1, keepdims=True)
    return np.where(n > 0, C / np.where(n > 0, n, 1.0), fallback)


def _partners(C: np.ndarray) -> np.ndarray:
    off = C.astype(np.float64).copy()
    np.fill_diagonal(off, -np.inf)
    return off.argmax(1)


def _pair_matrix(keep: np.ndarray, rate: np.ndarray, partner: np.ndarray) -> np.ndarray:
    K = len(partner)
    rest = np.clip(1.0 - keep - rate, 0.0, None)
    T = np.repeat((rest / (K - 2))[:, None], K, axis=1)
    T[np.arange(K), np.arange(K)] = keep
    T[np.arange(K), partner] = rate
    return T / T.sum(1, keepdims=True)


def _m_step(name: str, C: np.ndarray, T: np.ndarray, marginal: np.ndarray) -> tuple:
    """The model's maximum-likelihood ``T`` ``(K, K)`` given soft counts ``C``, and its params."""
    K = C.shape[0]
    tot = max(float(C.sum()), 1e-300)
    diag = float(np.trace(C))
    if name == "unrelated":
        return np.tile(marginal, (K, 1)), {}
    if name == "clean":
        return np.eye(K), {}
    if name == "uniform":
        return np.full((K, K), 1.0 / K), {}
    if name == "symmetric":
        r = min(max(1.0 - diag / tot, 0.0), (K - 1) / K)
        return _sym(K, r), {"rate": r}
    if name == "complementary":
        k = min(max(diag / tot, 0.0), 1.0 / K)
        return _sym(K, 1.0 - k), {"keep": k}
    if name in ("pair-flip", "pair-flip per class"):
        p = _partners(C)
        rows = np.arange(K)
        if name == "pair-flip":
            keep = np.full(K, diag / tot)
            rate = np.full(K, float(C[rows, p].sum()) / tot)
        else:
            n = np.maximum(C.sum(1), 1e-300)
            keep, rate = C[rows, rows] / n, C[rows, p] / n
        # a class keeps its label at least as often as it flips (else it is a renaming):
        # the constrained maximum shares the two counts equally
        mean = (keep + rate) / 2
        keep, rate = np.where(rate > keep, mean, keep), np.where(rate > keep, mean, rate)
        return _pair_matrix(keep, rate, p), {"keep": keep.tolist(), "rate": rate.tolist(),
                                             "partner": p.tolist()}
    if name in ("biased-complementary", "asymmetric"):
        keep = diag / tot
        keep = min(max(keep, 0.0), 1.0 / K) if name == "biased-complementary" \
            else min(max(keep, 1.0 / K), 1.0)
        off = C[~np.eye(K, dtype=bool)].reshape(K, K - 1)
        alpha = _concentration(off)
        shape = (off + alpha / (K - 1)) / (off.sum(1, keepdims=True) + alpha)
        U = np.zeros((K, K))
        U[~np.eye(K, dtype=bool)] = (shape * (1.0 - keep)).ravel()
        np.fill_diagonal(U, keep)
        return U, {"keep": keep, "concentration": alpha}
    if name == "permutation":
        _, sigma = linear_sum_assignment(-C)
        onto = np.zeros((K, K))
        onto[np.arange(K), sigma] = 1.0
        e = min(max(1.0 - float(C[np.arange(K), sigma].sum()) / tot, 0.0), (K - 1) / K)
        return (1 - e) * onto + e / (K - 1) * (1 - onto), {"rate": e, "perm": sigma.tolist()}
    return _rows(C, T), {}  # the free matrix


def _naming(counts: np.ndarray, reading: str) -> np.ndarray:
    """``naming[c]``: the class of cluster ``c`` under a reading, from cluster x label counts."""
    K = counts.shape[0]
    if reading in ("reference", "none"):
        return np.arange(K)
    _, cols = linear_sum_assignment(-counts if reading == "dominant" else counts)
    return cols.astype(np.int64)


def _fit_one(data: _Samples, name: str, naming: np.ndarray, T0: np.ndarray,
             marginal: np.ndarray, *, max_iter: int, tol: float) -> tuple:
    """EM for one model; returns ``(T, counts, loglik, params)`` in class naming."""
    T, params = T0, {}
    prev = -np.inf
    C = np.zeros_like(T0)
    ll = prev
    for _ in range(max_iter):
        Cc, ll = data.estep(T[naming])
        C = np.empty_like(Cc)
        C[naming] = Cc
        if ll - prev <= tol * max(data.n, 1.0):
            break
        prev = ll
        T, params = _m_step(name, C, T, marginal)
    return T, C, ll, params


# --------------------------------------------------------------------------------------------
# The evidence of each model
# --------------------------------------------------------------------------------------------


def _dirmult(c: np.ndarray) -> float:
    """Log marginal of counts ``c`` ``(..., m)`` under a uniform Dirichlet on each row's cells."""
    c = np.atleast_2d(np.asarray(c, dtype=np.float64))
    m = c.shape[-1]
    return float(np.sum(gammaln(m) - gammaln(c.sum(-1) + m)) + np.sum(gammaln(c + 1.0)))


def _log_beta_between(a: float, b: float, lo: float, hi: float) -> float:
    """``log of the integral of x^(a-1) (1-x)^(b-1) over [lo, hi]``, robust to underflow."""
    mass = float(betainc(a, b, hi) - betainc(a, b, lo))
    if mass > 1e-290:
        return float(betaln(a, b)) + math.log(mass)
    # all the mass lies beyond an end: the integral is the end's density over its log-slope
    x = hi if (a - 1) / max(a + b - 2, 1e-12) > hi else lo
    x = min(max(x, 1e-300), 1 - 1e-16)
    slope = abs((a - 1) / x - (b - 1) / (1 - x)) or 1.0
    return (a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - math.log(slope)


def _log_evidence(name: str, C: np.ndarray, T: np.ndarray, loglik: float, params: dict,
                  has_reference: bool) -> float:
    """Cheeseman-Stutz log marginal likelihood of a fitted model (prior on its choices included)."""
    K = C.shape[0]
    kept, tot = float(np.trace(C)), float(C.sum())
    moved = tot - kept
    with np.errstate(divide="ignore", invalid="ignore"):
        complete = float(np.sum(np.where(C > 0, C * np.log(np.maximum(T, 1e-300)), 0.0)))
    if name in ("uniform", "clean"):
        marginal = complete  # no parameters: the completed marginal is the completed likelihood
    elif name == "unrelated":
        marginal = _dirmult(C.sum(0))
    elif name in ("symmetric", "permutation"):
        if name == "permutation":
            kept = float(C[np.arange(K), params["perm"]].sum())
            moved = tot - kept
        b = (K - 1) / K
        marginal = -moved * math.log(K - 1) + _log_beta_between(moved + 1, kept + 1, 0.0, b) - math.log(b)
        if name == "permutation":
            marginal -= math.log(math.factorial(K) - 1) if K < 170 else math.lgamma(K + 1)
    elif name == "complementary":
        marginal = (_log_beta_between(kept + 1, moved + 1, 0.0, 1.0 / K) + math.log(K)
                    - moved * math.log(K - 1))
    elif name in ("biased-complementary", "asymmetric"):
        lo, hi = (0.0, 1.0 / K) if name == "biased-complementary" else (1.0 / K, 1.0)
        marginal = (_log_beta_between(kept + 1, moved + 1, lo, hi) - math.log(hi - lo)
                    + _dispersed(C[~np.eye(K, dtype=bool)].reshape(K, K - 1)))
    elif name in ("pair-flip", "pair-flip per class"):
        p = np.asarray(params["partner"])
        rows = np.arange(K)
        keep, flip = C[rows, rows], C[rows, p]
        rest = C.sum(1) - keep - flip
        groups = np.stack([keep, flip, rest], 1)
        marginal = (_dirmult(groups.sum(0)) if name == "pair-flip" else _dirmult(groups))
        marginal += math.log(2) * (1 if name == "pair-flip" else K)  # keep >= flip: half
        marginal -= float(rest.sum()) * math.log(max(K - 2, 1)) + K * math.log(K - 1)
    else:  # the free matrix; without a reference read two ways, each with half the prior
        marginal = _dirmult(C) - (0.0 if name == "free" else math.log(2))
    return marginal + loglik - complete


def _dof(name: str, K: int, has_reference: bool) -> int:
    """Parameters of a model: for the dispersed ones, the keep rate and the concentration."""
    table = {"uniform": 0, "unrelated": K - 1, "clean": 0, "symmetric": 1, "complementary": 1,
             "pair-flip": 2, "pair-flip per class": 2 * K, "asymmetric": 2,
             "biased-complementary": 2, "permutation": 1}
    return table.get(name, K * (K - 1))


def concentrations(m: int) -> np.ndarray:
    """Concentrations ``(G,)`` over which a dispersed model's evidence is averaged (uniform in
    log) for rows of ``m`` wrong-label cells: from ``m`` (every cell's Dirichlet parameter 1,
    the spread still unimodal: wrong labels spread unevenly, not piled on one class, which is
    pair-flip's pattern) to 1e5 (indistinguishable from even)."""
    return np.exp(np.linspace(np.log(2 * m), np.log(1e5), 41))


def _dispersed_terms(off: np.ndarray) -> np.ndarray:
    """Log marginal of off-diagonal count rows ``(K, K-1)`` under ``Dirichlet(a / (K-1))`` rows,
    for each concentration ``a`` of `concentrations` ``(G,)``."""
    m = off.shape[1]
    a = concentrations(m)[:, None, None]
    n = off.sum(1)[None, :, None]
    terms = (gammaln(a) - gammaln(n + a))[..., 0] \
        + (gammaln(off[None] + a / m) - gammaln(a / m)).sum(-1)
    return terms.sum(1)


def _dispersed(off: np.ndarray) -> float:
    """Log marginal of the off-diagonal counts, the concentration integrated out (log-uniform)."""
    t = _dispersed_terms(off)
    return float(t.max() + np.log(np.mean(np.exp(t - t.max()))))


def _concentration(off: np.ndarray) -> float:
    """The concentration under which the off-diagonal counts are most likely."""
    return float(concentrations(off.shape[1])[int(np.argmax(_dispersed_terms(off)))])


# --------------------------------------------------------------------------------------------
# The ladder
# --------------------------------------------------------------------------------------------


def _names(K: int, has_reference: bool) -> list[str]:
    names = ["uniform", "unrelated", "clean", "symmetric", "complementary", "asymmetric",
             "biased-complementary"]
    names += ["free"] if has_reference else ["free, read as dominant",
                                             "free, read as complementary"]
    if K > 2:
        names += ["pair-flip", "pair-flip per class"]
    if has_reference:
        names.append("permutation")
    if K == 2:  # a binary complementary label is the other class: a renaming
        names = [n for n in names if READING_OF_MODEL.get(n) != "complementary"]
    return names


def fit_ladder(
    true_probs: np.ndarray,
    given: np.ndarray,
    *,
    cluster_counts: np.ndarray | None = None,
    has_reference: bool = False,
    resolution: float = 0.0,
    p_dof: int | None = None,
    prefer: str = "dominant",
    weights: np.ndarray | None = None,
    start: dict | None = None,
    max_iter: int = 300,
    tol: float = 1e-9,
) -> Ladder:
    """Fit every model of the ladder to the given labels and compare their evidence.

    Parameters
    ----------
    true_probs : ndarray ``(N, K)``
        ``P[n, c]``: probability that sample ``n`` is in cluster ``c``; never computed from the
        sample's own label.
    given : ndarray of int ``(N,)``
        The given labels.
    cluster_counts : ndarray ``(K, K)``, optional
        Cluster x given-label counts that name the clusters under each reading (default: the
        posterior counts of the free model).
    has_reference : bool
        Whether the columns of ``true_probs`` are named by trusted evidence.
    resolution : float
        Noise rates at or below this are reported as clean.
    p_dof : int, optional
        Parameters spent building ``true_probs`` from the labels (default 1: the calibration
        parameter fitted on them; 0 for one-hot trusted labels).
    prefer : {"dominant", "complementary"}
        Which of two equally supported readings to name first (the other stays a candidate).
    weights : ndarray ``(N,)``, optional
        Sample weights (the bootstrap passes resampling counts).
    start : dict, optional
        ``{model name: T}`` starting points (the bootstrap passes the full-data fits).
    """
    P = np.asarray(true_probs, dtype=np.float64)
    g = np.asarray(given, dtype=np.int64)
    N, K = P.shape
    if g.shape != (N,):
        raise NoisylabError(f"given has {g.shape[0]} entries but true_probs has {N} rows")
    data = _Samples(P, g, weights)
    fits = _fit_models(data, cluster_counts=cluster_counts, has_reference=has_reference,
                       start=start, max_iter=max_iter, tol=tol)
    penalty = 0.5 * (1 if p_dof is None else p_dof) * math.log(max(data.n, 2.0))
    models = []
    for f in fits:
        ev = _log_evidence(f["name"], f["counts"], f["matrix"], f["loglik"], f["params"],
                           has_reference)
        ev -= 0.0 if f["name"] in ("uniform", "unrelated") else penalty
        m = FittedModel(name=f["name"], kind=KIND_OF_MODEL[f["name"]], reading=f["reading"],
                        naming=f["naming"], matrix=f["matrix"], counts=f["counts"],
                        realised=_rows(f["counts"], f["matrix"]), loglik=f["loglik"],
                        dof=_dof(f["name"], K, has_reference), log_evidence=ev,
                        probability=float("nan"), params=f["params"])
        models.append(_kind_of(m, resolution, K))
    return _compare(models, has_reference, resolution, prefer)


def _fit_models(data: _Samples, *, cluster_counts, has_reference: bool, start, max_iter: int,
                tol: float) -> list[dict]:
    """Maximum-likelihood fits of every ladder model (dicts, in ladder order)."""
    K = data.K
    marginal = np.array([w.sum() for w in data.weights])
    marginal = marginal / max(marginal.sum(), 1e-300)
    if cluster_counts is None:
        free0 = 0.5 * np.eye(K) + 0.5 / K
        cluster_counts = _fit_one(data, "free", np.arange(K), free0, marginal,
                                  max_iter=max_iter, tol=tol)[1]
    fits = []
    for name in _names(K, has_reference):
        reading = "reference" if has_reference else READING_OF_MODEL[name]
        naming = _naming(cluster_counts, reading)
        fit_name = "free" if name in FREE else name
        if start is not None and name in start:
            T0 = start[name]
        else:
            C0 = np.empty_like(cluster_counts)
            C0[naming] = cluster_counts
            T0, _ = _m_step(fit_name, C0, _rows(C0, np.eye(K)), marginal)
            if fit_name != "clean":  # start inside the simplex: no entry frozen at zero
                T0 = 0.98 * T0 + 0.02 / K
        T, C, ll, params = _fit_one(data, fit_name, naming, T0, marginal, max_iter=max_iter,
                                    tol=tol)
        if name == "permutation" and params.get("perm") == list(range(K)):
            continue  # the identity is the symmetric model
        fits.append({"name": name, "reading": reading, "naming": naming, "matrix": T,
                     "counts": C, "loglik": ll, "params": params})
    return fits


def _kind_of(m: FittedModel, resolution: float, K: int) -> FittedModel:
    """The kind a fitted model reports, read from its matrix where its name does not fix it.

    Noise no larger than the predictions' own expected error is clean. Named by a reference,
    a free matrix whose every class keeps its label less often than chance is
    biased-complementary.
    """
    if m.reading in ("dominant", "reference") and m.kind in ("symmetric", "pair-flip",
                                                           "asymmetric") \
            and m.noise_rate <= resolution:
        return replace(m, kind="clean")
    if m.name == "free" and np.all(m.keep_rate < 1.0 / K):
        return replace(m, kind="biased-complementary")
    return m


def _nests(big: FittedModel, small: FittedModel) -> bool:
    """Whether ``big`` is ``small`` with parameters added (a free matrix contains every model)."""
    if big.dof <= small.dof:
        return False
    return big.name in FREE or small.name in NESTS.get(big.name, set())


def _size(m: FittedModel) -> tuple:
    """How complex a model is (fewer is simpler)."""
    return (m.dof, m.name in ("pair-flip", "pair-flip per class", "permutation"))


def _compare(models: list, has_reference: bool, resolution: float, prefer: str) -> Ladder:
    ev = np.array([m.log_evidence for m in models])
    prob = np.exp(ev - ev.max())
    prob /= prob.sum()
    models = [replace(m, probability=float(p)) for m, p in zip(models, prob, strict=True)]
    models.sort(key=lambda m: -m.probability)
    best = models[0].probability
    close = [m for m in models if m.probability * EVIDENCE >= best]
    # the simplest; between equals (two readings of one free matrix) the preferred reading
    selected = min(close, key=lambda m: (_size(m), m.reading != prefer, -m.probability))
    probs: dict = {}
    for m in models:
        # a model that only adds parameters to the selected one, without being clearly
        # better, speaks for the selected kind: its extra parameters are not supported
        kind = selected.kind if m in close and _nests(m, selected) else m.kind
        probs[kind] = probs.get(kind, 0.0) + m.probability
    # a rival explains the labels differently; a model that only adds parameters to the
    # selected one without being clearly better is not a different explanation
    rivals = [m for m in close if not _nests(m, selected)]
    candidates = list(dict.fromkeys([selected.kind] + [m.kind for m in rivals]))
    if candidates[0] == "clean" and not has_reference and "permutation" not in candidates:
        candidates.insert(1, "permutation")
    # the runner-up: the best other explanation (not the selected model with parameters added)
    runner = next((m for m in models if m.kind != selected.kind and not _nests(m, selected)),
                  next((m for m in models if m.kind != selected.kind), None))
    return Ladder(models=tuple(models), selected=selected, runner_up=runner,
                  kind_probabilities=probs, candidates=tuple(candidates),
                  has_reference=has_reference, resolution=resolution)


def model_posterior(true_probs: np.ndarray, given: np.ndarray, model: FittedModel) -> np.ndarray:
    """``p(true | x, given)`` ``(N, K)`` under a fitted model, columns in class order."""
    data = _Samples(np.asarray(true_probs, dtype=np.float64), np.asarray(given, dtype=np.int64))
    R = data.posterior(model.matrix[model.naming])
    out = np.empty_like(R)
    out[:, model.naming] = R
    return out
