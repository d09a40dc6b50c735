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
Models are compared by how well they predict given labels they were not fitted on. The images
are split into ``folds`` parts at random; each model is fitted (parameters, naming of the
clusters, partner classes) on all parts but one and scores each image of the part left out by ``log sum_c P[n, c] T_M[sigma[c], given[n]]``. The sum over images of these held-out
log-likelihoods is the model's *expected log predictive density* (elpd). Choices fitted to the
labels (which class each cluster is, which class each class flips to, a row's free shape) help
only where they carry over to other images, so a naming read into noise, or a parameter the
data cannot pin down, costs what it should. Models that read ``P`` are charged ``p_dof`` nats,
the in-sample optimism of the calibration parameters of ``P`` fitted on the same labels. That
calibration can leave ``P`` surer than it is, and a model would then be blamed for the
predictions' own over-confidence (with 62 classes, evenly spread noise seen through a CNN's
uneven mistakes looked uneven); `noisylab.noise.diagnosis.ladder_of` therefore compares the
models on ``P`` raised to the power under which a free matrix best predicts held-out labels
(`heldout_power`, ``compare_power``), while their matrices are fitted on ``P`` itself.

A model's probability is its pseudo-BMA+ weight (Yao, Vehtari, Simpson and Gelman 2018): the
mean, over Bayesian-bootstrap reweightings of the images, of ``exp(elpd)`` normalised over the
ladder. It accounts for the sampling noise of the held-out scores themselves, so two models
whose elpd differ by less than that noise share the probability instead of one taking it all;
that is what makes the probability honest between close kinds on small data or many classes.
A kind's probability sums its models'. A model is *clearly worse* when its probability is below
1/20 of the best's (odds of 20 to 1), and the reported model is the simplest one that is not
clearly worse. A model that contains the reported one with a matrix no different (Jeffreys
divergence below one nat over all the images, as if each image's class were known: no data set
of this size could tell the two apart) speaks for the reported kind; one that contains it with
a different matrix, without predicting better, leaves its kind open.

With one-hot ``P`` (trusted labels, ``compare="evidence"``) the complete data are observed and
the marginal likelihood is exact, so models are compared by their evidence instead, with flat
priors on their parameters (a uniform Dirichlet on each free row, uniform rates, uniform discrete
choices), in the Cheeseman-Stutz form

    log p(labels | M) ~ log p(C | M) + L(M) - log p(C | T_M),

where ``C`` ``(K, K)`` are the posterior-weighted counts of (true class, given label) at the
maximum. ``log_evidence`` is computed in both modes and reported beside the elpd.

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
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import betainc, betaln, gammaln

from noisylab.errors import NoisylabError

