"""How well `noisylab audit` recovers known corruptions of real images, and how calibrated it is.

Takes clean images with their true labels (MNIST's training split, trainPart1's 62 classes, or
the bundled digits), corrupts the labels with each kind of noise of `noisylab.noise.make_noise`
(`noisylab.noise.corrupt`), runs the whole audit (probe, cross-fit, ladder of noise models,
bootstrap) on the corrupted labels only, and compares what it reports with the truth. The
permutation is also audited with a reference (a model trained on a disjoint clean part of the
data, standing in for the Part-1 digit model) when the data leave room for one.

    python benchmarks/audit_accuracy.py --data mnist --sizes 500,2000,5000 --seeds 2
    python benchmarks/audit_accuracy.py --data trainPart1 --seeds 1

Prints one row per case: the kind reported (and the candidates it could not tell apart), its
probability, whether the true kind is among the candidates (*right*) and whether it is the one
decided kind (*strict*), the mean absolute and relative L1 error of T against the matrix the
corrupted labels realise, the share of T's entries inside their 95% intervals, the share of
suggested labels that are right, and seconds; then kind accuracy, interval coverage and the
calibration (ECE) of the probability over all cases.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from noisylab.audit import audit, measure_result
from noisylab.data import load
from noisylab.data.base import LabeledImages
from noisylab.noise import corrupt, make_noise
from noisylab.noise.benchmark import kind_calibration

#: name -> (make_noise kind, options, the kind a right audit reports, needs a reference)
CASES = {
    "clean": ("clean", {}, "clean", False),
    "symmetric-20": ("symmetric", {"rate": 0.2}, "symmetric", False),
    "symmetric-50": ("symmetric", {"rate": 0.5}, "symmetric", False),
    "pairflip-30": ("pair_flip", {"rate": 0.3}, "pair-flip", False),
    "permutation": ("permutation", {}, "permutation", False),
    "permutation+ref": ("permutation", {}, "permutation", True),
    "complementary": ("complementary", {}, "complementary", False),
    "biased-complementary": ("biased_complementary", {}, "biased-complementary", False),
    "unrelated": ("unrelated", {}, "unrelated", False),
}


def reference_checkpoint(clean: LabeledImages, out: Path) -> Path:
    """A model trained on clean labels of a disjoint part: the trusted reference."""
    from noisylab.train import TrainConfig, train

    cfg = TrainConfig(arch="lenet", loss="ce", epochs=2, lr=4e-3, augment=False, data="reference")
    train(clean, cfg, out_dir=out, progress=False, log=lambda m: None)
    return out / "best"


def one_case(name: str, sub: LabeledImages, seed: int, tmp: Path, reference: Path | None) -> dict:
    """Corrupt ``sub``'s labels as ``name`` says, audit them, and measure the audit."""
    kind, opts, truth_kind, _ = CASES[name]
    true = sub.labels.numpy()
    k = len(sub.classes)
    T = np.eye(k) if kind == "clean" else make_noise(kind, k, seed=seed + 1, **opts)
    given, _ = corrupt(true, T, seed=seed + 2)
    noisy = LabeledImages(sub.images, torch.from_numpy(given).long(), sub.classes, sub.ids,
                          f"{sub.source}+{name}")
    started = time.perf_counter()
    r = audit(noisy, out_dir=tmp / f"{name}-{len(sub)}-{seed}", reference=reference, seed=seed,
              progress=False, log=lambda m: None)
    seconds = time.perf_counter() - started
    m = measure_result(r, true, given)
    d = r.diagnosis
    truth = np.asarray(m["true_transition"])
    right = next((x for x in d.readings if x.kind == truth_kind), d.readings[0])
    return {"case": name, "n": len(sub), "classes": k, "seed": seed, "reported": d.kind,
            "candidates": d.candidates, "confidence": d.confidence,
            "right": truth_kind in d.candidates, "strict": d.decided and d.kind == truth_kind,
            "mae": float(np.abs(right.transition_matrix - truth).mean()),
            "rel_l1": float(np.abs(right.transition_matrix - truth).sum() / k),
            "coverage": m.get("interval_coverage"), "suggested": m["suggested_accuracy"],
            "seconds": seconds}


def print_report(rows: list[dict], data: str) -> None:
    """The per-case table and the summary figures."""
    print(f"\naudit accuracy on {data} (cpu x{os.cpu_count()}):\n")
    print("| case | images | classes | seed | reported (candidates) | probability | right | "
          "strict | MAE of T | relative L1 | in 95% interval | suggested right | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cands = r["reported"] if len(r["candidates"]) == 1 else "/".join(r["candidates"])
        cov = "-" if r["coverage"] is None else f"{r['coverage']:.2f}"
        print(f"| {r['case']} | {r['n']} | {r['classes']} | {r['seed']} | {cands} | "
              f"{r['confidence']:.2f} | {'yes' if r['right'] else 'NO'} | "
              f"{'yes' if r['strict'] else 'no'} | {r['mae']:.4f} | {r['rel_l1']:.3f} | {cov} | "
              f"{100 * r['suggested']:.1f}% | {r['seconds']:.0f} |")
    right = np.array([r["right"] for r in rows])
    conf = np.array([r["confidence"] for r in rows])
    *_, ece = kind_calibration(conf, right)
    cov = [r["coverage"] for r in rows if r["coverage"] is not None]
    print(f"\n{len(rows)} audits: true kind among the candidates {right.mean():.3f}, decided and "
          f"right {np.mean([r['strict'] for r in rows]):.3f}, mean probability {conf.mean():.3f}, "
          f"ECE {ece:.3f}; entries of T inside their 95% interval "
          f"{np.mean(cov) if cov else float('nan'):.3f}; mean MAE of T "
          f"{np.mean([r['mae'] for r in rows]):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", help="mnist (training split), trainPart1 or digits")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--sizes", default="2000", help="Images audited per case (all if larger).")
    ap.add_argument("--cases", default="all", help="Comma-separated names, or all.")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    full = load(args.data, root=args.root, split="train", progress=False)
    cases = list(CASES) if args.cases == "all" else args.cases.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in [min(int(v), len(full)) for v in args.sizes.split(",")]:
            for seed in range(args.seeds):
                order = np.random.default_rng(seed).permutation(len(full))
                sub, rest = full.subset(order[:n]), full.subset(order[n:])
                ref = None  # trained on this subset's complement only, never on its images
                for name in cases:
                    reference = None
                    if CASES[name][3]:
                        if len(rest) < 1000:
                            continue  # no disjoint clean part to train a reference on
                        # 10,000 clean images at most: a reference need not be a great model
                        clean = rest.subset(np.arange(min(len(rest), 10_000)))
                        ref = ref or reference_checkpoint(clean, tmp / f"reference-{n}-{seed}")
                        reference = ref
                    rows.append(one_case(name, sub, seed, tmp, reference))
                    r = rows[-1]
                    print(f"  {name:<22} n={n:<6} seed {seed}: {r['reported']:<20} "
                          f"p={r['confidence']:.2f} right={r['right']} MAE {r['mae']:.4f} "
                          f"{r['seconds']:.0f}s", flush=True)
    print_report(rows, args.data)


if __name__ == "__main__":
    main()
