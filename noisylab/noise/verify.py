"""A few verified labels decide between readings the given labels cannot tell apart.

When the ladder leaves several readings open (say "biased complementary" and "asymmetric":
the same clusters of images named two ways), each reading gives every image a posterior over its
true class, ``R_a[n]`` ``(K,)``. A person's label ``v`` for image ``n`` is then evidence: its
likelihood under reading ``a`` is ``(1 - e) R_a[n, v] + e / K``, where ``e`` is the chance that
the person is wrong. :func:`choose_to_verify` picks the images whose labels are expected to
separate the readings most (the largest divergence between their predictions of the person's
label), spread over the clusters so that one confusing cluster cannot decide alone;
:func:`weigh_readings` turns the labels into posterior probabilities of the readings.
"""

from __future__ import annotations

import math

import numpy as np

from noisylab.errors import NoisylabError

__all__ = ["ERROR_RATE", "choose_to_verify", "labels_needed", "weigh_readings"]

#: Assumed chance that a person's verified label is wrong (a typo, a doubtful image).
ERROR_RATE = 0.02


def _predictive(R: np.ndarray, error_rate: float) -> np.ndarray:
    K = R.shape[-1]
    return (1.0 - error_rate) * R + error_rate / K


def _divergence(posteriors: list, error_rate: float) -> np.ndarray:
    """Per image, the smallest symmetric KL between any two readings' predictions ``(N,)``.

    With one reading: the entropy of its prediction (where a label teaches the most).
    """
    preds = [_predictive(np.asarray(R, dtype=np.float64), error_rate) for R in posteriors]
    if len(preds) == 1:
        p = preds[0]
        return -(p * np.log(p)).sum(1)
    worst = np.full(preds[0].shape[0], np.inf)
    for a in range(len(preds)):
        for b in range(a + 1, len(preds)):
            pa, pb = preds[a], preds[b]
            kl = 0.5 * ((pa - pb) * (np.log(pa) - np.log(pb))).sum(1)
            worst = np.minimum(worst, kl)
    return worst


def choose_to_verify(posteriors: list, n: int, *, error_rate: float = ERROR_RATE) -> np.ndarray:
    """Indices ``(n,)`` of the images whose true labels would best separate the readings.

    Parameters
    ----------
    posteriors : list of ndarray ``(N, K)``
        ``p(true | x, given)`` under each open reading (one reading: its most uncertain images
        are chosen).
    n : int
        How many images.

    Returns
    -------
    ndarray of int ``(n,)``
        Most informative first, taking the clusters (the first reading's suggested classes) in
        turn.
    """
    if n < 1:
        raise NoisylabError(f"the number of images to verify must be at least 1, got {n}")
    score = _divergence(posteriors, error_rate)
    cluster = np.asarray(posteriors[0]).argmax(1)
    queues = [list(np.flatnonzero(cluster == c)[np.argsort(-score[cluster == c])])
              for c in np.unique(cluster)]
    queues.sort(key=lambda q: -score[q[0]])
    out: list[int] = []
    while len(out) < min(n, len(score)):
        for q in queues:
            if q and len(out) < n:
                out.append(int(q.pop(0)))
    return np.array(out, dtype=np.int64)


def weigh_readings(posteriors: list, index: np.ndarray, labels: np.ndarray, prior: np.ndarray,
                   *, error_rate: float = ERROR_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Posterior probabilities of the readings ``(A,)`` given verified labels.

    Parameters
    ----------
    posteriors : list of A ndarray ``(N, K)``
        ``p(true | x, given)`` under each reading.
    index : ndarray of int ``(M,)``
        The verified images.
    labels : ndarray of int ``(M,)``
        Their true classes as a person gave them.
    prior : ndarray ``(A,)``
        The readings' probabilities before the verified labels.

    Returns
    -------
    probabilities : ndarray ``(A,)``
    log_likelihoods : ndarray ``(A,)``
        Of the verified labels under each reading (nats).
    """
    index, labels = np.asarray(index, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    ll = np.array([float(np.log(_predictive(np.asarray(R)[index, labels], error_rate)).sum())
                   for R in posteriors])
    log_post = np.log(np.clip(np.asarray(prior, dtype=np.float64), 1e-300, None)) + ll
    p = np.exp(log_post - log_post.max())
    return p / p.sum(), ll


def labels_needed(posteriors: list, *, odds: float = 20.0,
                  error_rate: float = ERROR_RATE) -> int | None:
    """How many verified labels, chosen by :func:`choose_to_verify`, are expected to reach
    ``odds`` to 1 between the readings (None with one reading).

    Each label adds, in expectation, at least the smallest divergence between the readings'
    predictions of it; labels are counted until those add up to ``log(odds)``.
    """
    if len(posteriors) < 2:
        return None
    score = np.sort(_divergence(posteriors, error_rate))[::-1]
    total = np.cumsum(score)
    reach = np.flatnonzero(total >= math.log(odds))
    return int(reach[0]) + 1 if reach.size else None
