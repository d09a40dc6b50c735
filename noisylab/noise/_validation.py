"""Input checks shared by the noise modules: one clear :class:`NoisylabError` per mistake."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from noisylab.errors import NoisylabError

#: How far a row of a probability matrix may sum from 1.
ROW_SUM_TOL = 1e-3


def check_option(value: object, name: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise a message listing the choices."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise NoisylabError(f"{name}={value!r} is not valid: choose one of {choices}")
    return value


def check_num_classes(K: object, name: str = "K", minimum: int = 2) -> int:
    """An integer number of classes, at least ``minimum``."""
    if isinstance(K, bool) or not isinstance(K, int | np.integer) or int(K) < minimum:
        raise NoisylabError(f"{name} must be an integer >= {minimum}, got {K!r}")
    return int(K)


def check_rate(rate: object, name: str = "rate") -> float:
    """A probability in [0, 1]."""
    try:
        r = float(rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NoisylabError(f"{name} must be a number in [0, 1], got {rate!r}") from None
    if not 0.0 <= r <= 1.0 or r != r:
        raise NoisylabError(f"{name} must be in [0, 1], got {rate!r}")
    return r


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """A significance level strictly between 0 and 1."""
    try:
        a = float(alpha)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NoisylabError(f"{name} must be a number in (0, 1), got {alpha!r}") from None
    if not 0.0 < a < 1.0:
        raise NoisylabError(f"{name} must be in (0, 1), got {alpha!r}")
    return a


def check_labels(
    labels: object, name: str, K: int | None = None, n: int | None = None
) -> np.ndarray:
    """Integer class labels, shape ``(N,)``, each in ``[0, K)``; returned as int64."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise NoisylabError(f"{name} must be one-dimensional (N,), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise NoisylabError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if n is not None and arr.shape[0] != n:
        raise NoisylabError(f"{name} has {arr.shape[0]} entries but pred_probs has {n} rows")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or (K is not None and hi >= K):
            bound = f"[0, {K})" if K is not None else "[0, K)"
            raise NoisylabError(f"{name} must be class indices in {bound}, found {lo}..{hi}")
    return arr


def check_probs(probs: object, name: str, K: int | None = None) -> np.ndarray:
    """A probability matrix, shape ``(N, K)``, nonnegative rows summing to 1; returned float64."""
    try:
        arr = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise NoisylabError(f"{name} must be a numeric array of shape (N, K)") from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise NoisylabError(f"{name} must have shape (N, K) with K >= 2, got {arr.shape}")
    if arr.shape[0] == 0:
        raise NoisylabError(f"{name} is empty: need at least one sample")
    if K is not None and arr.shape[1] != K:
        raise NoisylabError(f"{name} has {arr.shape[1]} columns but {K} classes were expected")
    if not np.all(np.isfinite(arr)):
        raise NoisylabError(f"{name} contains NaN or infinite values")
    if arr.min() < -1e-9:
        raise NoisylabError(
            f"{name} has negative entries (min {arr.min():.3g}): pass probabilities, not logits"
        )
    sums = arr.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > ROW_SUM_TOL:
        raise NoisylabError(
            f"{name} rows must sum to 1 (worst row sums to {sums[np.argmax(np.abs(sums - 1))]:.4g}): "
            "pass softmax probabilities"
        )
    arr = np.clip(arr, 0.0, None)
    return arr / arr.sum(axis=1, keepdims=True)


def check_transition(T: object, name: str = "T", K: int | None = None) -> np.ndarray:
    """A transition matrix ``T[i, j] = P(given = j | true = i)``, shape ``(K, K)``, rows summing to 1."""
    try:
        arr = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise NoisylabError(f"{name} must be a numeric (K, K) matrix") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise NoisylabError(
            f"{name} must be a square (K, K) matrix with K >= 2, got shape {arr.shape}"
        )
    if K is not None and arr.shape[0] != K:
        raise NoisylabError(
            f"{name} is {arr.shape[0]}x{arr.shape[0]} but {K} classes were expected"
        )
    if not np.all(np.isfinite(arr)) or arr.min() < -1e-12:
        raise NoisylabError(f"{name} must hold finite nonnegative probabilities")
    sums = arr.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
    if bad.size:
        raise NoisylabError(
            f"{name} rows must sum to 1 (T[i, j] = P(given = j | true = i)); "
            f"row {int(bad[0])} sums to {sums[bad[0]]:.4g}"
        )
    arr = np.clip(arr, 0.0, None)
    return arr / arr.sum(axis=1, keepdims=True)
