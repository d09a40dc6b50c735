"""``noisylab audit``: what is wrong with a dataset's labels, in numbers, words and pictures.

data -> out-of-sample P(given | x) (`noisylab.crossfit`) -> noise estimators (`noisylab.noise`)
-> a run folder with ``report.md``, ``transition.json``/``.png``, one image grid per given label,
``label_issues.csv``, cleanlab's own figures beside noisylab's, and ``audit.json``.

The given labels are the only labels the estimate reads. Trusted labels (``trusted=``) are read
only *after* the estimate, to measure it.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisylab import plots
from noisylab.errors import NoisylabError


@dataclass
class AuditResult:
    """What an audit found and wrote.

    Attributes
    ----------
    out_dir : Path
    classes : tuple of str
    diagnosis : noisylab.noise.Diagnosis
    transition : ndarray ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    suggested : ndarray ``(N,)``
        Suggested true class per sample.
    family : str
        Which model family of P(given | x) the probe chose.
    stack_weights : list of (float, float, float)
        Per fold: the weights of (fold model, its feature neighbours, pixel neighbours).
    cleanlab : dict
        cleanlab's reading of the same predictions.
    seconds : float
    measured : dict
        Error against trusted labels, when they were given (never an input).
    files : list of Path
    """

    out_dir: Path
    classes: tuple
    diagnosis: object
    transition: np.ndarray
    suggested: np.ndarray
    family: str
    cleanlab: dict
    seconds: float
    measured: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    stack_weights: list = field(default_factory=list)


def audit(
    data,
    *,
    root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike,
    folds: int = 2,
    epochs: int | None = None,
    reference: str | os.PathLike | None = None,
    trusted: str | os.PathLike | None = None,
    seed: int = 0,
    name: str | None = None,
    progress: bool = True,
    log=print,
) -> AuditResult:
    """Audit the given labels of a dataset and write the report folder.

    Parameters
    ----------
    data : str or LabeledImages
        Source name for `noisylab.data.load`, or images with their given labels.
    out_dir : path
        Where the report goes (created; files in it are replaced).
    folds : int
        Cross-fitting folds (at least 2).
    epochs : int, optional
        Epochs per fold (default: `noisylab.crossfit.default_epochs`).
    reference : path, optional
        A checkpoint trained on clean data (e.g. the Part-1 digit model): fixes which cluster of
        images is which true class, which the given labels alone cannot (a permutation).
    trusted : path, optional
        Trusted labels, to *measure* the estimate after it is made: an IDX labels file (indexed
        by the number in each sample id) or a CSV with ``id,label`` columns.
    name : str, optional
        What to call ``data`` in the report when it is a `LabeledImages` (default: a source name
        is its own name).
    """
    import torch

    from noisylab.crossfit import cross_fit, default_epochs, probe_family
    from noisylab.data import load
    from noisylab.noise import NoiseEstimator, cleanlab_assumption_holds, cleanlab_report

    if folds < 2:
        raise NoisylabError(f"--folds must be at least 2 (got {folds}): each fold is predicted "
                            "by a model that never saw its labels")
    started = time.perf_counter()
    torch.set_num_threads(os.cpu_count() or 1)
    is_source = isinstance(data, str)  # a name `noisylab train --data` can load
    ds = load(data, root=root, progress=progress) if is_source else data
    data = data if is_source else name or "the given images"
    k, n = len(ds.classes), len(ds)
    given = ds.labels.numpy()
    if n < 20 * k:
        raise NoisylabError(f"{data} has {n} images for {k} classes; an audit needs at least "
                            f"{20 * k} (20 a class) to estimate a {k}x{k} matrix")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"auditing {data}: {n} images, {k} given labels")

    # 1. Which model family describes P(given | x): labels mostly right, or pointing away?
    probe = probe_family(ds.images, ds.labels, k, seed=seed, progress=progress)
    log("probe (held-out NLL of the given labels, nats): "
        + ", ".join(f"{f} {v:.4f}" for f, v in probe.nll.items())
        + f", class prior {probe.prior_nll:.4f} -> {probe.family}")

    # 2. Out-of-sample P(given | x) for every image.
    epochs = epochs or default_epochs(n)
    fitted = cross_fit(ds.images, ds.labels, k, family=probe.family, folds=folds, epochs=epochs,
                       seed=seed, progress=progress,
                       on_fold=lambda i, m: log(f"cross-fit: fold {i + 1}/{m} done "
                                                f"({time.perf_counter() - started:.0f}s)"))
    q = fitted.probs
    log("stacking weights (model, its neighbours, pixel neighbours) per fold: "
        + "; ".join(", ".join(f"{v:.1f}" for v in w) for w in fitted.weights))

    # 3. A trusted reference model, when given, fixes which part of the data is which class.
    reference_probs = _reference_probs(reference, ds) if reference else None

    # 4. The estimators, and cleanlab's reading of the same predictions.
    est = NoiseEstimator().fit(q, given, reference_probs=reference_probs)
    diag = est.diagnosis_
    clean = cleanlab_report(q, given, health_summary=False)
    holds, sentence = cleanlab_assumption_holds(est.transition_matrix_, class_prior=est.class_prior_)
    seconds = time.perf_counter() - started

    result = AuditResult(out_dir=out_dir, classes=ds.classes, diagnosis=diag,
                         transition=est.transition_matrix_, suggested=est.suggested_labels_,
                         family=probe.family, cleanlab=clean, seconds=seconds,
                         stack_weights=[list(w) for w in fitted.weights])
    if trusted:
        true = read_trusted_labels(trusted, ds.ids, ds.classes)
        result.measured = measure(est.transition_matrix_, est.suggested_labels_, true, given, k)

    # 5. Files.
    result.files = _write_outputs(result, ds, est, probe, holds, sentence, data, is_source, epochs,
                                  folds)
    return result


def measure(transition: np.ndarray, suggested: np.ndarray, true: np.ndarray, given: np.ndarray,
            k: int) -> dict:
    """Error of an estimate against trusted labels (for reports and benchmarks only)."""
    from noisylab.noise import transition_from_labels

    truth = transition_from_labels(true, given, k)
    return {"mae": float(np.mean(np.abs(transition - truth))),
            "keep_rate_error": float(np.max(np.abs(np.diag(transition) - np.diag(truth)))),
            "true_keep_rate": float(np.mean(np.diag(truth))),
            "suggested_accuracy": float(np.mean(suggested == true)),
            "true_transition": truth.tolist()}


def read_trusted_labels(path: str | os.PathLike, ids, classes) -> np.ndarray:
    """Trusted labels ``(N,)`` for samples ``ids``, from an IDX labels file or an ``id,label`` CSV.

    An IDX file is indexed by the number in each id (``image_000123.jpg`` -> 123), which is how
    mnistTask3's file names point into MNIST's training split.
    """
    path = Path(path)
    if not path.is_file():
        raise NoisylabError(f"trusted label file {path} not found")
    if path.suffix == ".csv":
        index = {c: i for i, c in enumerate(classes)}
        with open(path, newline="") as f:
            table = {row["id"]: row["label"] for row in csv.DictReader(f)}
        try:
            return np.array([index[table[i]] if table[i] in index else int(table[i]) for i in ids])
        except (KeyError, ValueError) as err:
            raise NoisylabError(f"{path} has no usable label for sample {err}") from None
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != 2049:
        raise NoisylabError(f"{path} is neither an IDX labels file nor a .csv with id,label")
    labels = np.frombuffer(raw[8:], dtype=np.uint8)
    numbers = [re.search(r"(\d+)", str(i)) for i in ids]
    if any(m is None or int(m.group(1)) >= len(labels) for m in numbers):
        raise NoisylabError(f"sample ids do not index into {path} ({len(labels)} labels)")
    return labels[[int(m.group(1)) for m in numbers]].astype(int)


def _reference_probs(reference, ds) -> np.ndarray:
    """A reference checkpoint's class probabilities on ``ds``, its classes matched by name."""
    from noisylab.models import load_model
    from noisylab.train import predict_logits

    model, ckpt = load_model(reference)
    ref_classes = list(ckpt.metadata.get("class_names") or [])
    missing = [c for c in ds.classes if c not in ref_classes]
    if missing:
        raise NoisylabError(f"reference {ckpt.path} does not know class(es) {', '.join(missing[:5])} "
                            "of this data; use a reference trained on the same class names")
    logits = predict_logits(model, ds.images).double()
    cols = [ref_classes.index(c) for c in ds.classes]
    return logits[:, cols].softmax(1).numpy()


