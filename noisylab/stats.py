"""Small statistics for comparing runs across seeds and folds (numpy/scipy only, no torch).

Used by the experiment reports: a mean with its t-distribution confidence interval, Welch's
t-test for a difference of two means, when a learning curve first reaches a target, the area
under a learning curve, and reliability bins pooled over runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class MeanCI(NamedTuple):
    """A sample mean and the half-width of its confidence interval.

    Attributes
    ----------
    mean : float
    half_width : float
        ``t_{1 - (1 - confidence) / 2, n - 1} * s / sqrt(n)``; NaN when ``n < 2``.
    n : int
        Number of values.
    """

    mean: float
    half_width: float
    n: int


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean of ``values`` ``(n,)`` and the half-width of its ``confidence`` interval (Student t).

    The interval is ``mean +- t * s / sqrt(n)`` with ``s`` the sample standard deviation
    (``ddof=1``) and ``t`` the two-sided quantile of Student's t with ``n - 1`` degrees of freedom.
    With fewer than two values the half-width is NaN (no interval can be given).
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return MeanCI(math.nan, math.nan, 0)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if x.size < 2:
        return MeanCI(float(x[0]), math.nan, 1)
    t = stats.t.ppf(0.5 + confidence / 2, df=x.size - 1)
    return MeanCI(float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(x.size)), int(x.size))


class WelchResult(NamedTuple):
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``.

    Attributes
    ----------
    diff : float
        ``mean(a) - mean(b)``.
    t : float
        ``diff / sqrt(s_a^2 / n_a + s_b^2 / n_b)``.
    df : float
        Welch-Satterthwaite degrees of freedom.
    p : float
        Two-sided p-value.
    half_width : float
        Half-width of the ``confidence`` interval of ``diff`` (``t_df * standard error``).
    """

    diff: float
    t: float
    df: float
    p: float
    half_width: float


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> WelchResult | None:
    """Welch's t-test (Welch 1947) for the difference of the means of ``a`` and ``b``.

    The statistic and p-value are scipy's ``ttest_ind(a, b, equal_var=False)``; the degrees of
    freedom are Welch-Satterthwaite's
    ``(va + vb)^2 / (va^2 / (n_a - 1) + vb^2 / (n_b - 1))`` with ``v = s^2 / n``.

    Returns
    -------
    WelchResult or None
        None when either group has fewer than two values (no variance to test with).
        When both groups have zero variance, ``t`` is +-inf (or NaN for equal means) and ``p``
        is 0 (or NaN).
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        t = math.nan if diff == 0 else math.copysign(math.inf, diff)
        return WelchResult(diff, t, math.nan, math.nan if diff == 0 else 0.0, 0.0)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    test = stats.ttest_ind(a, b, equal_var=False)
    half = stats.t.ppf(0.5 + confidence / 2, df=df) * se
    return WelchResult(diff, float(test.statistic), float(df), float(test.pvalue), float(half))


def first_reaching(values: Sequence[float], target: float) -> int | None:
    """Index of the first of ``values`` ``(E,)`` that is at least ``target``; None if none is."""
    for i, v in enumerate(values):
        if v is not None and v >= target:
            return i
    return None


def area_under_curve(values: Sequence[float]) -> float:
    """Normalised area under a per-epoch curve ``(E,)``: the mean of its values.

    For an accuracy curve this is the accuracy averaged over training (1.0 would be a model
    that is perfect from its first epoch), so a curve that rises sooner has the larger area.
    """
    x = np.asarray(values, dtype=float)
    return float(x.mean()) if x.size else math.nan


def pooled_reliability(bins: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability bins of several runs on equal-width bins, pooled by count.

    Parameters
    ----------
    bins : sequence of dict
        Each with ``confidence``, ``accuracy`` and ``count`` lists of the same length ``(B,)``
        (an empty bin's mean may be None), as `noisylab.evaluate.evaluate` records them.

    Returns
    -------
    confidence, accuracy, count : ndarray of shape ``(B,)``
        Count-weighted means per bin (NaN where every run's bin is empty) and summed counts.
    """
    count = np.sum([np.asarray(b["count"], dtype=float) for b in bins], axis=0)
    conf_sum = np.zeros_like(count)
    acc_sum = np.zeros_like(count)
    for b in bins:
        c = np.asarray(b["count"], dtype=float)
        conf = np.array([0.0 if v is None else v for v in b["confidence"]], dtype=float)
        acc = np.array([0.0 if v is None else v for v in b["accuracy"]], dtype=float)
        conf_sum += c * conf
        acc_sum += c * acc
    with np.errstate(invalid="ignore", divide="ignore"):
        return conf_sum / count, acc_sum / count, count
