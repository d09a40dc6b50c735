"""How trainPart1's cross-validated accuracy grows with the training images a class.

A k-fold cross-validation trains on (k-1)/k of the 40 images a class: 20 for 2 folds, 32 for 5,
36 for 10. The model handed in trains on all 40, so its accuracy on the task's held-back test
set is expected above any of them. Given several cross-validated experiments of one recipe
that differ only in ``cv_folds`` (`noisylab run` folders, each with its ``experiment.json``),
this scores each experiment's seeds alone and together (their class probabilities averaged,
as ``noisylab evaluate A B C`` does) on the images each fold held out, fits a power law
``error = a * n ** -b`` to the error against the images a class ``n``, and extrapolates it to
the hand-in's ``--per-class`` (an extrapolation, not a measurement: it is printed as one).

    python benchmarks/learning_curve.py runs/task1-cv2 runs/task1-cv3 \
        runs/task1-box2 runs/task1-cv10 [--root ../shared/data] [--per-class 40]
        [--tta N] [--plot learning_curve.png]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from noisylab.data import load
from noisylab.errors import NoisylabError
from noisylab.evaluate import evaluate
from noisylab.experiments import read_cv_plan
from noisylab.pipeline import fold_split


def score_experiment(folder: Path, plan: dict, full, views: int) -> dict:
    """Held-out accuracy of each seed and of the seeds together, over all folds.

    ``plan`` is the experiment's, as `noisylab.experiments.read_cv_plan` reads it.

    Returns
    -------
    dict
        ``folds``; ``seeds``, a list of accuracies (images right / images, pooled over folds);
        ``ensemble``, the same for the seeds' averaged probabilities.
    """
    folds, seeds, cv_seed = plan["cv_folds"], plan["seeds"], plan["cv_seed"]
    cell_of = {(c["settings"]["fold"], c["settings"]["seed"]): folder / c["name"]
               for c in plan["cells"]}
    right = {s: 0 for s in seeds} | {"ensemble": 0}
    total = 0
    for k in range(1, folds + 1):
        _, held_out = fold_split(full, (k, folds), seed=cv_seed)
        runs = {s: cell_of[k, s] for s in seeds}
        for name, model in [*runs.items(), ("ensemble", list(runs.values()))]:
            right[name] += round(evaluate(model, held_out, views=views)["acc"] * len(held_out))
        total += len(held_out)
    return {"folds": folds, "seeds": [right[s] / total for s in seeds],
            "ensemble": right["ensemble"] / total}


def power_law(n: np.ndarray, error: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``log error = log a - b log n``."""
    slope, intercept = np.polyfit(np.log(n), np.log(error), 1)
    return float(np.exp(intercept)), float(-slope)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiments", nargs="+", help="`noisylab run` folders of one recipe")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--data", default="trainPart1")
    ap.add_argument("--preprocess", default="fit")
    ap.add_argument("--per-class", type=float, default=40,
                    help="images a class the hand-in trains on (trainPart1: 40)")
    ap.add_argument("--tta", type=int, default=1, help="views of each image")
    ap.add_argument("--plot", default=None, help="write the curve to this PNG")
    args = ap.parse_args()

    try:  # before the minute that loading takes
        plans = {Path(f): read_cv_plan(f) for f in args.experiments}
    except NoisylabError as error:
        raise SystemExit(str(error)) from None
    full = load(args.data, root=args.root, progress=False, preprocess=args.preprocess)
    per_class = len(full) / len(full.classes)
    rows = []
    for folder, plan in plans.items():
        scores = score_experiment(folder, plan, full, args.tta)
        n = per_class * (scores["folds"] - 1) / scores["folds"]
        rows.append((n, scores))
        print(f"{folder}: {scores['folds']} folds, {n:.1f} training images a class; seeds "
              + " / ".join(f"{100 * a:.2f}" for a in scores["seeds"])
              + f"% (mean {100 * np.mean(scores['seeds']):.2f}%), together "
              f"{100 * scores['ensemble']:.2f}%")
    rows.sort(key=lambda r: r[0])
    n = np.array([r[0] for r in rows])
    curves = {"one seed (mean)": np.array([np.mean(r[1]["seeds"]) for r in rows]),
              "seeds together": np.array([r[1]["ensemble"] for r in rows])}
    fits = {}
    if len(set(n)) < 2:
        print("a fit needs experiments of at least two fold counts")
    else:
        for name, acc in curves.items():
            a, b = power_law(n, 1 - acc)
            fits[name] = (a, b)
            print(f"{name}: error = {a:.3f} * n^-{b:.3f}; extrapolated to {args.per_class:g} "
                  f"a class: {100 * (1 - a * args.per_class ** -b):.2f}% (not measured)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        grid = np.linspace(n.min(), args.per_class, 100)
        for (name, acc), colour in zip(curves.items(), ("tab:blue", "tab:red"), strict=True):
            ax.plot(n, 100 * acc, "o", color=colour, label=f"{name}, cross-validated")
            if name in fits:
                a, b = fits[name]
                ax.plot(grid, 100 * (1 - a * grid ** -b), "--", color=colour,
                        label=f"{name}, power-law fit")
        ax.axvline(args.per_class, color="grey", lw=0.8)
        ax.text(args.per_class, ax.get_ylim()[0], "hand-in ", color="grey", va="bottom", ha="right")
        ax.set_xlabel("training images a class")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(f"{args.data}: accuracy against training images a class")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
