"""``noisylab audit``: what is wrong with a dataset's labels, in numbers, words and pictures.

data -> out-of-sample P(given | x) (`noisylab.crossfit`) -> the ladder of noise models
(`noisylab.noise`) -> a run folder (`noisylab.audit_report`) with ``report.md``,
``transition.json``/``.png`` with bootstrap intervals, one image grid per given label,
``label_issues.csv``, cleanlab's own figures beside noisylab's, and ``audit.json``. The
cross-fit's predictions stay there too (`noisylab.audit_cache`), for auditing again with
verified labels without predicting again.

The given labels are the only labels the estimate reads. Trusted labels (``trusted=``) are read
only *after* the estimate, to measure it.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisylab import distributed
from noisylab.audit_report import verdict_lines, write_outputs
from noisylab.errors import NoisylabError
from noisylab.outputs import check_output, prepare_output
from noisylab.validate import check_audit_options

__all__ = ["AuditResult", "audit", "measure", "read_trusted_labels", "verdict_lines"]

#: Bootstrap replicates behind the intervals of T, the keep rate and the noise rate.
BOOTSTRAP = 40


@dataclass
class AuditResult:
    """What an audit found and wrote.

    Attributes
    ----------
    out_dir : Path
    classes : tuple of str
    diagnosis : noisylab.noise.Diagnosis
    transition : ndarray ``(K, K)``
        ``T[i, j] = P(given = j | true = i)`` of the selected reading.
    suggested : ndarray ``(N,)``
        Suggested true class per sample under the selected reading.
    issues : noisylab.noise.LabelIssues
        Per image: given, suggested, quality, issue.
    posteriors : list of ndarray ``(N, K)``
        ``p(true | x, given)`` under each reading of ``diagnosis.readings``.
    estimator : noisylab.noise.NoiseEstimator
        The fitted estimator behind ``diagnosis``: its ``apply_verified`` weighs the open
        readings by verified labels without cross-fitting the images again.
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
    summary : dict
        What ``audit.json`` holds (`noisylab.audit_report.write_outputs`), for printing it
        without reading the file back.
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
    issues: object = None
    posteriors: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    estimator: object = None


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
    verify: int = 0,
    verified: str | os.PathLike | None = None,
    progress: bool = True,
    log=print,
) -> AuditResult:
    """Audit the given labels of a dataset and write the report folder.

    Parameters
    ----------
    data : str or LabeledImages
        Source name for `noisylab.data.load`, or images with their given labels.
    out_dir : path
        Where the report goes: created, or an earlier audit there is written over; a folder
        holding anything else is refused (`noisylab.outputs.prepare_output`).
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
    verify : int
        Also write the ``verify`` images whose true classes would best separate the open
        readings (``verify.png``, and ``verify.csv`` to fill in).
    verified : path, optional
        A person's true classes of some images (CSV with ``id,label``, a label a class name or
        index): evidence that weighs the open readings.
    """
    from noisylab.noise import cleanlab_report, reading_posterior

    # Every option and the folder first: a mistake costs nothing, not a whole cross-fit.
    check_audit_options(folds=folds, epochs=epochs, seed=seed, reference=reference,
                        trusted=trusted)
    check_output(out_dir, "audit", reuse=True)
    started = time.perf_counter()
    ds, data, is_source = _load(data, root=root, name=name, progress=progress)
    given = ds.labels.numpy()
    out_dir = prepare_output(out_dir, "audit", reuse=True)
    log(f"auditing {data}: {len(ds)} images, {len(ds.classes)} given labels")
    precision = _cross_fit_precision()
    probe, fitted, epochs = _predictions(ds, out_dir, folds=folds, epochs=epochs, seed=seed,
                                         precision=precision, progress=progress, log=log,
                                         started=started)
    if not distributed.is_writer():  # under torchrun: rank 0 alone estimates and writes
        return None
    est = _estimate(fitted.probs, ds, reference=reference, verified=verified, seed=seed)
    diag = est.diagnosis_
    clean = cleanlab_report(fitted.probs, given, health_summary=False)  # its reading, beside ours
    result = AuditResult(out_dir=out_dir, classes=ds.classes, diagnosis=diag,
                         transition=est.transition_matrix_, suggested=est.suggested_labels_,
                         family=probe.family, cleanlab=clean,
                         seconds=time.perf_counter() - started,
                         stack_weights=[list(w) for w in fitted.weights], issues=est.issues_,
                         posteriors=[reading_posterior(est.estimate_, diag, i)
                                     for i in range(len(diag.readings))], estimator=est)
    if trusted:
        true = read_trusted_labels(trusted, ds.ids, ds.classes)
        result.measured = measure_result(result, true, given)
    result.files = write_outputs(result, ds, probe=probe, data=data, is_source=is_source,
                                 epochs=epochs, folds=folds, precision=precision)
    if verify:
        result.files += write_verify(result, ds, verify)
    return result


