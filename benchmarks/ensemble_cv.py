"""Cross-validated accuracy of an ensemble of trainPart1 fold models, against its members.

Each member is a pattern of run folders with ``{k}`` for the fold, as `noisylab run` names the
cells of a cross-validated experiment (``experiments/task1.toml``). Fold ``k`` of ``n`` is
scored by `noisylab.evaluate.evaluate` on the images that fold held out (the same folds as the
experiment: ``--cv-seed``), once per member and once for all members together (their class
probabilities averaged, as ``noisylab evaluate A B C`` does).

    python benchmarks/ensemble_cv.py "runs/task1-quick/fit_f{k}_s0" "runs/x/f{k}_s1" ...
        [--root ../shared/data] [--data trainPart1] [--folds 5] [--cv-seed 0] [--preprocess fit]
        [--tta N]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from noisylab.evaluate import evaluate
from noisylab.pipeline import evaluation_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="run-folder patterns with {k} for the fold")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--data", default="trainPart1")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cv-seed", type=int, default=0)
    ap.add_argument("--preprocess", default="fit")
    ap.add_argument("--tta", type=int, default=1, help="views of each image (test-time augmentation)")
    args = ap.parse_args()

    rows = {m: [] for m in args.members} | {"ensemble": []}
    for k in range(1, args.folds + 1):
        held_out, _ = evaluation_set(args.data, root=args.root, fold=(k, args.folds),
                                     fold_seed=args.cv_seed,
                                     load_options={"preprocess": args.preprocess}, progress=False)
        runs = [m.format(k=k) for m in args.members]
        for m, run in zip(args.members, runs, strict=True):
            rows[m].append(evaluate(run, held_out, views=args.tta)["acc"])
        rows["ensemble"].append(evaluate(runs, held_out, views=args.tta)["acc"])
    print(f"{args.data}, {args.folds} folds (cv seed {args.cv_seed}), {args.tta} view(s) an "
          "image, held-out accuracy:")
    for name, accs in rows.items():
        print(f"  {name:<44} " + " ".join(f"{100 * a:6.2f}" for a in accs)
              + f"   mean {100 * np.mean(accs):.2f}%")
    members = np.mean([rows[m] for m in args.members], axis=0)
    gain = np.asarray(rows["ensemble"]) - members
    print(f"ensemble - mean member: {100 * gain.mean():+.2f} pp "
          f"(better in {(gain > 0).sum()} of {args.folds} folds)")


if __name__ == "__main__":
    main()
