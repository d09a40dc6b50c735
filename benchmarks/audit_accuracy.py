"""How well `noisylab audit` recovers known corruptions of real images.

Takes clean images with their true labels (MNIST's training split, or the bundled digits),
corrupts the labels with each kind of noise from `noisylab.noise.synthetic`, runs the full
audit (probe, cross-fit, estimators) on the corrupted labels only, and compares the estimated
``T`` with the empirical one of the corruption. The permutation is audited twice: without a
reference (where the truth is that it cannot be told from clean labels) and with one (a model
trained on a *separate* clean half of the data, standing in for the Part-1 digit model).

    python benchmarks/audit_accuracy.py [--data mnist] [--n 20000] [--cases all]

Prints a table: true kind, diagnosed kind (and what it could not tell apart), MAE of T,
keep-rate error, suggested-label accuracy, seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from noisylab.audit import audit, measure
from noisylab.data import load
from noisylab.data.base import LabeledImages
from noisylab.noise import corrupt, make_noise

CASES = {
    "clean": ("clean", {}),
    "symmetric-20": ("symmetric", {"rate": 0.2}),
    "symmetric-50": ("symmetric", {"rate": 0.5}),
    "pairflip-30": ("pair_flip", {"rate": 0.3}),
    "pairflip-45": ("pair_flip", {"rate": 0.45}),
    "permutation": ("permutation", {}),
    "permutation+ref": ("permutation", {}),
    "complementary": ("complementary", {}),
    "biased-complementary": ("biased_complementary", {}),
    "unrelated": ("unrelated", {}),
}
#: The kind a correct audit reports for each case.
EXPECTED = {"clean": "clean", "symmetric-20": "symmetric", "symmetric-50": "symmetric",
            "pairflip-30": "asymmetric", "pairflip-45": "asymmetric",
            "permutation": "clean/permutation undecidable", "permutation+ref": "permutation",
            "complementary": "complementary", "biased-complementary": "complementary",
            "unrelated": "unrelated"}


def reference_checkpoint(clean: LabeledImages, out: Path) -> Path:
    """A digit model trained on clean labels of a disjoint half: the trusted reference."""
    from noisylab.train import TrainConfig, train

    cfg = TrainConfig(arch="lenet", loss="ce", epochs=2, lr=4e-3, augment=False, data="reference")
    train(clean, cfg, out_dir=out, progress=False, log=lambda m: None)
    return out / "best"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", help="mnist (training split) or digits")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--n", type=int, default=20000, help="Images audited per case.")
    ap.add_argument("--cases", default="all", help="Comma-separated names, or all.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    full = load(args.data, root=args.root, split="train", progress=False)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(full))
    audited = full.subset(order[: min(args.n, len(full))])
    rest = full.subset(order[min(args.n, len(full)):])
    true = audited.labels.numpy()
    k = len(full.classes)
    cases = list(CASES) if args.cases == "all" else args.cases.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = None
        for name in cases:
            kind, opts = CASES[name]
            T = np.eye(k) if kind == "clean" else make_noise(kind, k, seed=args.seed + 1, **opts)
            given, _ = corrupt(true, T, seed=args.seed + 2)
            noisy = LabeledImages(audited.images, torch.from_numpy(given).long(), audited.classes,
                                  audited.ids, f"{args.data}+{name}")
            reference = None
            if name == "permutation+ref":
                if len(rest) < 1000:
                    print("  (permutation+ref skipped: no separate clean half for a reference)")
                    continue
                ref = ref or reference_checkpoint(rest, Path(tmp) / "reference")
                reference = ref
            started = time.perf_counter()
            r = audit(noisy, out_dir=Path(tmp) / name, reference=reference, seed=args.seed,
                      progress=False, log=lambda m: None)
            seconds = time.perf_counter() - started
            m = measure(r.transition, r.suggested, true, given, k)
            d = r.diagnosis
            got = d.kind if d.decided else f"{d.kind} (undecided: {'/'.join(d.candidates)})"
            ok = (d.kind == EXPECTED[name]) or (
                name == "permutation" and not d.decided and "permutation" in d.candidates)
            rows.append((name, EXPECTED[name], got, m["mae"], m["keep_rate_error"],
                         m["suggested_accuracy"], seconds, ok))
            print(f"  {name:<22} -> {got:<40} MAE {m['mae']:.4f}  {seconds:5.0f}s", flush=True)

    print(f"\naudit accuracy on {args.data} ({len(audited)} images a case, "
          f"cpu x{os.cpu_count()}):\n")
    print("| case | expected | diagnosed | MAE of T | keep-rate err | suggested acc | seconds | ok |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, exp, got, mae, kerr, sacc, sec, ok in rows:
        print(f"| {name} | {exp} | {got} | {mae:.4f} | {kerr:.4f} | {100 * sacc:.1f}% | "
              f"{sec:.0f} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