def _estimate(q: np.ndarray, ds, *, reference, verified, seed: int):
    """The ladder of noise models fitted to out-of-sample ``q`` ``(N, K)`` (a fitted
    `noisylab.noise.NoiseEstimator`); a reference names the classes, verified labels weigh
    the readings."""
    from noisylab.noise import NoiseEstimator

    reference_probs = _reference_probs(reference, ds) if reference else None
    est = NoiseEstimator(bootstrap=BOOTSTRAP, seed=seed).fit(q, ds.labels.numpy(),
                                                              reference_probs=reference_probs)
    if verified:
        est.apply_verified(*read_verified(verified, ds.ids, ds.classes))
    return est


def _load(data, *, root, name, progress):
    """``(images with labels, what to call them, whether a source name)``, checked for size."""
    from noisylab.data import load

    is_source = isinstance(data, str)  # a name `noisylab train --data` can load
    ds = load(data, root=root, progress=progress) if is_source else data
    label = data if is_source else name or "the given images"
    k, n = len(ds.classes), len(ds)
    if n < 20 * k:
        raise NoisylabError(f"{label} has {n} images for {k} classes; an audit needs at least "
                            f"{20 * k} (20 a class) to estimate a {k}x{k} matrix")
    return ds, label, is_source


def _cross_fit_precision() -> str:
    """The precision the cross-fit trains in here (`noisylab.train.fastest_precision`): its
    predictions, and so some readings, differ slightly between bfloat16 and float32."""
    import torch

    from noisylab.train import fastest_precision

    return fastest_precision(torch.device("cpu"))


def _predictions(ds, out_dir: Path, *, folds, epochs, seed, precision, progress, log, started):
    """``(probe, cross-fit, epochs a fold)``: those an earlier audit of the same images, labels
    and settings kept in ``out_dir`` (`noisylab.audit_cache`), else `_predict`'s, then kept."""
    from noisylab.audit_cache import FILE, fingerprint, load_predictions, save_predictions
    from noisylab.crossfit import default_epochs

    epochs = epochs or default_epochs(len(ds))
    if distributed.is_distributed():  # the folds are shared out between the ranks
        return (*_predict(ds, folds=folds, epochs=epochs, seed=seed, precision=precision,
                          progress=progress, log=log, started=started), epochs)
    key = fingerprint(ds, folds=folds, epochs=epochs, seed=seed, precision=precision)
    saved = load_predictions(out_dir, key, len(ds), len(ds.classes))
    if saved is not None:
        log(f"cross-fit: the predictions in {out_dir / FILE} are of these images, labels and "
            "settings; reusing them")
        return (*saved, epochs)
    probe, fitted = _predict(ds, folds=folds, epochs=epochs, seed=seed, precision=precision,
                             progress=progress, log=log, started=started)
    save_predictions(out_dir, key, probe, fitted)
    return probe, fitted, epochs


def _predict(ds, *, folds, epochs, seed, precision, progress, log, started):
    """Out-of-sample P(given | x) of every image: the probe's family, then cross-fitting
    ``epochs`` a fold, trained in ``precision``; returns ``(probe, cross-fit)``."""
    import torch

    from noisylab.allocator import keep_freed_memory
    from noisylab.crossfit import cross_fit, fold_neighbours, probe_family

    keep_freed_memory()  # the folds' batches reuse freed memory instead of asking for new pages
    distributed.setup(torch.device("cpu"))  # under torchrun: the folds go to separate ranks
    torch.set_num_threads(distributed.threads_per_process())
    k = len(ds.classes)
    # Imports that cost seconds of Python (torch._dynamo, which torch's first optimiser
    # imports, cleanlab and matplotlib for the report): in the background they overlap the
    # neighbour searches, which run without the GIL
    threading.Thread(target=_import_all,
                     args=(("torch._dynamo", "cleanlab.filter", "noisylab.plots"),),
                     daemon=True).start()
    near = fold_neighbours(ds.images, folds=folds, seed=seed, precision=precision)
    # Which model family describes P(given | x): labels mostly right, or pointing away?
    probe = distributed.from_writer(probe_family(ds.images, ds.labels, k, seed=seed,
                                                 precision=precision,
                                                 progress=progress))  # one family for all ranks
    log("probe (held-out NLL of the given labels, nats): "
        + ", ".join(f"{f} {v:.4f}" for f, v in probe.nll.items())
        + f", class prior {probe.prior_nll:.4f} -> {probe.family}")
    fitted = cross_fit(ds.images, ds.labels, k, family=probe.family, folds=folds, epochs=epochs,
                       seed=seed, precision=precision, progress=progress, near=near,
                       on_fold=lambda i, m: log(f"cross-fit: fold {i + 1}/{m} done "
                                                f"({time.perf_counter() - started:.0f}s)"))
    log("stacking weights (model, its neighbours, pixel neighbours) per fold: "
        + "; ".join(", ".join(f"{v:.1f}" for v in w) for w in fitted.weights))
    return probe, fitted