__all__ = ["EVIDENCE", "KIND_OF_MODEL", "FittedModel", "Ladder", "fit_ladder",
           "largest_confusion", "model_posterior", "model_log_prior", "naming_marginals",
           "pseudo_bma", "sampling_unevenness"]

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
        Approximate log marginal likelihood (nats), prior included (Cheeseman-Stutz).
    heldout : float
        Held-out log-likelihood of the given labels summed over images (nats; the elpd, before
        the ``p_dof`` charge), NaN when the ladder was compared by evidence.
    pointwise : ndarray ``(N,)`` or None
        Each sample's held-out log-likelihood (None when compared by evidence).
    log_prior : float
        The model's log prior weight less its ``p_dof`` charge (nats), added to its elpd.
    probability : float
        Probability of the model among those of the ladder (see the module notes).
    params : dict
        The model's own parameters by name (rates, partners, permutation).
    probability_draws : ndarray ``(D,)`` or None
        The model's weight under each Bayesian-bootstrap reweighting of the images (their mean
        is ``probability``; None when compared by evidence).
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
    heldout: float
    pointwise: np.ndarray | None
    log_prior: float
    probability: float
    params: dict
    probability_draws: np.ndarray | None = None

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
    compare : str
        ``"heldout"`` (elpd and pseudo-BMA+ weights) or ``"evidence"`` (marginal likelihood).
    counted_as : dict of str to str
        The kind each model's probability counts for in ``kind_probabilities``: its own, or
        the selected kind, which a model that only adds parameters to it speaks for.
    power : float
        The power of ``P`` the models were compared on (`heldout_power`; 1: ``P`` itself).
    confusion : float
        The predictions' largest confusion of one cluster with a single other one at that
        power (`largest_confusion`), averaged over the clusters.
    """

    models: tuple
    selected: FittedModel
    runner_up: FittedModel | None
    kind_probabilities: dict
    candidates: tuple
    has_reference: bool
    resolution: float
    compare: str = "heldout"
    counted_as: dict = field(default_factory=dict)
    power: float = 1.0
    confusion: float = 0.0

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
        """The selected model's score minus the runner-up's (nats; None without one): held-out
        log-likelihood, or log evidence when compared by evidence."""
        if self.runner_up is None:
            return None
        if self.compare == "evidence":
            return float(self.selected.log_evidence - self.runner_up.log_evidence)
        return float(self.selected.heldout - self.runner_up.heldout)

    def kind_draws(self) -> dict | None:
        """Each kind's probability under every Bayesian-bootstrap reweighting of the images,
        ``{kind: (D,)}`` (None when compared by evidence): the spread of ``kind_probabilities``."""
        if any(m.probability_draws is None for m in self.models):
            return None
        draws: dict = {}
        for m in self.models:
            kind = self.counted_as.get(m.name, m.kind)
            draws[kind] = draws.get(kind, 0.0) + m.probability_draws
        return draws

    def best_of(self, kind: str) -> FittedModel | None:
        """The most probable model reporting ``kind`` (None if no model does)."""
        return next((m for m in self.models if m.kind == kind), None)


# --------------------------------------------------------------------------------------------
# EM on samples grouped by their given label
# --------------------------------------------------------------------------------------------


class _Samples:
    """``P`` sorted by given label, each label's samples one contiguous block."""

    def __init__(self, P: np.ndarray, given: np.ndarray, weights: np.ndarray | None = None):
        self.K = P.shape[1]
        P = np.clip(P, 1e-12, None)
        P = P / P.sum(1, keepdims=True)
        self.order = np.argsort(given, kind="stable")
        self.given = np.asarray(given)[self.order]
        self.P = np.ascontiguousarray(P[self.order])
        self.labels, self.starts = np.unique(self.given, return_index=True)
        w = np.ones(len(given)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.w = w[self.order]
        self.n = float(self.w.sum())

    def reweighted(self, w: np.ndarray) -> _Samples:
        """The same samples with new weights ``(N,)`` (for the bootstrap)."""
        other = object.__new__(_Samples)
        other.__dict__.update(self.__dict__)
        other.w = np.asarray(w, dtype=np.float64)[self.order]
        other.n = float(other.w.sum())
        return other

    def label_marginal(self) -> np.ndarray:
        """The weighted share of each given label ``(K,)``."""
        totals = np.bincount(self.given, weights=self.w, minlength=self.K)
        return totals / max(totals.sum(), 1e-300)

    def _likelihoods(self, Tc: np.ndarray) -> np.ndarray:
        """``sum_c P[n, c] Tc[c, given[n]]`` ``(N,)``, in sorted order."""
        return np.maximum(np.einsum("nc,nc->n", self.P, Tc.T[self.given]), 1e-300)

    def estep(self, Tc: np.ndarray) -> tuple[np.ndarray, float]:
        """Soft counts ``(K, K)`` (cluster x given label) and log-likelihood under cluster rows ``Tc``.

        One matrix-vector product each way per label, on contiguous views of its block.
        """
        C = np.zeros((self.K, self.K))
        ll = 0.0
        ends = np.r_[self.starts[1:], len(self.given)]
        for j, a, b in zip(self.labels, self.starts, ends, strict=True):
            block, w = self.P[a:b], self.w[a:b]
            s = np.maximum(block @ Tc[:, j], 1e-300)
            ll += float(w @ np.log(s))
            C[:, j] = Tc[:, j] * (block.T @ (w / s))
        return C, ll

    def pointwise(self, Tc: np.ndarray) -> np.ndarray:
        """Each sample's log-likelihood ``(N,)`` of its given label under cluster rows ``Tc``."""
        out = np.empty(len(self.order))
        out[self.order] = np.log(self._likelihoods(Tc))
        return out

    def posterior(self, Tc: np.ndarray) -> np.ndarray:
        """``p(cluster | x, given)`` ``(N, K)`` under cluster rows ``Tc``."""
        L = self.P * Tc.T[self.given]
        R = np.empty_like(L)
        R[self.order] = L / np.maximum(L.sum(1, keepdims=True), 1e-300)
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
    compare: str = "heldout",
    compare_power: float = 1.0,
    folds: int = 2,
    seed: int = 0,
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
        parameter fitted on them; 0 for one-hot trusted labels). Models that read
        ``true_probs`` are charged ``p_dof`` nats of held-out likelihood (their in-sample
        optimism), or ``p_dof / 2 log N`` of evidence.
    prefer : {"dominant", "complementary"}
        Which of two equally supported readings to name first (the other stays a candidate).
    weights : ndarray ``(N,)``, optional
        Sample weights (the bootstrap passes resampling counts).
    start : dict, optional
        ``{model name: T}`` starting points (the bootstrap passes the full-data fits).
    compare : {"heldout", "evidence"}
        Compare the models by held-out likelihood (predictions ``P``) or by their marginal
        likelihood (exact for one-hot ``P``: trusted labels).
    compare_power : float
        The held-out comparison scores on ``true_probs`` raised to this power (`soften`,
        `heldout_power`); the matrices fit ``true_probs`` itself.
    folds : int
        Parts the images are split into for the held-out likelihood (at least 2).
    seed : int
        Seed of the split and of the Bayesian bootstrap.
    """
    P, g = _checked(true_probs, given, compare)
    N, K = P.shape
    w = np.ones(N) if weights is None else np.asarray(weights, dtype=np.float64)
    fits = _fit_models(_Samples(P, g, w), cluster_counts=cluster_counts,
                       has_reference=has_reference, start=start, max_iter=max_iter, tol=tol)
    compared = P if compare_power == 1.0 else soften(P, compare_power)
    evidence, heldout, L, log_prior, probs, draws = _score(
        compared, g, w, fits,
        compare=compare, p_dof=1 if p_dof is None else p_dof, cluster_counts=cluster_counts,
        has_reference=has_reference, folds=folds, seed=seed, max_iter=max_iter, tol=tol)
    models = []
    for i, f in enumerate(fits):
        m = FittedModel(name=f["name"], kind=KIND_OF_MODEL[f["name"]], reading=f["reading"],
                        naming=f["naming"], matrix=f["matrix"], counts=f["counts"],
                        realised=_rows(f["counts"], f["matrix"]), loglik=f["loglik"],
                        dof=_dof(f["name"], K, has_reference), log_evidence=float(evidence[i]),
                        heldout=float(heldout[i]), pointwise=L[i],
                        log_prior=float(log_prior[i]), probability=float(probs[i]),
                        params=f["params"], probability_draws=draws[i])
        models.append(_kind_of(m, resolution, K))
    alike = None if compare == "evidence" else (lambda a, b: _divergence(a, b, P, w) < 1.0)
    return replace(_compare(models, has_reference, resolution, prefer, compare, alike,
                            confusion=largest_confusion(compared, w)),
                   power=float(compare_power))


def _checked(true_probs, given, compare: str) -> tuple[np.ndarray, np.ndarray]:
    """``(P, given)`` as float64 ``(N, K)`` and int64 ``(N,)`` arrays, or a clear error."""
    P = np.asarray(true_probs, dtype=np.float64)
    g = np.asarray(given, dtype=np.int64)
    if g.shape != (P.shape[0],):
        raise NoisylabError(f"given has {g.shape[0]} entries but true_probs has {P.shape[0]} rows")
    if compare not in ("heldout", "evidence"):
        raise NoisylabError(f"compare must be 'heldout' or 'evidence', got {compare!r}")
    return P, g


def _divergence(a: FittedModel, b: FittedModel, P: np.ndarray, w: np.ndarray) -> float:
    """Jeffreys divergence (nats) between two models' matrices over the samples of each cluster.

    It is the divergence of their label predictions were every sample's cluster known: the
    matrices themselves are compared, not predictions that weak ``P`` would blur together.
    """
    ta = np.clip(a.matrix[a.naming], 1e-300, None)
    tb = np.clip(b.matrix[b.naming], 1e-300, None)
    return float((w @ P) @ ((ta - tb) * (np.log(ta) - np.log(tb))).sum(1)) / 2.0


def _score(P: np.ndarray, g: np.ndarray, w: np.ndarray, fits: list, *, compare: str,
           p_dof: int, **heldout_options) -> tuple:
    """Each fit's ``(log evidence, held-out sum, pointwise held-out (M, N) or Nones, log prior,
    probability, probability under each Bayesian-bootstrap draw (M, D) or Nones)``, the
    probability by ``compare``."""
    reads_p = np.array([f["name"] not in ("uniform", "unrelated") for f in fits])
    evidence = np.array([_log_evidence(f["name"], f["counts"], f["matrix"], f["loglik"],
                                       f["params"], heldout_options["has_reference"])
                         for f in fits])
    evidence -= reads_p * 0.5 * p_dof * math.log(max(float(w.sum()), 2.0))
    log_prior = np.array([model_log_prior(f["name"], p_dof) for f in fits])
    if compare == "evidence":
        probs = np.exp(evidence - evidence.max())
        return evidence, np.full(len(fits), np.nan), [None] * len(fits), log_prior, \
            probs / probs.sum(), [None] * len(fits)
    L = _heldout_pointwise(P, g, w, fits, **heldout_options)
    probs, draws = pseudo_bma(L, w, log_prior, seed=heldout_options["seed"], return_draws=True)
    return evidence, L @ w, L, log_prior, probs, draws.T


#: Powers of the cluster probabilities `heldout_power` tries, from the sharpest down.
POWERS = (1.2, 1.0, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)

#: Dirichlet pseudo-counts per entry that `heldout_power` tries on the free matrix's rows.
PSEUDO_COUNTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)


def heldout_power(true_probs: np.ndarray, given: np.ndarray, *, powers=POWERS, folds: int = 2,
                  seed: int = 0, max_iter: int = 100, tol: float = 1e-7) -> float:
    """The power of ``true_probs`` under which a free matrix best predicts held-out labels.

    ``true_probs`` ``(N, K)`` come sharpened by a sharpness fitted on the same labels, which
    can make them surer than they are; each model of the ladder is then blamed for the
    predictions' own over-confidence. Raised to the power ``a`` (rows renormalised), they are
    scored as `fit_ladder` scores a model: the free matrix fitted on the other parts predicts
    each part's labels. Its rows predict as posterior means ``(C + c) / (n + K c)`` under a
    symmetric Dirichlet prior whose pseudo-count ``c`` (`PSEUDO_COUNTS`) is chosen with the
    power by the same held-out likelihood. With many classes and few images a class,
    maximum-likelihood rows (``c = 0``) overfit and a softer ``P`` would win for the smoothing
    it lends them; a fixed strong prior over-smooths them and a sharper ``P`` would win
    instead. Choosing both, the power answers for ``P``'s calibration alone.

    Returns the ``a`` of ``powers`` with the largest held-out likelihood. The powers are tried
    in their order (from the sharpest down) until two in a row predict worse than the best so
    far: the held-out likelihood is taken to have one maximum in ``a``, and the second guards
    against the sampling noise of one score.
    """
    g = np.asarray(given, dtype=np.int64)
    part = _split(len(g), int(folds), seed)
    best, best_score, worse = float(powers[0]), -np.inf, 0
    for a in powers:
        P = soften(true_probs, float(a))
        score = _free_heldout(P, g, part, max_iter=max_iter, tol=tol).max()
        if score > best_score:
            best, best_score, worse = float(a), score, 0
        else:
            worse += 1
            if worse == 2:
                break
    return best


def soften(true_probs: np.ndarray, power: float) -> np.ndarray:
    """``true_probs`` ``(N, K)`` raised to ``power``, rows renormalised ``(N, K)``; entries are
    clipped at 1e-12 first, so that no power rules a cluster out or divides by zero."""
    P = np.clip(np.asarray(true_probs, dtype=np.float64), 1e-12, None) ** power
    return P / P.sum(1, keepdims=True)


def _free_heldout(P: np.ndarray, g: np.ndarray, part: np.ndarray, *, max_iter: int,
                  tol: float) -> np.ndarray:
    """Held-out log-likelihood (nats, summed) of a free matrix's predictions of the labels
    ``g`` from ``P`` ``(N, K)``, one per pseudo-count of `PSEUDO_COUNTS`
    ``(len(PSEUDO_COUNTS),)``: each part predicted by the posterior-mean rows fitted on the
    rest."""
    K = P.shape[1]
    c = np.asarray(PSEUDO_COUNTS)[:, None, None]
    total = np.zeros(len(PSEUDO_COUNTS))
    for f in range(int(part.max()) + 1):
        train, test = part != f, part == f
        data = _Samples(P[train], g[train])
        C = _fit_one(data, "free", np.arange(K), np.eye(K) * 0.5 + 0.5 / K,
                     data.label_marginal(), max_iter=max_iter, tol=tol)[1]
        rows = np.maximum((C + c) / (C.sum(1, keepdims=True) + K * c), 1e-300)
        held = _Samples(P[test], g[test])
        total += [float(held.pointwise(T).sum()) for T in rows]
    return total


def model_log_prior(name: str, p_dof: int = 1) -> float:
    """A model's log prior weight less the ``p_dof`` nats charged to models that read ``P``.

    Every model has the same prior except the free matrix read two ways without a reference:
    each reading has half of it.
    """
    charge = 0.0 if name in ("uniform", "unrelated") else float(p_dof)
    return (-math.log(2) if name in FREE[1:] else 0.0) - charge


def _split(n: int, folds: int, seed: int) -> np.ndarray:
    """Each sample's part ``(n,)`` in ``0 .. folds - 1``, at random and of equal sizes.

    Not stratified by given label: the labels are what the parts predict, and a split that
    balanced them would hand every part the others' label frequencies.
    """
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def _heldout_pointwise(P: np.ndarray, g: np.ndarray, w: np.ndarray, fits: list, *,
                       cluster_counts, has_reference: bool, folds: int, seed: int,
                       max_iter: int, tol: float) -> np.ndarray:
    """Each model's held-out log-likelihood of each sample's label ``(M, N)``.

    Every model is refitted, naming included, on the other parts, from its full-data fit.
    A model a part's fit leaves out (a permutation found to be the identity) scores as the
    symmetric model it then is.
    """
    if not isinstance(folds, int | np.integer) or folds < 2:
        raise NoisylabError(f"folds must be an integer of at least 2, got {folds!r}")
    K = P.shape[1]
    part = _split(len(g), int(folds), seed)
    names = [f["name"] for f in fits]
    start = {f["name"]: f["matrix"] for f in fits}
    L = np.zeros((len(fits), len(g)))
    for f in range(int(folds)):
        train, test = np.flatnonzero(part != f), np.flatnonzero(part == f)
        data = _Samples(P[train], g[train], w[train])
        counts = None
        if not has_reference:
            free0 = start.get("free, read as dominant", start.get("free"))
            free0 = np.eye(K) * 0.5 + 0.5 / K if free0 is None else 0.98 * free0 + 0.02 / K
            counts = _fit_one(data, "free", np.arange(K), free0, data.label_marginal(),
                              max_iter=max_iter, tol=tol)[1]
        elif cluster_counts is not None:
            counts = cluster_counts
        # from the full-data fits, a looser tolerance: held-out scores need no more
        part_fits = {x["name"]: x for x in _fit_models(
            data, cluster_counts=counts, has_reference=has_reference, start=start,
            max_iter=min(max_iter, 100), tol=max(tol, 1e-7))}
        held = _Samples(P[test], g[test])
        for i, name in enumerate(names):
            x = part_fits.get(name, part_fits["symmetric"])
            L[i, test] = held.pointwise(_predictive_rows(x, has_reference))
    return L


def _predictive_rows(fit: dict, has_reference: bool) -> np.ndarray:
    """Cluster rows ``(K, K)`` of ``T`` for predicting new labels, the naming averaged out.

    Named by a reference, or by nothing (a free matrix, labels unrelated to the images), the
    fitted rows are used as they are. Otherwise which class each cluster is was read from the
    labels, and may be far from certain (a complementary class is one of the labels a cluster
    was never given, and with few images a class many were never given). Naming cluster ``c``
    class ``i`` instead of ``s = naming[c]`` moves its row's diagonal entry from label ``s`` to
    label ``i`` (the two entries swap; the rest of the row follows the cluster); each row is
    averaged over those moves with the naming's posterior marginals (`naming_marginals`).
    """
    rows = fit["matrix"][fit["naming"]]  # cluster x given label
    if has_reference or fit["name"] in FREE or fit["name"] in ("uniform", "unrelated"):
        return rows
    K = rows.shape[0]
    own = fit["naming"]
    diag = rows[np.arange(K), own]  # (K,)
    log_rows = np.log(np.maximum(rows, 1e-300))
    log_diag = np.log(np.maximum(diag, 1e-300))[:, None]
    counts = fit["counts"][own]  # cluster x given label
    kept = counts[np.arange(K), own][:, None]
    # log-likelihood of each cluster's counts were it class i: labels i and own swap entries
    score = counts * (log_diag - log_rows) + kept * (log_rows - log_diag)
    X = naming_marginals(score)
    blurred = (1.0 - X) * rows + X * diag[:, None]
    blurred[np.arange(K), own] = (X * rows).sum(1)
    return blurred


def naming_marginals(score: np.ndarray, *, max_iter: int = 200, tol: float = 1e-4) -> np.ndarray:
    """Approximate marginals ``(K, K)`` of a naming with log-likelihood ``sum_c score[c, sigma[c]]``.

    ``X[c, i]`` approximates ``P(sigma[c] = i)`` under a uniform prior on the ``K!`` namings:
    the doubly stochastic scaling of ``exp(score)`` (Sinkhorn's balancing, in log space), the
    usual approximation of the marginals of a distribution over permutations.
    """
    logx = score - score.max()
    for _ in range(max_iter):
        logx = logx - _logsumexp(logx, 1)
        col = _logsumexp(logx, 0)
        logx = logx - col
        if np.abs(col).max() < tol:
            break
    return np.exp(logx)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, kept as a length-1 axis (finite ``x``).

    Not `scipy.special.logsumexp`: the Sinkhorn loop calls it hundreds of times on small
    arrays, where scipy's input handling took most of the audit's ladder time.
    """
    top = x.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def pseudo_bma(L: np.ndarray, weights: np.ndarray, log_prior: np.ndarray, *, draws: int = 400,
               seed: int = 0, return_draws: bool = False):
    """Pseudo-BMA+ weights ``(M,)`` of models from their pointwise held-out log-likelihoods.

    Parameters
    ----------
    L : ndarray ``(M, N)``
        ``L[m, n]``: model ``m``'s held-out log-likelihood of sample ``n``.
    weights : ndarray ``(N,)``
        How many times each sample counts (0 leaves it out).
    log_prior : ndarray ``(M,)``
        Log prior weight of each model, plus any fixed charge in nats.
    draws : int
        Bayesian-bootstrap draws: Dirichlet(weights) reweightings of the samples.
    return_draws : bool
        Also return each draw's weights.

    Returns
    -------
    ndarray ``(M,)``
        The mean over draws of ``softmax(n * (a @ L.T) + log_prior)``, ``n`` the total weight.
    ndarray ``(draws, M)``
        Only with ``return_draws``: that softmax for each draw.
    """
    keep = weights > 0
    L, w = L[:, keep], weights[keep]
    n = float(w.sum())
    rng = np.random.default_rng(seed)
    each = np.empty((draws, L.shape[0]))
    for b in range(0, draws, 50):
        # Dirichlet(w) by normalised Gamma(w) draws; Gamma(1) is the (faster) exponential
        size = (min(50, draws - b), len(w))
        a = rng.standard_exponential(size) if np.all(w == 1) else rng.standard_gamma(w, size)
        a /= a.sum(1, keepdims=True)
        score = n * (a @ L.T) + log_prior
        e = np.exp(score - score.max(1, keepdims=True))
        each[b:b + len(a)] = e / e.sum(1, keepdims=True)
    return (each.mean(0), each) if return_draws else each.mean(0)


def _fit_models(data: _Samples, *, cluster_counts, has_reference: bool, start, max_iter: int,
                tol: float) -> list[dict]:
    """Maximum-likelihood fits of every ladder model (dicts, in ladder order)."""
    K = data.K
    marginal = data.label_marginal()
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


def largest_confusion(P: np.ndarray, weights: np.ndarray | None = None) -> float:
    """How far predictions ``P`` ``(N, K)`` take one cluster for a single other one.

    For each cluster ``c``, the images weighted by ``P[:, c]`` put ``sum_n P[n, c] P[n, d] /
    sum_n P[n, c]`` on cluster ``d``; the largest such share over ``d != c``, averaged with
    the clusters' masses. Calibrated predictions (``P`` at the power under which they best
    predict held-out labels) that take a ``c`` for a ``C`` that often can pile that share of
    the labels of one class onto another by themselves, even where their expected error
    ``mean(1 - max P)`` is small because they are sure of most images.
    """
    w = np.ones(len(P)) if weights is None else np.asarray(weights, dtype=np.float64)
    mass = (w[:, None] * P).sum(0)
    share = (P.T @ (w[:, None] * P)) / np.maximum(mass, 1e-300)[:, None]
    np.fill_diagonal(share, -np.inf)
    return float(mass @ share.max(1) / max(mass.sum(), 1e-300))


def _within_resolution(m: FittedModel, resolution: float) -> bool:
    """Whether ``m``'s uneven spread of wrong labels is within what ``resolution`` can make.

    For the dominant reading the unevenness is the pile: each class's largest wrong-label rate
    beyond an even spread of its wrong labels, ``max_j T[i, j] - (1 - T[i, i]) / (K - 1)``,
    averaged with the class prior. A predictor whose expected error is ``resolution`` can pile
    that much by itself (all its mistakes on one look-alike class, a ``c`` taken for a ``C``), so
    evenly spread noise seen through its mistakes may look like this: as the noise rate for
    clean labels (`_kind_of`), the same bound for its shape. Predictions sure of most images can
    still be confidently wrong between look-alikes, so `_compare` passes the larger of
    ``resolution`` and their `largest_confusion` at the power the models are compared on.

    For biased complementary labels it is the gap: each class's smallest wrong-label rate below
    an even spread, ``(1 - T[i, i]) / (K - 1) - min_j T[i, j]``. Uniform complementary labels
    seen through a predictor that takes a share ``e`` of a cluster for one other class ``d``
    give that cluster label ``d`` at ``(1 - e) / (K - 1)`` and every other label at
    ``1 / (K - 1)``: a gap of at most ``e / (K - 1)``.

    Either is also what a finite sample shows by itself (`sampling_unevenness`), which the
    fitted matrix contains as well, so it is added to the bound.
    """
    T = m.matrix
    K = T.shape[0]
    if m.kind in ("pair-flip", "asymmetric") and m.reading in ("dominant", "reference"):
        off = np.where(np.eye(K, dtype=bool), -np.inf, T)
        pile = float(m.class_prior @ (off.max(1) - (1.0 - np.diag(T)) / (K - 1)))
        return pile <= resolution + sampling_unevenness(m, side="pile")
    if m.kind == "biased-complementary" and m.reading in ("complementary", "reference"):
        off = np.where(np.eye(K, dtype=bool), np.inf, T)
        gap = float(m.class_prior @ ((1.0 - np.diag(T)) / (K - 1) - off.min(1)))
        return gap <= resolution / (K - 1) + sampling_unevenness(m, side="gap")
    return False


#: Seeded draws of evenly spread wrong labels behind `sampling_unevenness`.
EVEN_DRAWS = 400


def sampling_unevenness(m: FittedModel, *, side: str, quantile: float = 0.95) -> float:
    """The pile (or gap) that evenly spread wrong labels show through sampling alone.

    True class ``i`` has ``w_i`` wrong labels in ``m``'s counts. Spread evenly over the other
    ``K - 1`` classes they still fall unevenly (a multinomial), so a matrix fitted to them
    shows, for that class, a largest wrong-label share above ``1 / (K - 1)`` (``side="pile"``)
    and a smallest below it (``side="gap"``) of its own: each times ``1 - T[i, i]`` in T's
    units, after ``m``'s shrinkage toward an even spread (its ``concentration``, where it has
    one), averaged with the class prior. Returns the ``quantile`` of that average over
    `EVEN_DRAWS` seeded draws: how uneven a fitted matrix of labels that *are* evenly spread
    may look.
    """
    if side not in ("pile", "gap"):
        raise NoisylabError(f"side must be 'pile' or 'gap', got {side!r}")
    K = m.counts.shape[0]
    if K < 3:
        return 0.0  # one wrong label per class: nothing to spread
    wrong = np.maximum(np.round(m.counts.sum(1) - np.diag(m.counts)), 0).astype(np.int64)
    alpha = float(m.params.get("concentration", 0.0))  # none: the shares as counted
    even = 1.0 / (K - 1)
    draws = np.random.default_rng(0).multinomial(np.broadcast_to(wrong, (EVEN_DRAWS, K)),
                                                 np.full(K - 1, even))  # (D, K, K - 1)
    shares = (draws + alpha * even) / np.maximum(wrong + alpha, 1e-300)[:, None]
    spread = shares.max(2) - even if side == "pile" else even - shares.min(2)
    spread = np.where(wrong + alpha > 0, spread, 0.0) * (1.0 - np.diag(m.matrix))
    return float(np.quantile(spread @ m.class_prior, quantile))


#: The kind whose evenly spread wrong labels a predictor's mistakes can make look like each
#: unevenly spread kind (`_within_resolution`).
EVEN_SPREAD = {"pair-flip": "symmetric", "asymmetric": "symmetric",
               "biased-complementary": "complementary"}


def _nests(big: FittedModel, small: FittedModel) -> bool:
    """Whether ``big`` is ``small`` with parameters added (a free matrix contains every model)."""
    if big.dof <= small.dof:
        return False
    return big.name in FREE or small.name in NESTS.get(big.name, set())


def _speaks_for(big: FittedModel, small: FittedModel, alike) -> bool:
    """Whether ``big`` only adds parameters to ``small`` that change none of its predictions.

    A model that reads the images never speaks for labels that ignore them: "the labels say
    nothing about the images" and "they do, too faintly to see here" predict the same labels
    but are different explanations (one leaves nothing to learn; the other, with more images,
    something), so both stay candidates.
    """
    if small.reading == "none" and big.reading != "none":
        return False
    return _nests(big, small) and (alike is None or alike(big, small))


def _size(m: FittedModel) -> tuple:
    """How complex a model is (fewer is simpler): its parameters, then whether it reads the
    predictions at all (labels unrelated to the images assume the least), then whether it
    makes a discrete choice per class."""
    return (m.dof, m.name not in ("uniform", "unrelated"),
            m.name in ("pair-flip", "pair-flip per class", "permutation"))


def _compare(models: list, has_reference: bool, resolution: float, prefer: str,
             compare: str, alike=None, confusion: float = 0.0) -> Ladder:
    """The ladder's verdict from fitted models with their probabilities.

    ``alike(a, b)`` says whether two models predict the same labels (None: nested models
    always do, as under exact counts); ``confusion`` is the predictions'
    `largest_confusion`, which with ``resolution`` bounds the pile symmetric noise can show.
    """
    models = sorted(models, key=lambda m: -m.probability)
    best = models[0].probability
    close = [m for m in models if m.probability * EVIDENCE >= best]
    # the simplest; between equals (two readings of one free matrix) the preferred reading
    selected = min(close, key=lambda m: (_size(m), m.reading != prefer, -m.probability))
    probs: dict = {}
    counted_as: dict = {}
    for m in models:
        # a model that only adds parameters to the selected one, without being clearly
        # better, speaks for the selected kind: its extra parameters are not supported
        kind = selected.kind if m in close and _speaks_for(m, selected, alike) else m.kind
        probs[kind] = probs.get(kind, 0.0) + m.probability
        counted_as[m.name] = kind
    # a rival explains the labels differently; a model that only adds parameters to the
    # selected one without being clearly better is not a different explanation
    rivals = [m for m in close if not _speaks_for(m, selected, alike)]
    candidates = list(dict.fromkeys([selected.kind] + [m.kind for m in rivals]))
    if candidates[0] == "clean" and not has_reference and "permutation" not in candidates:
        candidates.insert(1, "permutation")
    even = EVEN_SPREAD.get(selected.kind)
    if even and even not in candidates and any(m.kind == even for m in models) \
            and _within_resolution(selected, max(resolution, confusion)):
        candidates.append(even)
    # the runner-up: the best other explanation (not the selected model with parameters added)
    runner = next((m for m in models
                   if m.kind != selected.kind and not _speaks_for(m, selected, alike)),
                  next((m for m in models if m.kind != selected.kind), None))
    return Ladder(models=tuple(models), selected=selected, runner_up=runner,
                  kind_probabilities=probs, candidates=tuple(candidates),
                  has_reference=has_reference, resolution=resolution, compare=compare,
                  counted_as=counted_as, confusion=confusion)


def model_posterior(true_probs: np.ndarray, given: np.ndarray, model: FittedModel) -> np.ndarray:
    """``p(true | x, given)`` ``(N, K)`` under a fitted model, columns in class order."""
    data = _Samples(np.asarray(true_probs, dtype=np.float64), np.asarray(given, dtype=np.int64))
    R = data.posterior(model.matrix[model.naming])
    out = np.empty_like(R)
    out[:, model.naming] = R
    return out
