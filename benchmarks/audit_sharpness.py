"""How the ladder's held-out comparison depends on the sharpness of the cluster probabilities.

The audit sharpens the cross-fitted predictions into cluster probabilities ``P`` with a
sharpness fitted on the same labels under a free matrix (`noisylab.noise.estimate_transition`).
This script takes a noisy source (``NAME+KIND``, e.g. ``trainPart1+symmetric-20``), cross-fits
it as the audit does, and refits the ladder of noise models on ``P`` raised to powers ``a``
(rows renormalised; ``a = 1`` is what the audit uses), printing each model's held-out
log-likelihood of the given labels (nats, summed over the images) and the model the ladder
selects. It reads the given labels only.

    python benchmarks/audit_sharpness.py --data trainPart1+symmetric-20 --root DIR
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from noisylab.audit import _predict
from noisylab.crossfit import default_epochs
from noisylab.data import load
from noisylab.noise.ladder import fit_ladder, heldout_power, soften
from noisylab.noise.transition import estimate_transition

MODELS = ("clean", "symmetric", "pair-flip", "asymmetric", "free, read as dominant")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="trainPart1+symmetric-20")
    ap.add_argument("--powers", default="0.4,0.6,0.8,1.0,1.2")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    args = ap.parse_args()
    ds = load(args.data, root=args.root, progress=False)
    _, fitted = _predict(ds, folds=2, epochs=default_epochs(len(ds)), seed=0, progress=False,
                         log=lambda m: None, started=time.perf_counter())
    given = ds.labels.numpy()
    est = estimate_transition(fitted.probs, given, regime="dominant")
    print(f"{args.data}: {len(ds)} images, {len(ds.classes)} classes; "
          f"heldout_power chooses {heldout_power(est.true_probs, given):g}")
    print("| power of P | selected | " + " | ".join(MODELS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in MODELS) + " |")
    for a in [float(v) for v in args.powers.split(",")]:
        P = soften(est.true_probs, a)
        ladder = fit_ladder(P, given, cluster_counts=est.counts, prefer="dominant",
                            resolution=float(np.mean(1.0 - P.max(1))))
        heldout = {m.name: m.heldout for m in ladder.models}
        print(f"| {a:g} | {ladder.selected.kind} | "
              + " | ".join(f"{heldout.get(name, float('nan')):.1f}" for name in MODELS) + " |",
              flush=True)


if __name__ == "__main__":
    main()