def _import_all(modules: tuple[str, ...]) -> None:
    """Import each of ``modules`` (by dotted name), so that later imports find them loaded."""
    for name in modules:
        importlib.import_module(name)


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


def measure_result(result: AuditResult, true: np.ndarray, given: np.ndarray) -> dict:
    """`measure` of an audit's selected reading, its intervals' coverage, and every reading."""
    k = len(result.classes)
    m = measure(result.transition, result.suggested, true, given, k)
    iv = result.diagnosis.intervals
    truth = np.asarray(m["true_transition"])
    if iv is not None:
        inside = (iv.transition[0] - 1e-9 <= truth) & (truth <= iv.transition[1] + 1e-9)
        m["interval_coverage"] = float(inside.mean())
    if len(result.diagnosis.readings) > 1:
        m["readings"] = {}
        for r, post in zip(result.diagnosis.readings, result.posteriors, strict=True):
            one = measure(r.transition_matrix, post.argmax(1), true, given, k)
            m["readings"][r.kind] = {"mae": one["mae"],
                                     "suggested_accuracy": one["suggested_accuracy"]}
    return m


def read_verified(path: str | os.PathLike, ids, classes) -> tuple[np.ndarray, np.ndarray]:
    """``(index, labels)`` of the images a person labelled, from a CSV with ``id,label``.

    Rows with an empty label are skipped (a ``verify.csv`` partly filled in).
    """
    path = Path(path)
    if not path.is_file():
        raise NoisylabError(f"verified label file {path} not found")
    where = {str(i): n for n, i in enumerate(ids)}
    names = {c: k for k, c in enumerate(classes)}
    index, labels = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if "id" not in row or "label" not in row:
                raise NoisylabError(f"{path} needs the columns id,label")
            label = (row["label"] or "").strip()
            if not label:
                continue
            if row["id"] not in where:
                raise NoisylabError(f"{path}: id {row['id']!r} is not an image of this data")
            k = names.get(label, int(label) if label.isdigit() else -1)
            if not 0 <= k < len(classes):
                raise NoisylabError(f"{path}: label {label!r} of {row['id']} is not one of the "
                                    f"{len(classes)} classes")
            index.append(where[row["id"]])
            labels.append(k)
    if not index:
        raise NoisylabError(f"{path} has no labelled row; fill in the label column")
    return np.array(index), np.array(labels)


def write_verify(result: AuditResult, ds, n: int) -> list[Path]:
    """``verify.png`` and ``verify.csv``: the ``n`` images to label that decide the most."""
    from noisylab import plots
    from noisylab.noise import choose_to_verify

    pick = choose_to_verify(result.posteriors, n)
    classes, given = list(result.classes), ds.labels.numpy()
    csv_path = result.out_dir / "verify.csv"
    with open(csv_path, "w", newline="") as f:
        table = csv.DictWriter(f, fieldnames=["id", "given_label", "label"])
        table.writeheader()
        for i in pick:
            table.writerow({"id": ds.ids[i], "given_label": classes[given[i]], "label": ""})
    captions = [f"{k + 1}: {ds.ids[i]}"[:18] for k, i in enumerate(pick)]
    png = plots.captioned_grid(ds.images[pick, 0].numpy(), captions, ["black"] * len(pick),
                               result.out_dir / "verify.png",
                               title="write each image's true class in the label column of "
                                     "verify.csv, then: noisylab audit ... --verified verify.csv")
    return [csv_path, png]


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
