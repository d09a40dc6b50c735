"""Bootstrap over images: intervals for ``T``, the keep and noise rates, and the kind's probability.

Each replicate reweights the images by Poisson(1) counts (the Poisson bootstrap, which equals
the ordinary bootstrap in the limit and needs no copies of the data) and refits the reported
model of the ladder (`noisylab.noise.ladder`) by EM, from its full-data fit. What is estimated
is the matrix these very labels realise, so each replicate then draws every image's true class
from its posterior under the refitted model and counts (drawn class, given label): the interval
holds both the uncertainty of the model's parameters and that of which image is which class.
The predictions ``P`` are held fixed: the randomness of training the cross-fitted model is not
in the intervals.

The kind's probability is the ladder's (its pseudo-BMA+ weights on all the images); its
interval is its spread over random halves of the images, drawn without replacement (subsampling,
Politis and Romano 1994). Resampling *with* replacement is not used for it: a repeated image
would sit in both the part a model is fitted on and the part it is scored on.
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
    fit_ladder,
    model_posterior,
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
        The spread of that probability over random halves of the images.
    selected_share : float
        Share of those halves whose own selection was the same kind.
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
              cluster_counts: np.ndarray | None = None, p_dof: int | None = None,
              prefer: str = "dominant", replicates: int = 40, level: float = 0.95,
              seed: int = 0, max_iter: int = 60, model: str | None = None,
              kinds: tuple | None = None, halves: int = 6) -> Intervals:
    """Intervals for a reading of ``ladder`` by refitting it on resampled images.

    Parameters
    ----------
    true_probs : ndarray ``(N, K)``
        The ``P`` the ladder was fitted on.
    given : ndarray of int ``(N,)``
    ladder : Ladder
        The full-data fit (starting points, and the kinds whose probability is bagged).
    cluster_counts, p_dof, prefer
        As passed to `noisylab.noise.fit_ladder`.
    replicates : int
        Bootstrap replicates.
    level : float
        Central coverage of the percentile intervals.
    model : str, optional
        The ladder model whose matrix the intervals are for (default: the selected one).
    kinds : tuple of str, optional
        The kinds whose probability is reported (default: the ladder's candidates).
    halves : int
        Random halves of the images the kind's probability is recomputed on.
    """
    rng = np.random.default_rng(seed)
    N = len(given)
    sel = ladder.selected if model is None else next(m for m in ladder.models if m.name == model)
    kinds = ladder.candidates if kinds is None else kinds
    start = {m.name: m.matrix for m in ladder.models}
    options = dict(cluster_counts=cluster_counts, has_reference=ladder.has_reference,
                   resolution=ladder.resolution, p_dof=p_dof, prefer=prefer, start=start,
                   max_iter=max_iter, tol=1e-8)
    mats, kept = [], []
    data = _Samples(true_probs, given)
    for _ in range(replicates):
        w = rng.poisson(1.0, N).astype(np.float64)
        model = _refit(data.reweighted(w), sel, max_iter)
        T, right = _draw_realised(true_probs, given, model, rng, w)
        mats.append(T)
        kept.append(right)
    probs, same = [], 0
    for _ in range(halves):
        w = (rng.permutation(N) < N // 2).astype(np.float64)
        rep = fit_ladder(true_probs, given, weights=w, **options)
        probs.append(sum(rep.kind_probabilities.get(k, 0.0) for k in kinds))
        same += rep.selected.kind == sel.kind
    mats = np.array(mats)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    keep = np.diagonal(mats, axis1=1, axis2=2)
    probs = np.array(probs) if probs else np.array([np.nan])
    return Intervals(level=level, replicates=replicates,
                     transition=np.quantile(mats, [lo, hi], axis=0),
                     keep_rate=np.quantile(keep, [lo, hi], axis=0),
                     noise_rate=np.quantile(1.0 - np.array(kept), [lo, hi]),
                     kind_probability=float(sum(ladder.kind_probabilities.get(k, 0.0)
                                                for k in kinds)),
                     kind_probability_interval=np.quantile(probs, [lo, hi]),
                     selected_share=same / max(halves, 1))


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
