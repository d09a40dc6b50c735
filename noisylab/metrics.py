"""Classification metrics computed from predicted probabilities (numpy only).

Used to *report* a model against clean labels (a test set), never to choose anything while
training on noisy labels.
"""

from __future__ import annotations

import numpy as np


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows of ``probs`` ``(N, K)`` whose argmax equals ``labels`` ``(N,)``."""
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def nll(probs: np.ndarray, labels: np.ndarray, *, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of ``labels`` ``(N,)`` under ``probs`` ``(N, K)``, in nats."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, None))))


def reliability(probs: np.ndarray, labels: np.ndarray, *, bins: int = 15):
    """Per-bin confidence, accuracy and count, for the expected calibration error.

    Returns
    -------
    confidence, accuracy, count : ndarray of shape ``(bins,)``
        Mean top-class probability, accuracy and number of samples in each equal-width bin
        of top-class probability (NaN where a bin is empty).
    """
    correct = probs.argmax(axis=1) == labels
    return binned_reliability(probs.max(axis=1), correct, bins=bins)


def binned_reliability(confidence: np.ndarray, correct: np.ndarray, *, bins: int):
    """Mean ``confidence`` ``(M,)`` (a probability of being right), share ``correct``
    ``(M,)`` (bool) and count in each of ``bins`` equal-width bins of confidence: three
    ``(bins,)`` arrays, NaN where a bin is empty."""
    confidence = np.asarray(confidence, dtype=np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
        mean_acc = np.bincount(which, weights=np.asarray(correct, float), minlength=bins) / count
    return mean_conf, mean_acc, count


def calibration_error(confidence: np.ndarray, accuracy: np.ndarray, count: np.ndarray) -> float:
    """The count-weighted mean gap between per-bin ``confidence`` and ``accuracy``."""
    seen = count > 0
    return float(np.sum(count[seen] * np.abs(confidence[seen] - accuracy[seen])) / count.sum())


def ece(probs: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017) with equal-width bins."""
    return calibration_error(*reliability(probs, labels, bins=bins))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of samples of true class ``i`` predicted as ``j``; ``(K, K)`` ints."""
    return np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix ``(K, K)``."""
    tp = np.diag(confusion).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / confusion.sum(axis=0))
        recall = np.nan_to_num(tp / confusion.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return {"precision": precision, "recall": recall, "f1": f1, "support": confusion.sum(axis=1)}


def summary(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, NLL and ECE in one dict (the figures logged each epoch)."""
    return {"acc": accuracy(probs, labels), "nll": nll(probs, labels), "ece": ece(probs, labels)}
