"""Is the audit's probability of the kind calibrated? A grid of simulated audits.

For each kind of noise x number of images x number of classes x seed, true labels are corrupted
with `noisylab.noise.corrupt`, the out-of-sample predictions of an imperfect model are simulated
(`noisylab.noise.simulate_pred_probs`: right on a share of the images drawn between 85% and 98%,
with Dirichlet jitter), and `noisylab.noise.diagnose` reports its candidate kinds and the
probability that the truth is among them (bagged over bootstrap replicates). A report is *right*
when the true kind is among its candidates. Calibration compares the probability with how often
that happens: the reliability table and its expected calibration error (ECE, equal-width bins).
The real-image counterpart is ``benchmarks/audit_accuracy.py``; this one isolates the estimators
from the cross-fitted model, so it is fast and torch-free.

    python benchmarks/audit_calibration.py [--sizes 500,2000,5000,20000] [--classes 10,62]
        [--seeds 3] [--out FIGURE.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from noisylab.noise import (
    corrupt,
    diagnose,
    make_noise,
    simulate_pred_probs,
    transition_from_labels,
)
from noisylab.noise.benchmark import kind_calibration

#: (name, make_noise kind, options, the kind a right report names)
KINDS = [
    ("clean", "clean", {}, "clean"),
    ("symmetric-20", "symmetric", {"rate": 0.2}, "symmetric"),
    ("symmetric-50", "symmetric", {"rate": 0.5}, "symmetric"),
    ("pairflip-30", "pair_flip", {"rate": 0.3}, "pair-flip"),
    ("permutation", "permutation", {}, "permutation"),
    ("complementary", "complementary", {}, "complementary"),
    ("biased-complementary", "biased_complementary", {}, "biased-complementary"),
    ("unrelated", "unrelated", {}, "unrelated"),
]


def one_cell(kind: str, opts: dict, truth_kind: str, n: int, k: int, seed: int,
             replicates: int) -> dict:
    """Corrupt, simulate predictions, diagnose; the report's figures against the truth."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    T = make_noise(kind, k, seed=seed + 1, **opts)
    g, _ = corrupt(y, T, seed=seed + 2)
    accuracy = float(rng.uniform(0.85, 0.98))
    Q, _ = simulate_pred_probs(y, T, accuracy=accuracy, seed=seed + 3)
    t0 = time.perf_counter()
    d = diagnose(Q, g, bootstrap_replicates=replicates, seed=seed)
    seconds = time.perf_counter() - t0
    truth = transition_from_labels(y, g, k)
    right = next((r for r in d.readings if r.kind == truth_kind), d.readings[0])
    M = right.transition_matrix
    inside = None
    if d.intervals is not None and right is d.readings[0]:
        lo, hi = d.intervals.transition
        inside = float(((lo - 1e-9 <= truth) & (truth <= hi + 1e-9)).mean())
    return {"kind": kind, "n": n, "classes": k, "seed": seed, "accuracy": accuracy,
            "reported": d.kind, "candidates": d.candidates, "decided": d.decided,
            "right": truth_kind in d.candidates, "strict": d.decided and d.kind == truth_kind,
            "confidence": d.confidence, "mae": float(np.abs(M - truth).mean()),
            "rel_l1": float(np.abs(M - truth).sum() / k), "coverage": inside,
            "seconds": seconds}


def report(rows: list[dict], out: str | None) -> None:
    """Print the per-kind table and the reliability table; draw the figure to ``out``."""
    print("| kind | classes | n | right (among candidates) | decided and right | mean "
          "confidence | MAE of T | relative L1 | interval coverage | s/audit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    keys = sorted({(r["kind"], r["classes"], r["n"]) for r in rows},
                  key=lambda x: ([k[0] for k in KINDS].index(x[0]), x[1], x[2]))
    for kind, k, n in keys:
        cell = [r for r in rows if (r["kind"], r["classes"], r["n"]) == (kind, k, n)]
        cov = [r["coverage"] for r in cell if r["coverage"] is not None]
        print(f"| {kind} | {k} | {n} | {np.mean([r['right'] for r in cell]):.2f} | "
              f"{np.mean([r['strict'] for r in cell]):.2f} | "
              f"{np.mean([r['confidence'] for r in cell]):.2f} | "
              f"{np.mean([r['mae'] for r in cell]):.4f} | "
              f"{np.mean([r['rel_l1'] for r in cell]):.3f} | "
              + (f"{np.mean(cov):.2f}" if cov else "-")
              + f" | {np.mean([r['seconds'] for r in cell]):.1f} |")
    confidence = np.array([r["confidence"] for r in rows])
    right = np.array([r["right"] for r in rows])
    conf, acc, count, ece = kind_calibration(confidence, right)
    print(f"\n{len(rows)} audits: right {right.mean():.3f}, mean confidence "
          f"{confidence.mean():.3f}, ECE {ece:.3f}\n")
    print("| confidence bin | audits | mean confidence | share right |")
    print("| --- | --- | --- | --- |")
    for b in range(len(count)):
        if count[b]:
            print(f"| {b / len(count):.1f}-{(b + 1) / len(count):.1f} | {int(count[b])} | "
                  f"{conf[b]:.3f} | {acc[b]:.3f} |")
    cov = [r["coverage"] for r in rows if r["coverage"] is not None]
    if cov:
        print(f"\nentries of T inside their 95% interval: {np.mean(cov):.3f} "
              f"(over {len(cov)} audits)")
    if out:
        from noisylab import plots

        plots.reliability_diagram(conf, acc, count, out,
                                  title=f"audit: probability of the kind, ECE {ece:.3f}")
        print(f"figure: {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,2000,5000,20000")
    ap.add_argument("--classes", default="10,62")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--replicates", type=int, default=20, help="bootstrap replicates")
    ap.add_argument("--out", default=None, help="where to draw the reliability figure")
    args = ap.parse_args()
    rows = []
    for k in [int(v) for v in args.classes.split(",")]:
        for n in [int(v) for v in args.sizes.split(",")]:
            if n < 20 * k:
                continue  # below what an audit accepts (20 images a class)
            for name, kind, opts, truth in KINDS:
                for seed in range(args.seeds):
                    r = one_cell(kind, opts, truth, n, k, seed, args.replicates)
                    r["kind"] = name
                    rows.append(r)
            print(f"  done: {k} classes, {n} images", flush=True)
    report(rows, args.out)


if __name__ == "__main__":
    main()
