"""What every experiment report shares: reading the cells' files, statistics per condition,
markdown tables, figures, the data notes and the references.

Every number a report prints is read here from the files the runs wrote: ``cell.json``
(settings, device, seconds, best epoch), ``metrics.jsonl`` (per-epoch curves), ``eval.json``
(the ``best`` checkpoint on the cell's test set) and ``eval-test.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noisylab import plots, stats
from noisylab.runs import read_metrics


@dataclass
class CellRun:
    """One finished cell as its files describe it.

    Attributes
    ----------
    cell : noisylab.experiments.Cell
    folder : Path
    info : dict
        ``cell.json``.
    metrics : list of dict
        ``metrics.jsonl``, one record per epoch.
    eval : dict or None
        ``eval.json``: the ``best`` checkpoint on the cell's test set (a held-out fold for a
        cross-validation cell).
    eval_test : dict or None
        ``eval-test.json``: a cross-validation cell's ``best`` checkpoint on the source's own
        test split, when it has one.
    """

    cell: object
    folder: Path
    info: dict
    metrics: list
    eval: dict | None
    eval_test: dict | None

    def series(self, key: str) -> np.ndarray:
        """A per-epoch metric ``(E,)`` (NaN where a record lacks it)."""
        return np.array([r.get(key, math.nan) for r in self.metrics], dtype=float)

    @property
    def acc(self) -> float:
        """Test accuracy of the ``best`` checkpoint (``eval.json``), NaN without a test set."""
        return self.eval["acc"] if self.eval else math.nan

    @property
    def last_acc(self) -> float:
        """Test accuracy after the last epoch (``metrics.jsonl``), NaN without a test set."""
        return self.metrics[-1].get("test_acc", math.nan) if self.metrics else math.nan


def read_json(path: Path) -> dict | None:
    """A JSON file's content, or None when it does not exist."""
    return json.loads(path.read_text()) if path.exists() else None


def collect(exp, folder: Path) -> tuple[dict[str, list[CellRun]], list[str]]:
    """The finished cells of ``exp`` under ``folder``, by condition, and the unfinished ones' names."""
    conditions: dict[str, list[CellRun]] = {}
    missing = []
    for condition, cells in exp.conditions().items():
        runs = []
        for c in cells:
            d = folder / c.name
            info = read_json(d / "cell.json")
            if info is None:
                missing.append(c.name)
                continue
            runs.append(CellRun(c, d, info, read_metrics(d), read_json(d / "eval.json"),
                                read_json(d / "eval-test.json")))
        conditions[condition] = runs
    return conditions, missing


# ---------------------------------------------------------------------------------- formatting


def pct(x: float | None) -> str:
    """``0.99123`` -> ``"99.12%"``; missing -> ``"n/a"``."""
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.2f}%"


def fixed(x: float, digits: int = 4) -> str:
    """``x`` with ``digits`` decimals, never ``-0.0000``."""
    return f"{round(float(x), digits) + 0.0:.{digits}f}"


