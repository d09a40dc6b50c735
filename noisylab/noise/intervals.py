"""Bootstrap over images: intervals for ``T``, the keep and noise rates, and the kind's probability.

Each replicate reweights the images by Poisson(1) counts (the Poisson bootstrap, which equals
the ordinary bootstrap in the limit and needs no copies of the data) and refits the reported
model of the ladder (`noisylab.noise.ladder`) by EM, from its full-data fit. What is estimated
is the matrix these very labels realise, so each replicate then draws every image's true class
from its posterior under the refitted model and counts (drawn class, given label): the interval
holds both the uncertainty of the model's parameters and that of which image is which class.
Both are drawn on ``P`` raised to the power the ladder compared its models on (`Ladder.power`,
the calibration that held-out labels support): the calibration fitted on the same labels can
leave ``P`` surer than it is, and posterior draws from an over-sure ``P`` hold too little of
which image is which class. Where the labels say next to nothing about the images (labels
unrelated to them, complementary labels on few images a class) that power is small, and the
intervals hold the spread of a realised matrix whose classes are all but unknown. Read as
unrelated to the images without a reference, the labels that taught ``P`` its clusters carried
nothing about the images, so the clusters name no class, and each draw gives every image a
class from the given labels' proportions alone. ``P`` is otherwise held fixed: the randomness
of training the cross-fitted model is not in the intervals.

The kind's probability is the ladder's (its pseudo-BMA+ weights on all the images); its
interval is its spread over the Bayesian-bootstrap reweightings of the images that pseudo-BMA+
averages (Dirichlet weights on each image's held-out log-likelihood; Rubin 1981). Nothing is
refitted for it: refitting on a resample *with* replacement would put a repeated image both in
the part a model is fitted on and in the part it is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from noisylab.noise.ladder import (
    FREE,
    FittedModel,
    Ladder,
    _fit_one,
    _Samples,
    model_posterior,
    soften,
)

__all__ = ["Intervals", "bootstrap"]


@dataclass(frozen=True, eq=False)
class Intervals:
    """Bootstrap intervals of one reading and of the kind's probability.

    Attributes
    ----------
    level : float
        Coverage the intervals aim at (0.95).
    replicates : int
    transition : ndarray ``(2, K, K)``
        Lower and upper bounds of each entry of the reading's realised ``T``.
    keep_rate : ndarray ``(2, K)``
    noise_rate : ndarray ``(2,)``
    kind_probability : float
        Posterior probability of the reported candidates (the audit's ``confidence``).
    kind_probability_interval : ndarray ``(2,)``
        The central ``level`` interval of that probability over Bayesian-bootstrap
        reweightings of the images (NaN when the ladder was compared by evidence).
    selected_share : float
        Share of those reweightings under which the reported kind keeps the most probability.
    """

    level: float
    replicates: int
    transition: np.ndarray
    keep_rate: np.ndarray
    noise_rate: np.ndarray
    kind_probability: float
    kind_probability_interval: np.ndarray
    selected_share: float

    def to_dict(self) -> dict:
        """JSON-ready: ``{"level", "replicates", "transition": [lower, upper], ...}``."""
        return {"level": self.level, "replicates": self.replicates,
                "transition": self.transition.tolist(), "keep_rate": self.keep_rate.tolist(),
                "noise_rate": self.noise_rate.tolist(),
                "kind_probability": self.kind_probability,
                "kind_probability_interval": self.kind_probability_interval.tolist(),
                "selected_share": self.selected_share}


def bootstrap(true_probs: np.ndarray, given: np.ndarray, ladder: Ladder, *,
              replicates: int = 40, level: float = 0.95,
              seed: int = 0, max_iter: int = 60, model: str | None = None,
              kinds: tuple | None = None) -> Intervals:
    """Intervals for a reading of ``ladder`` by refitting it on resampled images.

    Parameters
    ----------
    true_probs : ndarray ``(N, K)``
        The ``P`` the ladder was fitted on (softened here to ``ladder.power``).
    given : ndarray of int ``(N,)``
    ladder : Ladder
        The full-data fit (the starting point, and the draws of the kinds' probabilities).
    replicates : int
        Bootstrap replicates.
    level : float
        Central coverage of the percentile intervals.
    model : str, optional
        The ladder model whose matrix the intervals are for (default: the selected one).
    kinds : tuple of str, optional
        The kinds whose probability is reported (default: the ladder's candidates).
    """
    rng = np.random.default_rng(seed)
    N = len(given)
    sel = ladder.selected if model is None else next(m for m in ladder.models if m.name == model)
    kinds = ladder.candidates if kinds is None else kinds
    P = true_probs if ladder.power == 1.0 else soften(true_probs, ladder.power)
    if sel.name in ("uniform", "unrelated") and not ladder.has_reference:
        # clusters learnt from labels unrelated to the images name no class, nor how common
        # each is: any image may be any class, as common as its label
        P = np.tile(np.bincount(given, minlength=P.shape[1]) / N, (N, 1))
    mats, kept = [], []
    data = _Samples(P, given)
    for _ in range(replicates):
        w = rng.poisson(1.0, N).astype(np.float64)
        model = _refit(data.reweighted(w), sel, max_iter)
        T, right = _draw_realised(P, given, model, rng, w)
        mats.append(T)
        kept.append(right)
    mats = np.array(mats)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    keep = np.diagonal(mats, axis1=1, axis2=2)
    spread, share = _kind_spread(ladder, kinds, sel.kind, (lo, hi))
    return Intervals(level=level, replicates=replicates,
                     transition=np.quantile(mats, [lo, hi], axis=0),
                     keep_rate=np.quantile(keep, [lo, hi], axis=0),
                     noise_rate=np.quantile(1.0 - np.array(kept), [lo, hi]),
                     kind_probability=float(sum(ladder.kind_probabilities.get(k, 0.0)
                                                for k in kinds)),
                     kind_probability_interval=spread, selected_share=share)


def _kind_spread(ladder: Ladder, kinds: tuple, kind: str,
                 quantiles: tuple[float, float]) -> tuple[np.ndarray, float]:
    """The ``quantiles`` ``(2,)`` of the probability of ``kinds`` over the ladder's
    Bayesian-bootstrap draws, and the share of draws under which ``kind`` has the most."""
    draws = ladder.kind_draws()
    if not draws:
        return np.full(2, np.nan), float("nan")
    of_kinds = sum((draws.get(k, 0.0) for k in kinds), np.zeros(len(next(iter(draws.values())))))
    names = list(draws)
    top = np.argmax(np.stack([draws[k] for k in names]), axis=0)
    share = float(np.mean(top == names.index(kind))) if kind in draws else 0.0
    return np.quantile(of_kinds, quantiles), share


def _refit(data: _Samples, model: FittedModel, max_iter: int) -> FittedModel:
    """``model`` refitted by EM on reweighted samples, from its own matrix."""
    T, C, _, params = _fit_one(data, "free" if model.name in FREE else model.name, model.naming,
                               model.matrix, data.label_marginal(),
                               max_iter=max_iter, tol=1e-8)
    return replace(model, matrix=T, counts=C, params=params)


def _draw_realised(P: np.ndarray, given: np.ndarray, model, rng,
                   weights: np.ndarray) -> tuple[np.ndarray, float]:
    """A draw of the realised ``T`` ``(K, K)`` and of the share of right labels.

    Every image's true class is drawn from its posterior under ``model``; images count with
    their resampling ``weights``.
    """
    R = model_posterior(P, given, model)
    cum = np.cumsum(R, axis=1)
    u = rng.random((len(given), 1)) * cum[:, -1:]
    true = np.minimum((cum < u).sum(1), R.shape[1] - 1)
    K = R.shape[1]
    C = np.bincount(true * K + given, weights=weights, minlength=K * K).reshape(K, K)
    n = C.sum(1, keepdims=True)
    T = np.where(n > 0, C / np.where(n > 0, n, 1.0), model.realised)
    return T, float(np.trace(C) / max(C.sum(), 1.0))
