"""How trainPart1's cross-validated accuracy grows with the models averaged together.

Given cross-validated experiments on the same folds (`noisylab run` folders, each with its
``experiment.json``: one setting, ``cv_folds`` set, any number of seeds), every seed of every
experiment is one model: its class probabilities on the images each fold held out, pooled over
the folds. For each ensemble size ``n`` this averages the probabilities of ``n`` models drawn
without replacement (every such subset when there are at most ``--draws`` of them, else
``--draws`` random ones) and prints the held-out accuracy's mean, minimum and maximum over the
subsets: what one more model a class of recipes buys.

    python benchmarks/ensemble_size.py runs/task1-box runs/task1-box2 \
        runs/task1-seeds3to8 [--root ../shared/data] [--draws 200] [--plot size.png]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
from pathlib import Path

import numpy as np

from noisylab.data import load
from noisylab.errors import NoisylabError
from noisylab.evaluate import model_probs
from noisylab.experiments import read_cv_plan
from noisylab.pipeline import fold_split


def subset_accuracies(probs: np.ndarray, labels: np.ndarray, size: int, draws: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Accuracies of ensembles of ``size`` of the ``M`` models, probabilities averaged.

    Parameters
    ----------
    probs : np.ndarray
        ``(M, N, K)``: each model's class probabilities for the same ``N`` images.
    labels : np.ndarray
        ``(N,)`` int, the true classes.
    size : int
        Models in each ensemble, ``1 <= size <= M``.
    draws : int
        Every subset when there are at most this many, else this many distinct-member subsets
        drawn at random.

    Returns
    -------
    np.ndarray
        ``(S,)`` accuracies in ``[0, 1]``, one per subset.
    """
    m = len(probs)
    if math.comb(m, size) <= draws:
        subsets = itertools.combinations(range(m), size)
    else:
        subsets = (rng.choice(m, size, replace=False) for _ in range(draws))
    return np.array([(probs[list(s)].mean(0).argmax(1) == labels).mean() for s in subsets])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiments", nargs="+", help="`noisylab run` folders on the same folds")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--data", default="trainPart1")
    ap.add_argument("--preprocess", default="fit")
    ap.add_argument("--draws", type=int, default=200, help="subsets scored per ensemble size")
    ap.add_argument("--seed", type=int, default=0, help="of the random subsets")
    ap.add_argument("--plot", default=None, help="write the curve to this PNG")
    args = ap.parse_args()

    try:  # before the data is loaded
        plans = {Path(f): read_cv_plan(f) for f in args.experiments}
    except NoisylabError as error:
        raise SystemExit(str(error)) from None
    folds = {(p["cv_folds"], p["cv_seed"]) for p in plans.values()}
    if len(folds) > 1:
        raise SystemExit("the experiments were cross-validated on different folds "
                         f"((cv_folds, cv_seed): {sorted(folds)}); name ones on the same folds")
    (n_folds, cv_seed), = folds
    full = load(args.data, root=args.root, progress=False, preprocess=args.preprocess)

    names, probs, labels = [], [], []
    for k in range(1, n_folds + 1):
        _, held_out = fold_split(full, (k, n_folds), seed=cv_seed)
        labels.append(held_out.labels.numpy())
        fold_probs = []
        for folder, plan in plans.items():
            for cell in plan["cells"]:
                if cell["settings"]["fold"] != k:
                    continue
                if k == 1:
                    names.append(f"{folder}/seed {cell['settings']['seed']}")
                fold_probs.append(model_probs(folder / cell["name"], held_out))
        probs.append(np.stack(fold_probs))
    probs, labels = np.concatenate(probs, axis=1), np.concatenate(labels)

    rng = np.random.default_rng(args.seed)
    print(f"{args.data}, {n_folds} folds (cv seed {cv_seed}), {len(names)} models, held-out "
          "accuracy of n of them averaged:")
    rows = []
    for size in range(1, len(names) + 1):
        accs = 100 * subset_accuracies(probs, labels, size, args.draws, rng)
        rows.append((size, accs.mean(), accs.min(), accs.max()))
        print(f"  n = {size:2d}: mean {accs.mean():.2f}%  (min {accs.min():.2f}, max "
              f"{accs.max():.2f}; {len(accs)} subsets)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        size, mean, low, high = map(np.array, zip(*rows, strict=True))
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.fill_between(size, low, high, alpha=0.25, label="min to max over subsets")
        ax.plot(size, mean, "o-", label="mean over subsets")
        ax.set_xlabel("models averaged")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(f"{args.data}: {n_folds}-fold CV accuracy against ensemble size")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