def _write_outputs(result, ds, est, probe, holds, sentence, data, is_source, epochs,
                   folds) -> list[Path]:
    out, classes, diag = result.out_dir, list(result.classes), result.diagnosis
    T = result.transition
    files = []
    (out / "transition.json").write_text(json.dumps(
        {"classes": classes, "matrix": T.tolist(), "kind": diag.kind,
         "meaning": "T[i][j] = P(given = j | true = i); rows true classes, columns given labels"},
        indent=1))
    files.append(out / "transition.json")
    files.append(plots.heatmap(
        T, out / "transition.png", row_labels=classes, col_labels=classes,
        title=f"noisylab: P(given | true), {diag.kind}", xlabel="given label (folder)",
        ylabel="true class (estimated)", annotate=len(classes) <= 12))
    files.append(plots.heatmap(
        np.asarray(result.cleanlab["transition_matrix"]), out / "cleanlab_transition.png",
        row_labels=classes, col_labels=classes, title="cleanlab's estimate of P(given | true)",
        xlabel="given label", ylabel="true class", annotate=len(classes) <= 12))
    files.append(plots.bars(
        {"noisylab\nnoise rate": diag.noise_rate,
         "cleanlab\nnoise rate": result.cleanlab["noise_rate"],
         "cleanlab\nhealth score": result.cleanlab["overall_label_health_score"]},
        out / "cleanlab_vs_noisylab.png", title="noise rate: noisylab vs cleanlab", ylabel=""))

    # One grid per given label: what the images under that label really are.
    rng = np.random.default_rng(0)
    images = ds.images[:, 0].numpy()
    given = ds.labels.numpy()
    grid_dir = out / "grids"
    for j, name in enumerate(classes):
        members = np.flatnonzero(given == j)
        sugg = result.suggested[members]
        order = np.argsort(-np.bincount(sugg, minlength=len(classes)))
        rows = []
        for c in order[:10]:
            hit = members[sugg == c]
            if len(hit):
                pick = rng.choice(hit, size=min(12, len(hit)), replace=False)
                rows.append((f"{classes[c]} ({len(hit)})", images[pick]))
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        files.append(plots.image_grid(
            rows, grid_dir / f"given-{safe}.png",
            title=f"given label '{name}': images grouped by suggested true class (count)"))

    issues = est.issues_
    with open(out / "label_issues.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "given_label", "suggested_label", "label_quality", "is_issue"])
        for i in range(len(given)):
            w.writerow([ds.ids[i], classes[given[i]], classes[issues.suggested_label[i]],
                        f"{issues.label_quality[i]:.4f}", int(issues.is_issue[i])])
    files.append(out / "label_issues.csv")

    summary = {
        "data": data, "data_is_source": is_source, "n": len(given), "classes": classes,
        "seconds": result.seconds,
        "family": probe.family, "probe_nll": probe.nll, "prior_nll": probe.prior_nll,
        "folds": folds, "epochs_per_fold": epochs, "stack_weights": result.stack_weights,
        "diagnosis": diag.to_dict(),
        "transition": {"classes": classes, "matrix": T.tolist()},
        "n_issues": int(issues.is_issue.sum()),
        "cleanlab": {k: v for k, v in result.cleanlab.items()
                     if k in ("cleanlab_version", "overall_label_health_score", "noise_rate",
                              "n_issues")},
        "cleanlab_assumption_holds": holds, "cleanlab_sentence": sentence,
        "measured_with_trusted_labels": {k: v for k, v in result.measured.items()
                                         if k != "true_transition"},
    }
    (out / "audit.json").write_text(json.dumps(summary, indent=1))
    files.append(out / "audit.json")
    (out / "report.md").write_text(_report(summary, result, sentence))
    files.append(out / "report.md")
    return files


def verdict_lines(summary: dict) -> list[str]:
    """The short verdict the CLI prints (and the report opens with)."""
    d = summary["diagnosis"]
    keep = np.asarray(d["keep_rate"])
    lines = [f"kind: {d['kind']}" + ("" if d["decided"] else
                                      f" (cannot tell apart: {', '.join(d['candidates'])})")
             + f"   confidence {d['confidence']:.2f}",
             f"noise rate: {100 * d['noise_rate']:.2f}% of labels are not the true class",
             f"keep rate: mean {keep.mean():.4f} (per class {keep.min():.4f}..{keep.max():.4f})",
             f"label issues: {summary['n_issues']} of {summary['n']}"]
    loss = d["recommended_loss"]
    if loss not in ("none", "relabel"):
        lines.append(f"next: noisylab train --data {summary['data']} --loss {loss}"
                     if summary.get("data_is_source", True) else f"next: train with --loss {loss}")
    elif loss == "relabel":
        lines.append("next: relabel with the mapping in audit.json (a permutation of classes)")
    else:
        lines.append("next: these labels carry no usable signal; do not train on them")
    cl = summary["cleanlab"]
    lines.append(f"cleanlab says: health score {cl['overall_label_health_score']:.3f}, "
                 f"noise rate {cl['noise_rate']:.3f}"
                 + ("" if summary["cleanlab_assumption_holds"] else " (its assumption fails here)"))
    return lines


def _report(summary: dict, result: AuditResult, sentence: str) -> str:
    d = summary["diagnosis"]
    classes = summary["classes"]
    T = np.asarray(summary["transition"]["matrix"])
    lines = [f"# Label audit: {summary['data']}", "",
             f"{summary['n']} images, {len(classes)} given labels; audited in "
             f"{summary['seconds']:.0f} s.", "", "## Verdict", ""]
    lines += [f"- {v}" for v in verdict_lines(summary)]
    lines += ["", "## In words", "", d["summary"], "",
              "## How it was measured", "",
              f"Out-of-sample predictions of each image's *given* label come from {summary['folds']}"
              f"-fold cross-fitting of a small CNN ({summary['epochs_per_fold']} epochs a fold): "
              "each image is predicted by a model that never saw its label. A short probe first "
              "compared two models of P(given | image) on held-out labels (mean NLL, nats; lower "
              "is better):", "",
              "| model of P(given \\| x) | held-out NLL |", "| --- | --- |"]
    lines += [f"| {f} | {v:.4f} |" for f, v in summary["probe_nll"].items()]
    lines += [f"| class prior only | {summary['prior_nll']:.4f} |", "",
              f"The **{summary['family']}** model fits the given labels better, so it was used. "
              "Its held-out predictions were stacked with two nearest-neighbour estimates (the "
              "given labels of each image's 30 nearest held-out neighbours, in the model's "
              "feature space and in a PCA of the pixels), weighted to make the held-out labels "
              "most likely: weights (model, model neighbours, pixel neighbours) per fold "
              + "; ".join("(" + ", ".join(f"{v:.1f}" for v in w) + ")"
                          for w in summary["stack_weights"])
              + ". No clean label was read to make this estimate.", "",
              "## Transition matrix", "",
              "`T[i, j] = P(given = j | true = i)`: rows are true classes, columns given labels "
              "(`transition.json`).", "", "![transition](transition.png)", ""]
    if len(classes) <= 12:
        lines += ["| true \\ given | " + " | ".join(classes) + " |",
                  "| --- " * (len(classes) + 1) + "|"]
        lines += [f"| **{c}** | " + " | ".join(f"{v:.3f}" for v in T[i]) + " |"
                  for i, c in enumerate(classes)]
        lines.append("")
    lines += ["## What each given label really holds", "",
              "Each grid shows images under one given label, one row per suggested true class "
              "(with its count).", ""]
    lines += [f"![given {c}](grids/given-{re.sub(r'[^A-Za-z0-9_-]', '_', c)}.png)"
              for c in classes]
    cl = summary["cleanlab"]
    lines += ["", "## What cleanlab says on the same predictions", "",
              f"cleanlab {cl.get('cleanlab_version', '')}: overall label health score "
              f"{cl['overall_label_health_score']:.3f}, estimated noise rate {cl['noise_rate']:.3f}"
              f" (noisylab: {d['noise_rate']:.3f}).", "", sentence, "",
              "![cleanlab vs noisylab](cleanlab_vs_noisylab.png) "
              "![cleanlab transition](cleanlab_transition.png)", ""]
    m = summary["measured_with_trusted_labels"]
    if m:
        lines += ["## Measured against trusted labels (not an input)", "",
                  f"- mean absolute error of T: {m['mae']:.5f}",
                  f"- largest keep-rate error: {m['keep_rate_error']:.5f} "
                  f"(true mean keep rate {m['true_keep_rate']:.4f})",
                  f"- suggested true labels correct: {100 * m['suggested_accuracy']:.2f}%", ""]
    lines += ["## Files", "", "`transition.json`, `transition.png`, `grids/given-*.png`, "
              "`label_issues.csv` (one row per image: id, given, suggested, quality, issue), "
              "`cleanlab_*.png`, `audit.json`.", ""]
    return "\n".join(lines)
