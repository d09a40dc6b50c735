"""Evaluate a checkpoint on labelled data: figures for the record, and two PNGs."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
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


def side_inputs_for(ckpt, dataset, *, without: Collection[str] = ()) -> tuple[np.ndarray, str]:
    """The side inputs ``(N, S)`` float32 that a checkpoint's model reads for ``dataset``'s
    images, made by the add-on its metadata's ``side_inputs`` names, from the state fitted on
    the model's training images; and that add-on's name.

    Raises
    ------
    NoisylabError
        When the checkpoint does not say how to make them, the add-on is in ``without``, or the
        data lacks what the add-on makes them from.
    """
    from noisylab.addons import check_features, side_input_from_record

    record = ckpt.metadata.get("side_inputs")
    if not isinstance(record, dict):
        raise NoisylabError(f"{ckpt.path} reads numbers beside the pixels but does not record "
                            "how they are made; train it again")
    provider = side_input_from_record(record)
    if provider.name in without:
        raise NoisylabError(f"{ckpt.path} reads the side inputs of the add-on {provider.name} "
                            f"({provider.title}), so it cannot be scored without them; drop "
                            f"--no-addon {provider.name}")
    try:
        features = provider.features(dataset)
    except NoisylabError as err:
        raise NoisylabError(f"{ckpt.path} also reads {provider.title} (the add-on "
                            f"{provider.name}), and {err}; evaluate another model on it") from None
    return check_features(features, len(dataset), provider.name), provider.name


def checkpoint_probs(path, dataset, *, device: str = "cpu", views: int = 1,
                     without: Collection[str] = ()):
    """One checkpoint's class probabilities for ``dataset``: ``(probs, ckpt, side)``.

    ``probs`` is float32 ``(N, K)`` (`predict_probs`, with the side inputs the model reads);
    ``ckpt`` the loaded checkpoint; ``side`` None for a model that reads no side inputs, else
    ``{"addon": name, "known": images whose side inputs are known}``.

    Raises
    ------
    NoisylabError
        When the checkpoint predicts other classes than the data has, or cannot be read, or
        its side inputs cannot be made (`side_inputs_for`).
    """
    model, ckpt = load_model(path, device=device)
    classes = list(ckpt.metadata.get("class_names") or dataset.classes)
    if list(dataset.classes) != classes:
        raise NoisylabError(
            f"{ckpt.path} predicts {len(classes)} classes ({', '.join(classes[:5])}...), the "
            f"data has {len(dataset.classes)} ({', '.join(dataset.classes[:5])}...); evaluate "
            "it on data with the same classes")
    features, side = None, None
    if side_inputs_of(model):
        features, name = side_inputs_for(ckpt, dataset, without=without)
        side = {"addon": name, "known": int(features[:, -1].sum())}
        features = torch.from_numpy(features).to(device)
    probs = predict_probs(model, dataset.images.to(device), views=views, side=features)
    return probs.cpu().numpy(), ckpt, side


def model_probs(checkpoint, dataset, *, device: str = "cpu", views: int = 1) -> np.ndarray:
    """Class probabilities ``(N, K)`` of a checkpoint or run folder for ``dataset``: the mean of
    every checkpoint the run's model names (`noisylab.runs.run_model`), as `evaluate` scores."""
    paths = run_model(checkpoint)
    return sum(checkpoint_probs(p, dataset, device=device, views=views)[0]
               for p in paths) / len(paths)


def evaluate(checkpoint, dataset, *, out_dir: str | os.PathLike | None = None,
             device: str = "cpu", views: int = 1, adjusters: Sequence = (),
             without: Collection[str] = ()) -> dict:
    """Accuracy, NLL, ECE and per-class scores of a checkpoint, or an ensemble, on ``dataset``:
    each image alone, then with each prediction adjuster.

    Parameters
    ----------
    checkpoint : path or sequence of paths
        A checkpoint or run folder (see `noisylab.checkpoints.load_checkpoint`); a run folder
        whose model is several of its checkpoints means them all (`noisylab.runs.run_model`).
        Several make an ensemble: their class probabilities are averaged.
    dataset : LabeledImages
        Images and the labels to score against (clean labels: this is for reporting).
    out_dir : path, optional
        Where to write ``confusion.png`` and ``reliability.png`` (and the adjusters' figures,
        `noisylab.addons.PredictionAdjuster.figures`).
    views : int
        Views of each image whose probabilities are averaged (`predict_probs`); 1 for none.
    adjusters : sequence of noisylab.addons.PredictionAdjuster
        Fitted adjusters, applied in turn, each to what the one before gave
        (`apply_adjusters`). One `redundant_with` the side input the model reads is not
        applied.
    without : collection of str
        Add-ons turned off: a model that reads the side inputs of one of them is an error.

    Returns
    -------
    dict
        The model's own figures, each image alone: ``acc``, ``nll``, ``ece``, ``per_class``
        (name -> precision, recall, f1, support), ``confusion`` ``(K, K)`` list (rows true,
        columns predicted), ``reliability`` (per-bin ``confidence``, ``accuracy``, ``count``
        lists, see `noisylab.metrics.reliability`; None for an empty bin), ``n``,
        ``checkpoints`` (the files read), ``views`` (per image), ``figures`` (paths written);
        ``adjusted``: ``{adjuster name: figures}`` in the order applied (`apply_adjusters`);
        for a model that reads side inputs, ``side_inputs`` (``addon``, ``known``).
    """
    given = [checkpoint] if isinstance(checkpoint, (str, os.PathLike)) else list(checkpoint)
    paths = [member for path in given for member in run_model(path)]
    if not paths:
        raise NoisylabError("no checkpoint to evaluate; name at least one")
    probs, read, side = 0.0, [], None
    for path in paths:  # one model in memory at a time
        member, ckpt, known = checkpoint_probs(path, dataset, device=device, views=views,
                                               without=without)
        probs = probs + member
        side = known or side
        read.append(str(ckpt.path))
    probs = probs / len(paths)
    result = _figures(probs, dataset, out_dir)
    result.update(checkpoints=read, views=views)
    if side is not None:
        result["side_inputs"] = side
    result["adjusted"] = apply_adjusters(adjusters, probs, dataset, out_dir=out_dir,
                                         reads=side and side["addon"])
    result["figures"] += [f for a in result["adjusted"].values() for f in a.get("figures", [])]
    return result


