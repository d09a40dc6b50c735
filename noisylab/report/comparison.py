"""The report of a grid of conditions over seeds (tasks 2 and 3, and any ``plain`` experiment).

Sections: the setup, a headline table per condition (test accuracy at the chosen epoch and the
last, NLL, ECE, best epoch, area under the learning curve, when a target accuracy was first
reached), Welch's t-test between conditions, learning curves with 95% bands, reliability
diagrams, the worst classes, every cell, devices and times, data notes, references.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from noisylab.report import common


def header(exp, conditions: dict, missing: list[str]) -> list[str]:
    """Title, description, what was run, and which cells are not finished."""
    n = sum(len(r) for r in conditions.values())
    lines = [f"# {exp.title}", ""]
    if exp.description:
        lines += [exp.description.strip(), ""]
    axes = "; ".join(f"{a}: {', '.join(v)}" for a, v in exp.axes.items()) or "none"
    lines += [f"Experiment `{exp.name}` from `{exp.source}`"
              + (f" (profile `{exp.profile}`)" if exp.profile else "")
              + f": {n} finished cells; grid axes {axes}; seeds {exp.seeds}"
              + (f"; {exp.cv_folds}-fold cross-validation" if exp.cv_folds else "")
              + f". Report written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the "
              "cells' own files (cell.json, metrics.jsonl, eval.json).", ""]
    if missing:
        lines += [f"**Not finished ({len(missing)}), left out of every figure below:** "
                  + ", ".join(f"`{m}`" for m in missing) + ". Run the experiment again to "
                  "finish them (finished cells are skipped).", ""]
    return lines


def setup(exp, conditions: dict) -> list[str]:
    """The settings every cell shares, and what differs between conditions."""
    runs = [r for rs in conditions.values() for r in rs]
    if not runs:
        return []
    configs = [r.info.get("config", {}) for r in runs]
    shared = {k: v for k, v in configs[0].items()
              if k not in ("seed", "init", "transition") and all(c.get(k) == v for c in configs)}
    lines = ["## Setup", "",
             "Settings every cell shares (from the checkpoints' training configs): "
             + ", ".join(f"`{k}={v}`" for k, v in shared.items()) + ".", ""]
    test_sets = sorted({"the held-out fold of each cell (cross-validation)"
                        if str(r.info.get("test_set")).startswith("held-out fold")
                        else r.info.get("test_set") or "none" for r in runs})
    lines += [f"Test set: {', '.join(test_sets)}. The epoch each run keeps (`best`) is chosen on "
              "a split of the *given* training labels, by its loss's validation criterion (or the "
              "forward NLL under the audit's T where `val_transition` is set): the latest epoch "
              "within one standard error of the best value so far. The test set is only "
              "reported, never used to choose.", ""]
    pre = common.read_json(runs[0].folder.parent / "pretrain" / "cell.json")
    if pre:
        ev = common.read_json(runs[0].folder.parent / "pretrain" / "eval.json")
        lines += [f"`init = pretrained` starts from this experiment's own pretrain run "
                  f"(`pretrain/`: {pre['data']}, {pre['arch']}, epochs: {pre['epochs']}, best "
                  f"epoch {pre['best_epoch']}"
                  + (f", {common.pct(ev['acc'])} on {ev['set']}" if ev else "")
                  + "): all its weights are the starting point, except a head for another "
                  "number of classes, which is re-initialised.", ""]
    return lines


def results(exp, folder: Path, conditions: dict, *, target: float, target_on: str,
            curves_of: tuple[str, ...] = ("test_acc", "val_acc")) -> tuple[list[str], list]:
    """The results sections; also returns the per-condition statistics."""
    figs = folder / "figures"
    all_stats = [common.condition_stats(name, runs, target=target, target_on=target_on)
                 for name, runs in conditions.items() if runs]
    if not all_stats:
        return ["## Results", "", "No cell has finished yet.", ""], []
    what = {"val_acc": "validation accuracy (given labels)",
            "test_acc": "test accuracy (clean labels; reported, not used to choose)"}[target_on]
    lines = ["## Results", "",
             "Means over seeds with 95% confidence intervals (Student t, n − 1 degrees of freedom; "
             "no interval with one seed). *Chosen epoch*: the `best` checkpoint scored on the test "
             "set (eval.json). *AULC*: the area under the test-accuracy-vs-epoch curve divided by "
             f"the number of epochs (mean per-epoch test accuracy). *Reached*: the first epoch "
             f"whose {what} is at least {100 * target:g}%, with the optimiser steps and summed "
             "training seconds (evaluation excluded) up to it, over the runs that reached it.",
             "", *common.conditions_table(all_stats, target=target, target_on=target_on), ""]
    bars = common.accuracy_bars(all_stats, figs / "accuracy.png")
    if bars:
        lines += [f"![accuracy]({bars.relative_to(folder)})", ""]
    welch = common.welch_lines(all_stats)
    if welch:
        lines += ["### Are the differences real?", "", *welch, ""]
    lines += ["### Learning curves", "",
              "Mean over seeds per epoch, with a 95% t band where there are several seeds.", ""]
    labels = {"test_acc": ("test accuracy (clean labels, reported only)", "test accuracy (%)"),
              "val_acc": ("validation accuracy on the given labels", "validation accuracy (%)")}
    for key in curves_of:
        fig = common.curve_figure(conditions, key, figs / f"curve-{key}.png",
                                  title=labels[key][0], ylabel=labels[key][1])
        if fig:
            lines += [f"![{key}]({fig.relative_to(folder)})", ""]
    rel = common.reliability_figures(conditions, figs)
    if rel:
        lines += ["### Calibration", "",
                  "Reliability diagrams of the chosen checkpoints on the test set, the bins of "
                  "all seeds of a condition pooled; bars on the diagonal are perfectly calibrated "
                  "(ECE in the table above).", ""]
        lines += [f"![reliability {name}]({p.relative_to(folder)})" for name, p in rel] + [""]
    worst = common.worst_classes(conditions)
    if worst:
        lines += ["### Worst classes", "", *worst, ""]
    return lines, all_stats


def tail(exp, folder: Path, conditions: dict) -> list[str]:
    """Every cell, devices and times, data notes and references: the end of every report."""
    return ["## Every cell", "", *common.cells_table(conditions), "",
            "## Device and time", "", *common.devices_and_time(conditions, folder), "",
            "## Data", "", *common.data_notes(common.sources_of(exp, conditions)), "",
            *common.references(common.reference_keys(exp, conditions, folder))]


def build(exp, folder: Path, conditions: dict, missing: list[str], *, root=None,
          log=print) -> list[str]:
    """A ``plain`` or ``task2`` report."""
    r = exp.report
    body, _ = results(exp, folder, conditions, target=r["target"], target_on=r["target_on"])
    return [*header(exp, conditions, missing), *setup(exp, conditions), *body,
            *tail(exp, folder, conditions)]
