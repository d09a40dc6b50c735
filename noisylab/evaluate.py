"""Evaluate a checkpoint on labelled data: figures for the record, and two PNGs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from noisylab import metrics, plots
from noisylab.errors import NoisylabError
from noisylab.models import load_model
from noisylab.train import predict_logits


def evaluate(checkpoint, dataset, *, out_dir: str | os.PathLike | None = None,
             device: str = "cpu") -> dict:
    """Accuracy, NLL, ECE and per-class scores of a checkpoint on ``dataset``'s labels.

    Parameters
    ----------
    checkpoint : path
        A checkpoint or run folder (see `noisylab.checkpoints.load_checkpoint`).
    dataset : LabeledImages
        Images and the labels to score against (clean labels: this is for reporting).
    out_dir : path, optional
        Where to write ``confusion.png`` and ``reliability.png``.

    Returns
    -------
    dict
        ``acc``, ``nll``, ``ece``, ``per_class`` (name -> precision, recall, f1, support),
        ``confusion`` ``(K, K)`` list (rows true, columns predicted), ``reliability`` (per-bin
        ``confidence``, ``accuracy``, ``count`` lists, see `noisylab.metrics.reliability`; None
        for an empty bin), ``figures`` (paths written).
    """
    model, ckpt = load_model(checkpoint, device=device)
    classes = list(ckpt.metadata.get("class_names") or dataset.classes)
    if len(classes) != len(dataset.classes) or list(dataset.classes) != classes:
        raise NoisylabError(
            f"{ckpt.path} predicts {len(classes)} classes ({', '.join(classes[:5])}...), the data "
            f"has {len(dataset.classes)} ({', '.join(dataset.classes[:5])}...); evaluate it on "
            "data with the same classes")
    probs = predict_logits(model, dataset.images.to(device)).softmax(1).cpu().numpy()
    labels = dataset.labels.numpy()
    k = len(classes)
    confusion = metrics.confusion_matrix(labels, probs.argmax(1), k)
    scores = metrics.per_class_scores(confusion)
    conf, acc, count = metrics.reliability(probs, labels)
    result = {**metrics.summary(probs, labels), "n": int(len(labels)),
              "checkpoint": str(ckpt.path),
              "per_class": {c: {s: float(scores[s][i]) for s in scores} for i, c in enumerate(classes)},
              "confusion": confusion.tolist(),
              "reliability": {"confidence": _listed(conf), "accuracy": _listed(acc),
                              "count": count.astype(int).tolist()},
              "figures": []}
    if out_dir is not None:
        out_dir = Path(out_dir)
        with np.errstate(invalid="ignore"):
            rates = np.nan_to_num(confusion / confusion.sum(1, keepdims=True))
        result["figures"].append(str(plots.heatmap(
            rates, out_dir / "confusion.png", row_labels=classes, col_labels=classes,
            title=f"confusion (row-normalised), acc {100 * result['acc']:.2f}%",
            xlabel="predicted", ylabel="true", annotate=k <= 12)))
        result["figures"].append(str(plots.reliability_diagram(
            conf, acc, count, out_dir / "reliability.png",
            title=f"reliability, ECE {result['ece']:.4f}")))
    return result


def _listed(values: np.ndarray) -> list:
    """A float array as a JSON-ready list, NaN (an empty bin) as None."""
    return [None if np.isnan(v) else float(v) for v in values]
