"""Evaluate a checkpoint on labelled data: figures for the record, and two PNGs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from noisylab import metrics, plots
from noisylab.errors import NoisylabError
from noisylab.models import load_model, side_inputs_of
from noisylab.outputs import prepare_output
from noisylab.runs import run_model
from noisylab.train import predict_logits


def predict_probs(model, images, *, views: int = 1, seed: int = 0, side=None):
    """Class probabilities ``(N, K)`` of a model for uint8 images ``(N, 1, 28, 28)``.

    With ``views > 1``, test-time augmentation: the mean over the images as given and
    ``views - 1`` seeded random affine warps of them (`noisylab.augment.random_affine`, the
    training augmentation's rotation, scale and shift), so the same call gives the same figures.
    ``side`` ``(N, S)``: the images' side inputs, for a model that reads them (the same for
    every view).
    """
    from noisylab.augment import random_affine

    if views < 1:
        raise NoisylabError(f"test-time augmentation needs at least 1 view, got {views}")
    probs = predict_logits(model, images, side=side).softmax(1)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(views - 1):
        warped = random_affine(images.float(), generator).round_().clamp_(0, 255).to(torch.uint8)
        probs += predict_logits(model, warped, side=side).softmax(1)
    return probs / views


def side_inputs_for(ckpt, dataset) -> np.ndarray:
    """The side inputs ``(N, S)`` float32 that a checkpoint's model (``cnn-m+box``) reads for
    ``dataset``'s images: each ink box relative to its writer's reference box, the references
    being those of the model's training images (its metadata's ``side_inputs``).

    Raises
    ------
    NoisylabError
        When the data has no ink boxes, or the checkpoint does not say how to make them.
    """
    from noisylab.writer_size import WriterSize

    record = ckpt.metadata.get("side_inputs")
    if not isinstance(record, dict):
        raise NoisylabError(f"{ckpt.path} reads numbers beside the pixels but does not record "
                            "how they are made; train it again")
    if dataset.boxes is None:
        raise NoisylabError(f"{ckpt.path} also reads each character's ink box relative to its "
                            f"writer's, and {dataset.source.split(':')[0]} has no ink boxes "
                            "(trainPart1's photos have them); evaluate another model on it")
    return WriterSize.from_dict(record).side_inputs_for(dataset.boxes, dataset.ids)


def checkpoint_probs(path, dataset, *, device: str = "cpu", views: int = 1):
    """One checkpoint's class probabilities for ``dataset``: ``(probs, ckpt, side_known)``.

    ``probs`` is float32 ``(N, K)`` (`predict_probs`, with the side inputs the model reads);
    ``ckpt`` the loaded checkpoint; ``side_known`` the number of images that had a writer
    reference, or None for a model that reads no side inputs.

    Raises
    ------
    NoisylabError
        When the checkpoint predicts other classes than the data has, or cannot be read.
    """
    model, ckpt = load_model(path, device=device)
    classes = list(ckpt.metadata.get("class_names") or dataset.classes)
    if list(dataset.classes) != classes:
        raise NoisylabError(
            f"{ckpt.path} predicts {len(classes)} classes ({', '.join(classes[:5])}...), the "
            f"data has {len(dataset.classes)} ({', '.join(dataset.classes[:5])}...); evaluate "
            "it on data with the same classes")
    side, side_known = None, None
    if side_inputs_of(model):
        side = side_inputs_for(ckpt, dataset)
        side_known = int(side[:, -1].sum())
        side = torch.from_numpy(side).to(device)
    probs = predict_probs(model, dataset.images.to(device), views=views, side=side)
    return probs.cpu().numpy(), ckpt, side_known


def model_probs(checkpoint, dataset, *, device: str = "cpu", views: int = 1) -> np.ndarray:
    """Class probabilities ``(N, K)`` of a checkpoint or run folder for ``dataset``: the mean of
    every checkpoint the run's model names (`noisylab.runs.run_model`), as `evaluate` scores."""
    paths = run_model(checkpoint)
    return sum(checkpoint_probs(p, dataset, device=device, views=views)[0]
               for p in paths) / len(paths)


