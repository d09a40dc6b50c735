"""Task 1's report: cross-validated accuracy on trainPart1 (62 classes), per-class F1, the most
confused pairs, a confusion matrix, the preprocessing before/after, and design choices measured
as grid axes (e.g. ``preprocess = ["keep-size", "fit"]``).

Cross-validation numbers: each cell is one (fold, seed); its ``eval.json`` scores the ``best``
checkpoint on the held-out fold. A condition's accuracy is averaged over seeds per fold, then
over folds with a t interval (n = folds); when the cells' ``eval.json`` also score the held-out
images with a prediction adjuster (an add-on's, `noisylab.addons`), that accuracy gets a table
of its own, in the add-on's words.
Per-class scores and confusions pool the held-out predictions of every fold, each image alone
(each image is predicted once per seed by a model that never saw it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisylab import metrics, plots, stats
from noisylab.errors import NoisylabError
from noisylab.report import common, comparison


def fold_accuracies(runs: list[common.CellRun], *, adjuster: str | None = None
                    ) -> dict[int, float]:
    """``{fold: held-out accuracy averaged over seeds}`` from the cells' ``eval.json``: of each
    image alone, or with the prediction adjuster named ``adjuster`` (the cells that have that
    figure)."""
    by_fold: dict[int, list[float]] = {}
    for r in runs:
        if not (r.eval and r.info.get("fold")):
            continue
        adjusted = r.eval.get("adjusted", {})
        if adjuster is not None and adjuster not in adjusted:
            continue
        acc = adjusted[adjuster]["acc"] if adjuster is not None else r.eval["acc"]
        by_fold.setdefault(r.info["fold"][0], []).append(acc)
    return {k: float(np.mean(v)) for k, v in sorted(by_fold.items())}


def pooled_confusion(runs: list[common.CellRun]) -> np.ndarray | None:
    """The held-out confusion matrices ``(K, K)`` of every cell, summed (rows true)."""
    mats = [np.asarray(r.eval["confusion"]) for r in runs if r.eval]
    return np.sum(mats, axis=0) if mats else None


def confused_pairs(confusion: np.ndarray, classes: list[str], top: int = 15) -> list[list[str]]:
    """Rows ``[a, b, a->b, b->a, together, share]`` for the most confused pairs of classes."""
    c = np.asarray(confusion)
    k = len(classes)
    pairs = [(c[i, j] + c[j, i], i, j) for i in range(k) for j in range(i + 1, k) if c[i, j] + c[j, i]]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    rows = []
    for total, i, j in pairs[:top]:
        support = c[i].sum() + c[j].sum()
        rows.append([classes[i], classes[j], int(c[i, j]), int(c[j, i]), int(total),
                     f"{100 * total / support:.1f}%" if support else "n/a"])
    return rows


def _before_after(exp, folder: Path, root, log) -> list[str]:
    data = {r.settings["data"] for r in exp.cells}
    name = next((d for d in ("trainPart1", "trainPart1-digits") if d in data), None)
    if name is None:
        return []
    path = folder / "figures" / "before_after.png"
    if not path.exists():
        from noisylab.data.figures import photos_before_after

        try:
            photos_before_after(name, path, root=root, progress=False)
        except NoisylabError as err:
            log(f"before/after figure not drawn: {err}")
            return ["## Preprocessing", "", f"(The before/after figure could not be drawn: {err})",
                    ""]
    return ["## Preprocessing", "",
            "Each photo (1200x900, black ink on white) is inverted, cropped to its ink and placed "
            "by centre of mass in 28x28 as MNIST was made (LeCun et al.). `fit` scales every "
            "character to 20 px as MNIST does; `keep-size` keeps each character's size relative "
            "to the page, which is what tells c from C, o from O, s from S. Top: raw photo; then "
            "each preprocessing:", "", f"![before and after]({path.relative_to(folder)})", ""]


def build(exp, folder: Path, conditions: dict, missing: list[str], *, root=None,
          log=print) -> list[str]:
    """The task 1 report."""
    figs = folder / "figures"
    lines = [*comparison.header(exp, conditions, missing), *comparison.setup(exp, conditions),
             *_before_after(exp, folder, root, log)]
    conds = {name: runs for name, runs in conditions.items() if runs}
    if not conds:
        return lines + ["No cell has finished yet.", "", *comparison.tail(exp, folder, conditions)]

    # 1. Cross-validated accuracy per condition, plain and with each adjuster.
    cv_lines, cv = _cv_accuracy(conds, folder)
    lines += cv_lines + _adjusted_sections(conds)

    # 2. Design choices: conditions that differ in one axis, compared fold by fold.
    lines += _design_choices(exp, conds, cv)

    # 3. The first condition in detail: per-class F1, confusions.
    main = next(iter(conds))
    classes = list(next(r.eval for r in conds[main] if r.eval)["per_class"])
    pooled = {name: pooled_confusion(runs) for name, runs in conds.items()}
    c = pooled[main]
    with np.errstate(invalid="ignore"):
        rates = np.nan_to_num(c / c.sum(1, keepdims=True))
    fig = plots.heatmap(rates, figs / "confusion.png", row_labels=classes, col_labels=classes,
                        title=f"{main}: held-out predictions of all folds (row-normalised)",
                        xlabel="predicted", ylabel="true", annotate=len(classes) <= 12)
    pairs = confused_pairs(c, classes)
    lines += ["## Which characters are confused", "",
              f"Held-out predictions of every fold pooled, for `{main}` (each image predicted by "
              "models that never saw it, once per seed).", "",
              f"![confusion]({fig.relative_to(folder)})", ""]
    lines += (["Most confused pairs (counts of true → predicted, both ways; *share*: of the two "
               "classes' held-out predictions):", "",
               *common.table(["a", "b", "a → b", "b → a", "together", "share"], pairs), ""]
              if pairs else ["No held-out image was confused with another class.", ""])
    f1 = {name: metrics.per_class_scores(m)["f1"] for name, m in pooled.items() if m is not None}
    support = metrics.per_class_scores(c)["support"]
    order = np.argsort(f1[main], kind="stable")
    lines += ["### Per-class F1", "",
              "From the pooled held-out confusion matrix of each condition; worst first for "
              f"`{main}`.", "",
              *common.table(["class", *[f"F1 {n}" for n in f1], "held-out predictions"],
                            [[classes[i], *[f"{f1[n][i]:.3f}" for n in f1], int(support[i])]
                             for i in order]), ""]

    # 4. Curves, calibration, every cell, time, data, references.
    fig = common.curve_figure(conds, "test_acc", figs / "curve-test_acc.png",
                              title="held-out fold accuracy while training",
                              ylabel="held-out accuracy (%)")
    if fig:
        lines += ["## Learning curves", "",
                  "Held-out fold accuracy per epoch, mean over folds and seeds with a 95% band "
                  "(reported each epoch; the epoch kept is chosen on a validation split of the "
                  "training folds).", "", f"![curves]({fig.relative_to(folder)})", ""]
    rel = common.reliability_figures(conds, figs)
    if rel:
        lines += ["## Calibration", ""]
        lines += [f"![reliability {n}]({p.relative_to(folder)})" for n, p in rel] + [""]
    return lines + comparison.tail(exp, folder, conditions)


def _cv_accuracy(conds: dict, folder: Path) -> tuple[list[str], dict]:
    """The cross-validated accuracy section (a table and ``figures/cv_accuracy.png``), and
    ``{condition: (per-fold accuracies, mean with its interval)}``."""
    rows, cv = [], {}
    for name, runs in conds.items():
        folds = fold_accuracies(runs)
        m = stats.mean_ci(list(folds.values()))
        cv[name] = (folds, m)
        test = stats.mean_ci([r.eval_test["acc"] for r in runs if r.eval_test])
        rows.append([name, len(folds), len({r.info["seed"] for r in runs}),
                     common.ci_text(m, scale=100, suffix="%"),
                     ", ".join(f"{100 * a:.2f}" for a in folds.values()),
                     common.ci_text(test, scale=100, suffix="%") if test.n else "no test split",
                     common.ci_text(stats.mean_ci([r.eval["nll"] for r in runs if r.eval]), digits=4),
                     common.ci_text(stats.mean_ci([r.eval["ece"] for r in runs if r.eval]), digits=4),
                     common.ci_text(stats.mean_ci([r.info["best_epoch"] for r in runs]), digits=1),
                     common.ci_text(stats.mean_ci([r.info["wall_seconds"] for r in runs]), digits=1)])
    lines = ["## Cross-validated accuracy", "",
              "Accuracy of each fold's `best` checkpoint on its held-out fold (eval.json), averaged "
              "over seeds per fold, then mean ± 95% t interval over folds. *Test split*: the same "
              "fold models on the source's own test split, when it is present (mean over all fold "
              "models).", "",
              *common.table(["condition", "folds", "seeds", "CV accuracy", "per fold (%)",
                             "test split", "NLL", "ECE", "best epoch", "wall s a cell"], rows), ""]
    bars = plots.mean_ci_bars(list(cv), [100 * m.mean for _, m in cv.values()],
                              [100 * m.half_width for _, m in cv.values()], folder / "figures" / "cv_accuracy.png",
                              title="cross-validated accuracy (mean over folds, 95% CI)",
                              ylabel="held-out accuracy (%)")
    lines += [f"![cv accuracy]({bars.relative_to(folder)})", ""]
    return lines, cv


def _adjusted_sections(conds: dict) -> list[str]:
    """One section per prediction adjuster in the cells' ``eval.json``: its title and
    description (the add-on's own words) and its cross-validated accuracy per condition."""
    from noisylab.addons import get

    names = dict.fromkeys(n for runs in conds.values() for r in runs if r.eval
                          for n in r.eval.get("adjusted", {}))
    lines = []
    for adjuster in names:
        cls = get(adjuster)
        rows = []
        for name, runs in conds.items():
            folds = fold_accuracies(runs, adjuster=adjuster)
            if folds:
                rows.append([name, common.ci_text(stats.mean_ci(list(folds.values())), scale=100,
                                                  suffix="%"),
                             ", ".join(f"{100 * a:.2f}" for a in folds.values())])
        lines += [f"### With {adjuster}: {cls.title}", "",
                  f"{cls.description} The same held-out images, each cell's model's "
                  f"probabilities adjusted by the add-on `{adjuster}` fitted on its training "
                  "folds (the cells' `eval.json`), averaged the same way:", "",
                  *common.table(["condition", f"CV accuracy, {adjuster}", "per fold (%)"], rows),
                  ""]
    return lines


def _design_choices(exp, conds: dict, cv: dict) -> list[str]:
    """Paired fold-by-fold differences between conditions that differ in exactly one axis."""
    by_labels = {tuple(runs[0].cell.labels.items()): name for name, runs in conds.items()}
    rows = []
    for labels_a, a in by_labels.items():
        for labels_b, b in by_labels.items():
            da, db = dict(labels_a), dict(labels_b)
            diff_axes = [k for k in da if da[k] != db.get(k)]
            if len(diff_axes) != 1 or list(by_labels).index(labels_b) <= list(by_labels).index(labels_a):
                continue
            fa, fb = cv[a][0], cv[b][0]
            common_folds = sorted(set(fa) & set(fb))
            d = stats.mean_ci([fb[k] - fa[k] for k in common_folds])
            wins = sum(fb[k] > fa[k] for k in common_folds)
            rows.append([diff_axes[0], f"{db[diff_axes[0]]} vs {da[diff_axes[0]]}",
                         f"{100 * cv[b][1].mean:.2f}% vs {100 * cv[a][1].mean:.2f}%",
                         common.ci_text(d, scale=100, suffix=" pp"),
                         f"{wins}/{len(common_folds)}"])
    if not rows:
        return []
    return ["## Design choices", "",
            "Each choice is a grid axis, so its effect is measured on the same folds: the "
            "difference of held-out accuracy fold by fold (seeds averaged), mean ± 95% t interval "
            "over folds, and on how many folds the first option won.", "",
            *common.table(["choice", "options", "CV accuracy", "difference (paired by fold)",
                           "folds won"], rows), ""]
