"""Cross-validated accuracy of an ensemble of trainPart1 fold models, against its members.

Each member is a pattern of run folders with ``{k}`` for the fold, as `noisylab run` names the
cells of a cross-validated experiment (``experiments/task1.toml``). Fold ``k`` of ``n`` is
scored by `noisylab.evaluate.evaluate` on the images that fold held out (the same folds as the
experiment: ``--cv-seed``), once per member and once for all members together (their class
probabilities averaged, as ``noisylab evaluate A B C`` does).

    python benchmarks/ensemble_cv.py "runs/task1-quick/fit_f{k}_s0" "runs/x/f{k}_s1" ...
        [--root ../shared/data] [--data trainPart1] [--folds 5] [--cv-seed 0] [--preprocess fit]
        [--tta N] [--writer-size] [--one-of-each]

``--writer-size`` also scores every model with the ``case-by-size`` add-on
(`noisylab.addons.writers.writer_size.CaseBySize`) fitted on the fold's training images (their
ink boxes and the writers their file names give), and prints both. Models that read the box
themselves (the ``relative-box`` add-on, the recipe's) are left as they are by it
(`noisylab.evaluate.evaluate`), so their two rows are the same. ``--one-of-each`` also scores
every model reading each writer's held-out images as one of each character (the ``one-of-each``
add-on, `noisylab.addons.writers.one_of_each.OneOfEachAddon`, fitted on the fold's training
images), after ``case-by-size`` when both are asked for.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from noisylab.addons.writers import CaseBySize, OneOfEachAddon
from noisylab.data import load
from noisylab.evaluate import evaluate
from noisylab.pipeline import fold_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="run-folder patterns with {k} for the fold")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--data", default="trainPart1")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cv-seed", type=int, default=0)
    ap.add_argument("--preprocess", default="fit")
    ap.add_argument("--tta", type=int, default=1, help="views of each image (test-time augmentation)")
    ap.add_argument("--writer-size", action="store_true",
                    help="also score with the writer-relative size of each character")
    ap.add_argument("--one-of-each", action="store_true",
                    help="also score reading each writer's images as one of each character")
    args = ap.parse_args()

    full = load(args.data, root=args.root, progress=False, preprocess=args.preprocess)
    rows = {m: [] for m in args.members} | {"ensemble": []}
    sized = {m: [] for m in rows}
    as_sets = {m: [] for m in rows}
    for k in range(1, args.folds + 1):
        train_folds, held_out = fold_split(full, (k, args.folds), seed=args.cv_seed)
        adjusters = ([CaseBySize().fit(train_folds)] if args.writer_size else []) + \
            ([OneOfEachAddon().fit(train_folds)] if args.one_of_each else [])
        runs = [m.format(k=k) for m in args.members]
        for name, model in [*zip(args.members, runs, strict=True), ("ensemble", runs)]:
            figures = evaluate(model, held_out, views=args.tta, adjusters=adjusters)
            rows[name].append(figures["acc"])
            for table, adjuster in [(sized, "case-by-size"), (as_sets, "one-of-each")]:
                if adjuster in figures["adjusted"]:
                    table[name].append(figures["adjusted"][adjuster]["acc"])
    print(f"{args.data}, {args.folds} folds (cv seed {args.cv_seed}), {args.tta} view(s) an "
          "image, held-out accuracy:")
    for name, accs in rows.items():
        print(f"  {name:<44} " + " ".join(f"{100 * a:6.2f}" for a in accs)
              + f"   mean {100 * np.mean(accs):.2f}%")
        for label, table in [("  + writer size", sized), ("  + one of each per writer", as_sets)]:
            if table[name]:
                print(f"  {label:<44} " + " ".join(f"{100 * a:6.2f}" for a in table[name])
                      + f"   mean {100 * np.mean(table[name]):.2f}%")
    for what, table in [("", rows), ("with the writer's size, ", sized),
                        ("read as one of each per writer, ", as_sets)]:
        if not table["ensemble"]:
            continue
        members = np.mean([table[m] for m in args.members], axis=0)
        gain = np.asarray(table["ensemble"]) - members
        print(f"{what}ensemble - mean member: {100 * gain.mean():+.2f} pp "
              f"(better in {(gain > 0).sum()} of {args.folds} folds)")


if __name__ == "__main__":
    main()