def ci_text(m: stats.MeanCI, *, scale: float = 1.0, digits: int = 2, suffix: str = "") -> str:
    """``"99.12 ± 0.05%"`` (a 95% t interval), or just the mean when ``n < 2``."""
    if m.n == 0 or not np.isfinite(m.mean):
        return "n/a"
    text = fixed(scale * m.mean, digits)
    if m.n >= 2 and np.isfinite(m.half_width):
        text += f" ± {fixed(scale * m.half_width, digits)}"
    return text + suffix


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return (["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows])


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and np.isfinite(v)]


# ---------------------------------------------------------------------------------- statistics


@dataclass
class ConditionStats:
    """Statistics of one condition over its seeds (means with 95% t intervals).

    ``reach_*`` describe when the ``target_on`` curve first reached ``target``: over the runs
    that reached it (``reached`` of ``n``), the epoch, optimiser steps and training seconds.
    """

    name: str
    n: int
    acc: stats.MeanCI
    last_acc: stats.MeanCI
    nll: stats.MeanCI
    ece: stats.MeanCI
    best_epoch: stats.MeanCI
    aulc: stats.MeanCI
    wall: stats.MeanCI
    reached: int
    reach_epoch: stats.MeanCI
    reach_step: stats.MeanCI
    reach_seconds: stats.MeanCI
    acc_values: list


def condition_stats(name: str, runs: list[CellRun], *, target: float,
                    target_on: str) -> ConditionStats:
    """`ConditionStats` of the runs of one condition."""
    reach_epoch, reach_step, reach_seconds = [], [], []
    for r in runs:
        i = stats.first_reaching(r.series(target_on), target)
        if i is not None:
            reach_epoch.append(r.metrics[i]["epoch"])
            reach_step.append(r.metrics[i].get("step", math.nan))
            reach_seconds.append(float(np.sum(r.series("seconds")[: i + 1])))
    acc = _finite(r.acc for r in runs)
    return ConditionStats(
        name=name, n=len(runs), acc=stats.mean_ci(acc),
        last_acc=stats.mean_ci(_finite(r.last_acc for r in runs)),
        nll=stats.mean_ci(_finite(r.eval["nll"] for r in runs if r.eval)),
        ece=stats.mean_ci(_finite(r.eval["ece"] for r in runs if r.eval)),
        best_epoch=stats.mean_ci([r.info["best_epoch"] for r in runs]),
        aulc=stats.mean_ci(_finite(stats.area_under_curve(r.series("test_acc")) for r in runs)),
        wall=stats.mean_ci([r.info["wall_seconds"] for r in runs]),
        reached=len(reach_epoch), reach_epoch=stats.mean_ci(reach_epoch),
        reach_step=stats.mean_ci(_finite(reach_step)), reach_seconds=stats.mean_ci(reach_seconds),
        acc_values=acc)


def conditions_table(all_stats: list[ConditionStats], *, target: float, target_on: str) -> list[str]:
    """The headline table: one row per condition."""
    what = {"val_acc": "val acc", "test_acc": "test acc"}[target_on]
    header = ["condition", "seeds", "test acc, chosen epoch", "test acc, last epoch", "NLL", "ECE",
              "best epoch", "AULC (test acc)", f"reached {100 * target:g}% {what}",
              "epochs to it", "steps to it", "train s to it"]
    rows = []
    for s in all_stats:
        rows.append([s.name, s.n, ci_text(s.acc, scale=100, suffix="%"),
                     ci_text(s.last_acc, scale=100, suffix="%"), ci_text(s.nll, digits=4),
                     ci_text(s.ece, digits=4), ci_text(s.best_epoch, digits=1),
                     ci_text(s.aulc, scale=100, suffix="%"), f"{s.reached}/{s.n}",
                     ci_text(s.reach_epoch, digits=1) if s.reached else "not reached",
                     ci_text(s.reach_step, digits=0) if s.reached else "-",
                     ci_text(s.reach_seconds, digits=1) if s.reached else "-"])
    return table(header, rows)


def welch_lines(all_stats: list[ConditionStats], *, what: str = "test accuracy (chosen epoch)") -> list[str]:
    """Welch's t-test of the difference of every pair of conditions, as a table (or why not)."""
    rows = []
    for i, a in enumerate(all_stats):
        for b in all_stats[i + 1:]:
            w = stats.welch(b.acc_values, a.acc_values)
            if w is None:
                rows.append([f"{b.name} − {a.name}", "n/a (needs ≥ 2 seeds per condition)",
                             "", "", ""])
                continue
            if not np.isfinite(w.df):
                rows.append([f"{b.name} − {a.name}", f"{round(100 * w.diff, 2) + 0.0:+.2f} pp",
                             "n/a (no spread across seeds)", "", ""])
                continue
            rows.append([f"{b.name} − {a.name}", f"{round(100 * w.diff, 2) + 0.0:+.2f} ± {100 * w.half_width:.2f} pp",
                         f"{w.t:.3f}", f"{w.df:.1f}", f"{w.p:.3g}"])
    if not rows:
        return []
    return [f"Difference of mean {what} between conditions, with its 95% interval, and Welch's "
            "t-test (unequal variances; `scipy.stats.ttest_ind(equal_var=False)`):", "",
            *table(["difference", "mean ± 95% CI", "t", "df (Welch)", "p (two-sided)"], rows)]


def cells_table(conditions: dict[str, list[CellRun]]) -> list[str]:
    """One row per finished cell, straight from its files."""
    rows = []
    for runs in conditions.values():
        for r in runs:
            ev = r.eval or {}
            rows.append([r.cell.name, r.info["seed"],
                         f"{r.info['fold'][0]}/{r.info['fold'][1]}" if r.info.get("fold") else "-",
                         r.info["best_epoch"], pct(ev.get("acc")),
                         fixed(ev["nll"]) if ev else "n/a", fixed(ev["ece"]) if ev else "n/a",
                         pct(r.last_acc), r.info["epochs"], f"{r.info['train_seconds']:.1f}",
                         f"{r.info['wall_seconds']:.1f}"
                         + (" (resumed)" if r.info.get("resumed_after_epoch") else "")])
    return table(["cell", "seed", "fold", "best epoch", "test acc (best ckpt)", "NLL", "ECE",
                  "test acc (last epoch)", "epochs", "train s", "wall s"], rows)


# ----------------------------------------------------------------------------------- figures


def curve_figure(conditions: dict[str, list[CellRun]], key: str, path: Path, *, title: str,
                 ylabel: str) -> Path | None:
    """Per-epoch ``key`` of each condition: mean over its runs with a 95% t band (in %)."""
    series = {}
    for name, runs in conditions.items():
        curves = [r.series(key) for r in runs if len(r.metrics)]
        if not curves:
            continue
        length = min(len(c) for c in curves)
        stack = np.stack([c[:length] for c in curves])
        if not np.isfinite(stack).any():
            continue
        cis = [stats.mean_ci(stack[:, e]) for e in range(length)]
        series[name] = (np.arange(1, length + 1), 100 * np.array([m.mean for m in cis]),
                        100 * np.array([m.half_width for m in cis]) if len(curves) > 1 else None)
    if not series:
        return None
    return plots.curves(series, path, title=title, xlabel="epoch", ylabel=ylabel)


def reliability_figures(conditions: dict[str, list[CellRun]], folder: Path) -> list[tuple[str, Path]]:
    """A reliability diagram per condition, its runs' bins pooled (``eval.json``)."""
    out = []
    for i, (name, runs) in enumerate(conditions.items()):
        bins = [r.eval["reliability"] for r in runs if r.eval and r.eval.get("reliability")]
        if not bins:
            continue
        conf, acc, count = stats.pooled_reliability(bins)
        eces = _finite(r.eval["ece"] for r in runs if r.eval)
        path = plots.reliability_diagram(
            conf, acc, count, folder / f"reliability-{i + 1}.png",
            title=f"{name}: mean ECE {np.mean(eces):.4f} ({len(bins)} run(s) pooled)")
        out.append((name, path))
    return out


def accuracy_bars(all_stats: list[ConditionStats], path: Path) -> Path | None:
    """Chosen-epoch test accuracy per condition with its 95% interval."""
    if not any(s.acc.n for s in all_stats):
        return None
    return plots.mean_ci_bars([s.name for s in all_stats], [100 * s.acc.mean for s in all_stats],
                              [100 * s.acc.half_width for s in all_stats], path,
                              title="test accuracy at the chosen epoch (mean, 95% CI)",
                              ylabel="test accuracy (%)")


def worst_classes(conditions: dict[str, list[CellRun]], k: int = 3) -> list[str]:
    """The ``k`` classes with the lowest mean recall per condition (``eval.json`` per_class)."""
    rows = []
    for name, runs in conditions.items():
        evs = [r.eval for r in runs if r.eval]
        if not evs:
            continue
        classes = list(evs[0]["per_class"])
        recall = np.array([[ev["per_class"][c]["recall"] for c in classes] for ev in evs]).mean(0)
        f1 = np.array([[ev["per_class"][c]["f1"] for c in classes] for ev in evs]).mean(0)
        order = np.argsort(recall, kind="stable")[:k]
        rows.append([name, ", ".join(f"{classes[i]} (recall {100 * recall[i]:.2f}%, F1 "
                                     f"{f1[i]:.3f})" for i in order)])
    return table(["condition", f"worst {k} classes (mean over seeds)"], rows) if rows else []


# ---------------------------------------------------------------------------- setting, data


def devices_and_time(conditions: dict[str, list[CellRun]], folder: Path) -> list[str]:
    """Where the cells ran and how long everything took (from ``cell.json`` and ``audit.json``)."""
    runs = [r for rs in conditions.values() for r in rs]
    pre = read_json(folder / "pretrain" / "cell.json")
    audit = read_json(folder / "audit" / "audit.json")
    devices = sorted({r.info["device"] for r in runs} | ({pre["device"]} if pre else set()))
    lines = [f"- device: {'; '.join(devices) or 'n/a'}"]
    if pre:
        lines.append(f"- pretrain run ({pre['data']}, epochs: {pre['epochs']}): "
                     f"{pre['wall_seconds']:.1f} s wall, best epoch {pre['best_epoch']}")
    if audit:
        lines.append(f"- audit of {audit['data']}: {audit['seconds']:.1f} s")
    total = sum(r.info["wall_seconds"] for r in runs)
    lines.append(f"- {len(runs)} cells: {total:.1f} s wall in all (per cell: the table above; "
                 "`train s` sums the epochs' training time from metrics.jsonl, `wall s` adds data "
                 "loading, test scoring and checkpoints, as timed by the runner)")
    if any(r.info.get("resumed_after_epoch") for r in runs):
        lines.append("- cells marked *resumed* were interrupted; their wall time counts only the "
                     "run that finished them")
    return lines


MNIST_CAVEAT = (
    "MNIST's training images here are not the original file: `train-images-idx3-ubyte.gz` "
    "\"is rebuilt from the JPEGs of `mnistTask3.zip` (ordered by index), because the original "
    "file could not be brought here: its pixels differ from the original by JPEG rounding (mean "
    "pixel 34.3 instead of 33.3). Report MNIST results with that caveat.\" (the data folder's "
    "README.md). The MNIST test images and every label file are the original ones.")


def data_notes(sources: set[str]) -> list[str]:
    """The caveats that apply to the data sources an experiment used."""
    lines = []
    bases = {s.split("+")[0] for s in sources}
    if bases & {"mnist", "mnistTask3"}:
        lines.append(f"- {MNIST_CAVEAT}")
    if "mnistTask3" in bases:
        lines.append("- mnistTask3's images are those JPEGs, with corrupted folder labels; no clean "
                     "training label was read to train or to choose an epoch (the true labels and "
                     "the MNIST test set only *measure*). Test figures are on the original MNIST "
                     "test set, so train and test differ slightly by JPEG rounding.")
    if bases & {"trainPart1", "trainPart1-digits"}:
        lines.append("- trainPart1: the task's separate Part-1 test set is held back (it judges the "
                     "Part-1 classifier), so Part-1 accuracy here is measured on held-out folds "
                     "of the 2480 training images unless `testPart1.zip` is present.")
    others = sorted(s for s in sources if s.split("+")[0] not in
                    {"mnist", "mnistTask3", "trainPart1", "trainPart1-digits"})
    if others:
        lines.append(f"- other sources: {', '.join(others)}")
    return lines


def sources_of(exp, conditions: dict[str, list[CellRun]]) -> set[str]:
    """Every data source the experiment read (training, pretraining, audit, test sets)."""
    out = {r.info["data"] for rs in conditions.values() for r in rs}
    out |= {r.info["test_set"].split(" ")[0] for rs in conditions.values() for r in rs
            if r.info.get("test_set") and not r.info["test_set"].startswith("held-out")}
    if exp.pretrain is not None:
        out.add(exp.pretrain.settings["data"])
    if exp.audit is not None:
        out.add(exp.audit["data"])
    return out


# --------------------------------------------------------------------------------- references

REFERENCES = {
    "lenet": "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to "
             "document recognition. Proceedings of the IEEE 86(11):2278-2324, 1998 (LeNet).",
    "vgg": "K. Simonyan, A. Zisserman. Very deep convolutional networks for large-scale image "
           "recognition. ICLR 2015 (stacked 3x3 convolutions, the cnn-* models).",
    "bn": "S. Ioffe, C. Szegedy. Batch normalization: accelerating deep network training by "
          "reducing internal covariate shift. ICML 2015.",
    "adamw": "I. Loshchilov, F. Hutter. Decoupled weight decay regularization. ICLR 2019 (AdamW).",
    "onecycle": "L. N. Smith, N. Topin. Super-convergence: very fast training of neural networks "
                "using large learning rates. Proc. SPIE 11006, 2019 (one-cycle schedule).",
    "affine": "P. Y. Simard, D. Steinkraus, J. C. Platt. Best practices for convolutional neural "
              "networks applied to visual document analysis. ICDAR 2003 (affine augmentation).",
    "mnist": "Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits "
             "(digits size-normalised to 20x20 and centred by centre of mass in 28x28; the "
             "preprocessing noisylab applies to photos).",
    "scl": "Y.-T. Chou, G. Niu, H.-T. Lin, M. Sugiyama. Unbiased risk estimators can mislead: a "
           "case study of learning with complementary labels. ICML 2020 (SCL-NL, SCL-EXP).",
    "fwd": "X. Yu, T. Liu, M. Gong, D. Tao. Learning with biased complementary labels. ECCV 2018 "
           "(FWD).",
    "ure": "T. Ishida, G. Niu, A. K. Menon, M. Sugiyama. Complementary-label learning for "
           "arbitrary losses and models. ICML 2019 (URE-GA).",
    "pc": "T. Ishida, G. Niu, W. Hu, M. Sugiyama. Learning from complementary labels. NeurIPS 2017 "
          "(PC).",
    "gce": "Z. Zhang, M. R. Sabuncu. Generalized cross entropy loss for training deep neural "
           "networks with noisy labels. NeurIPS 2018 (GCE).",
    "forward": "G. Patrini, A. Rozza, A. K. Menon, R. Nock, L. Qu. Making deep neural networks "
               "robust to label noise: a loss correction approach. CVPR 2017 (forward correction).",
    "cleanlab": "C. G. Northcutt, L. Jiang, I. L. Chuang. Confident learning: estimating "
                "uncertainty in dataset labels. JAIR 70:1373-1411, 2021 (cleanlab).",
    "pseudo": "D.-H. Lee. Pseudo-label: the simple and efficient semi-supervised learning method "
              "for deep neural networks. ICML 2013 Workshop on Challenges in Representation "
              "Learning.",
    "fixmatch": "K. Sohn et al. FixMatch: simplifying semi-supervised learning with consistency "
                "and confidence. NeurIPS 2020 (pseudo-targets from the clean view, loss on the "
                "augmented one).",
    "born-again": "T. Furlanello, Z. C. Lipton, M. Tschannen, L. Itti, A. Anandkumar. Born-again "
                  "neural networks. ICML 2018 (a fresh student trained on a teacher's labels; "
                  "noisylab's distillation phase).",
    "noisy-student": "Q. Xie, M.-T. Luong, E. Hovy, Q. V. Le. Self-training with Noisy Student "
                     "improves ImageNet classification. CVPR 2020 (relabel with the teacher, "
                     "train an augmented student from scratch).",
    "ece": "C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger. On calibration of modern neural "
           "networks. ICML 2017 (ECE, reliability diagrams).",
    "student": "Student (W. S. Gosset). The probable error of a mean. Biometrika 6(1):1-25, 1908 "
               "(t intervals).",
    "welch": "B. L. Welch. The generalization of \"Student's\" problem when several different "
             "population variances are involved. Biometrika 34(1-2):28-35, 1947.",
    "cv": "M. Stone. Cross-validatory choice and assessment of statistical predictions. JRSS B "
          "36(2):111-147, 1974.",
}

_LOSS_REFS = {"scl-nl": "scl", "scl-exp": "scl", "fwd": "fwd", "ure-ga": "ure", "pc": "pc",
              "gce": "gce", "forward": "forward"}


def reference_keys(exp, conditions: dict[str, list[CellRun]], folder: Path) -> list[str]:
    """The references of the techniques the experiment's runs used (read from their configs)."""
    runs = [r for rs in conditions.values() for r in rs]
    configs = [r.info.get("config", {}) for r in runs]
    pre = read_json(folder / "pretrain" / "cell.json")
    if pre:
        configs.append(pre.get("config", {}))
    archs = {c.get(key) for c in configs for key in ("arch", "distill_arch")} - {None}
    keys = ["lenet"] if "lenet" in archs else []
    if any(str(a).startswith("cnn") for a in archs):
        keys.append("vgg")
    keys += ["bn", "adamw", "onecycle"]
    if any(c.get("augment", True) for c in configs):
        keys.append("affine")
    keys.append("mnist")
    for c in configs:
        ref = _LOSS_REFS.get(c.get("loss"))
        if ref and ref not in keys:
            keys.append(ref)
    if any(c.get("pseudo_label") for c in configs):
        keys += ["pseudo", "fixmatch"]
    if any(c.get("distill_epochs") for c in configs):
        keys += ["born-again", "noisy-student"]
    if exp.audit is not None:
        keys.append("cleanlab")
    if exp.cv_folds:
        keys.append("cv")
    keys += ["ece", "student", "welch"]
    return keys


def references(keys: list[str]) -> list[str]:
    """The References section."""
    return ["## References", ""] + [f"- {REFERENCES[k]}" for k in keys] + [""]