def evaluate(checkpoint, dataset, *, out_dir: str | os.PathLike | None = None,
             device: str = "cpu", views: int = 1, writer_size=None, one_of_each=None) -> dict:
    """Accuracy, NLL, ECE and per-class scores of a checkpoint, or an ensemble, on ``dataset``.

    Parameters
    ----------
    checkpoint : path or sequence of paths
        A checkpoint or run folder (see `noisylab.checkpoints.load_checkpoint`); a run folder
        whose model is several of its checkpoints means them all (`noisylab.runs.run_model`).
        Several make an ensemble: their class probabilities are averaged (on trainPart1's 5
        folds, three seeds of cnn-m scored 88.99% against 88.36% for one on average).
    dataset : LabeledImages
        Images and the labels to score against (clean labels: this is for reporting).
    out_dir : path, optional
        Where to write ``confusion.png`` and ``reliability.png`` (and ``one_of_each.png``, the
        images whose prediction ``one_of_each`` changed: `changed_figure`).
    views : int
        Views of each image whose probabilities are averaged (`predict_probs`); 1 for none.
    writer_size : noisylab.writer_size.WriterSize, optional
        Re-split the probabilities within each group of look-alike classes (``c C``,
        ``0 O o``) by the character's size relative to its writer (`WriterSize.adjust`); needs
        ``dataset.boxes``. Not applied when a model already reads that size itself
        (``cnn-m+box``): counting it twice lowered the 5-fold CV accuracy (README).

    Returns
    -------
    dict
        ``acc``, ``nll``, ``ece``, ``per_class`` (name -> precision, recall, f1, support),
        ``confusion`` ``(K, K)`` list (rows true, columns predicted), ``reliability`` (per-bin
        ``confidence``, ``accuracy``, ``count`` lists, see `noisylab.metrics.reliability`; None
        for an empty bin), ``checkpoints`` (the files read), ``views`` (per image), ``figures``
        (paths written); with ``writer_size``, ``writer_size`` (``images`` with a writer
        reference, ``changed`` predictions, ``acc_glyph`` the accuracy without it); for models
        that read the box beside the pixels, ``side_inputs`` (``images`` with a writer
        reference).
    """
    given = [checkpoint] if isinstance(checkpoint, (str, os.PathLike)) else list(checkpoint)
    paths = [member for path in given for member in run_model(path)]
    if not paths:
        raise NoisylabError("no checkpoint to evaluate; name at least one")
    probs, read, side_known = 0.0, [], None
    for path in paths:  # one model in memory at a time
        member, ckpt, known = checkpoint_probs(path, dataset, device=device, views=views)
        probs = probs + member
        side_known = known if known is not None else side_known
        read.append(str(ckpt.path))
    probs = probs / len(paths)
    classes = list(dataset.classes)
    labels = dataset.labels.numpy()
    by_size = None
    if writer_size is not None and side_known is None:
        if dataset.boxes is None:
            raise NoisylabError(f"{dataset.source.split(':')[0]} has no ink boxes, which the "
                                "writer's size needs; score it without --writer-size")
        glyph_acc = float((probs.argmax(1) == labels).mean())
        probs, by_size = writer_size.adjust(probs, dataset.boxes, dataset.ids)
        by_size["acc_glyph"] = glyph_acc
    own = probs.argmax(1)  # each image alone
    predictions, as_set = own, None
    if one_of_each is not None:
        if list(one_of_each.classes) != classes:
            raise NoisylabError(
                f"the one-of-each record names {len(one_of_each.classes)} classes "
                f"({', '.join(one_of_each.classes[:5])}...), the data {len(classes)}; it belongs "
                "to another run: evaluate with --no-one-of-each, or train the run again")
        probs, predictions, as_set = one_of_each.apply(probs, dataset.ids)
        as_set["acc_alone"] = float((own == labels).mean())
    k = len(classes)
    confusion = metrics.confusion_matrix(labels, predictions, k)
    scores = metrics.per_class_scores(confusion)
    conf, acc, count = metrics.reliability(probs, labels)
    result = {**metrics.summary(probs, labels), "acc": float((predictions == labels).mean()),
              "n": int(len(labels)),
              "checkpoints": read, "views": views,
              "per_class": {c: {s: float(scores[s][i]) for s in scores} for i, c in enumerate(classes)},
              "confusion": confusion.tolist(),
              "reliability": {"confidence": _listed(conf), "accuracy": _listed(acc),
                              "count": count.astype(int).tolist()},
              "figures": []}
    if by_size is not None:
        result["writer_size"] = by_size
    if side_known is not None:
        result["side_inputs"] = {"images": side_known}
    if as_set is not None:
        result["one_of_each"] = as_set
    if out_dir is not None:
        out_dir = prepare_output(out_dir, "evaluation", reuse=True)  # never a user's folder
        with np.errstate(invalid="ignore"):
            rates = np.nan_to_num(confusion / confusion.sum(1, keepdims=True))
        result["figures"].append(str(plots.heatmap(
            rates, out_dir / "confusion.png", row_labels=classes, col_labels=classes,
            title=f"confusion (row-normalised), acc {100 * result['acc']:.2f}%",
            xlabel="predicted", ylabel="true", annotate=k <= 12)))
        result["figures"].append(str(plots.reliability_diagram(
            conf, acc, count, out_dir / "reliability.png",
            title=f"reliability, ECE {result['ece']:.4f}")))
        if as_set is not None and as_set["changed"]:
            result["figures"].append(str(changed_figure(
                dataset.images[:, 0].numpy(), own, predictions, labels, classes,
                out_dir / "one_of_each.png")))
    return result


CHANGED_SHOWN = 48
"""Most images `changed_figure` draws."""


def changed_figure(images: np.ndarray, before: np.ndarray, after: np.ndarray, labels: np.ndarray,
                   classes, path) -> Path:
    """The images whose prediction reading them as one of each per writer changed.

    ``images`` ``(N, 28, 28)`` uint8, ``before`` and ``after`` ``(N,)`` the predictions each
    image alone and as read, ``labels`` ``(N,)`` the truth. Each is captioned ``before→after``:
    green when the change made it right, red when it made it wrong, grey when wrong both times.
    The first `CHANGED_SHOWN`, in the data's order.
    """
    changed = np.flatnonzero(before != after)
    shown = changed[:CHANGED_SHOWN]
    right = after[changed] == labels[changed]
    wrong = before[changed] == labels[changed]
    colors = ["green" if after[i] == labels[i] else "red" if before[i] == labels[i] else "grey"
              for i in shown]
    return plots.captioned_grid(
        images[shown], [f"{classes[before[i]]}→{classes[after[i]]}" for i in shown], colors, path,
        title=f"read as one of each per writer: {len(changed)} predictions changed, "
              f"{int(right.sum())} now right (green), {int(wrong.sum())} now wrong (red)"
              + (f"; the first {CHANGED_SHOWN} shown" if len(changed) > CHANGED_SHOWN else ""))


def _listed(values: np.ndarray) -> list:
    """A float array as a JSON-ready list, NaN (an empty bin) as None."""
    return [None if np.isnan(v) else float(v) for v in values]