def _figures(probs: np.ndarray, dataset, out_dir) -> dict:
    """The figures of ``probs`` ``(N, K)`` on ``dataset``, each image alone, and the confusion
    and reliability PNGs in ``out_dir`` when given."""
    classes = list(dataset.classes)
    labels = dataset.labels.numpy()
    predictions = probs.argmax(1)
    k = len(classes)
    confusion = metrics.confusion_matrix(labels, predictions, k)
    scores = metrics.per_class_scores(confusion)
    conf, acc, count = metrics.reliability(probs, labels)
    result = {**metrics.summary(probs, labels), "acc": float((predictions == labels).mean()),
              "n": int(len(labels)),
              "per_class": {c: {s: float(scores[s][i]) for s in scores} for i, c in enumerate(classes)},
              "confusion": confusion.tolist(),
              "reliability": {"confidence": _listed(conf), "accuracy": _listed(acc),
                              "count": count.astype(int).tolist()},
              "figures": []}
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
    return result


def apply_adjusters(adjusters: Sequence, probs: np.ndarray, dataset, *, out_dir=None,
                    reads: str | None = None) -> dict:
    """Apply prediction adjusters in turn and score each step.

    Parameters
    ----------
    adjusters : sequence of noisylab.addons.PredictionAdjuster
        Fitted adjusters; each gets the probabilities the one before gave.
    probs : np.ndarray
        ``(N, K)`` the model's own class probabilities.
    dataset : LabeledImages
        The images scored and their labels.
    out_dir : path, optional
        Where an adjuster draws its figures.
    reads : str, optional
        The side-input add-on the model reads: an adjuster `redundant_with` it is skipped.

    Returns
    -------
    dict
        ``{name: figures}``: ``acc``, ``nll``, ``ece`` after that step (the same as before it
        when not applied), ``applied``, ``why`` (None, or why not), ``changed`` (predictions
        that differ from the step before), ``figures``, and the adjuster's own ``info``.
    """
    labels = dataset.labels.numpy()
    predictions = probs.argmax(1)
    out = {}
    for adjuster in adjusters:
        before = predictions
        if reads is not None and adjuster.redundant_with == reads:
            info = {"applied": False, "why": f"the model reads {reads} itself"}
        else:
            probs, info = adjuster.adjust(probs, dataset)
            info = dict(info)
            after = info.pop("predictions", None)
            predictions = probs.argmax(1) if after is None else np.asarray(after)
        applied = bool(info.pop("applied", True))
        figures = {**info, **metrics.summary(probs, labels),
                   "acc": float((predictions == labels).mean()), "applied": applied,
                   "why": info.get("why"), "changed": int((predictions != before).sum()),
                   "figures": []}
        if out_dir is not None and applied and figures["changed"]:
            figures["figures"] = [str(p) for p in adjuster.figures(dataset, before, predictions,
                                                                    Path(out_dir))]
        out[adjuster.name] = figures
    return out


CHANGED_SHOWN = 48
"""Most images `changed_figure` draws."""


def changed_figure(images: np.ndarray, before: np.ndarray, after: np.ndarray, labels: np.ndarray,
                   classes, path, *, what: str = "adjusted") -> Path:
    """The images whose prediction an adjustment changed (for an adjuster's `figures`).

    ``images`` ``(N, 28, 28)`` uint8, ``before`` and ``after`` ``(N,)`` the predictions without
    and with it, ``labels`` ``(N,)`` the truth. Each is captioned ``before→after``: green when
    the change made it right, red when it made it wrong, grey when wrong both times. The first
    `CHANGED_SHOWN`, in the data's order; ``what`` (the adjustment) starts the title.
    """
    changed = np.flatnonzero(before != after)
    shown = changed[:CHANGED_SHOWN]
    right = after[changed] == labels[changed]
    wrong = before[changed] == labels[changed]
    colors = ["green" if after[i] == labels[i] else "red" if before[i] == labels[i] else "grey"
              for i in shown]
    return plots.captioned_grid(
        images[shown], [f"{classes[before[i]]}→{classes[after[i]]}" for i in shown], colors, path,
        title=f"{what}: {len(changed)} predictions changed, "
              f"{int(right.sum())} now right (green), {int(wrong.sum())} now wrong (red)"
              + (f"; the first {CHANGED_SHOWN} shown" if len(changed) > CHANGED_SHOWN else ""))


def _listed(values: np.ndarray) -> list:
    """A float array as a JSON-ready list, NaN (an empty bin) as None."""
    return [None if np.isnan(v) else float(v) for v in values]
