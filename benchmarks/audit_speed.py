"""How long `noisylab audit` takes on mnistTask3 and its subsets, and how well it does there.

    python benchmarks/audit_speed.py [--sizes 5000,20000,60000] [--subsets 0] [--root DIR]

For each size and each subset seed, a seeded random subset of mnistTask3 (all 60,000 images at 60000) is audited in
this process, timed from loading to the last file written (the cache of decoded images warm);
the true MNIST labels then measure it (never an input). Prints seconds, the peak resident memory
of the process so far, the kind, the error of T and of the keep rate, and the share of suggested
labels that are right. Run it alone on the machine, under the CPU lock where one is used.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from noisylab.audit import audit, measure, read_trusted_labels
from noisylab.data import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,20000,60000")
    ap.add_argument("--subsets", default="0", help="seeds of the random subsets, e.g. 0,1,2")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    args = ap.parse_args()
    full = load("mnistTask3", root=args.root, progress=False)
    true = read_trusted_labels(Path(args.root) / "MNIST/raw/train-labels-idx1-ubyte.gz",
                               full.ids, full.classes)
    print("| images | subset | seconds | peak memory (GB) | kind | MAE of T | keep-rate error | "
          "suggested right |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    runs = [(int(n), int(s)) for n in args.sizes.split(",") for s in args.subsets.split(",")]
    for n, subset in runs:
        pick = np.sort(np.random.default_rng(subset).permutation(len(full))[:n])
        sub = full.subset(pick)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            r = audit(sub, out_dir=Path(tmp) / "audit", name=f"mnistTask3 ({n})", progress=False,
                      log=lambda m: None)
            seconds = time.perf_counter() - t0
        m = measure(r.transition, r.suggested, true[pick], sub.labels.numpy(), len(sub.classes))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"| {n} | {subset} | {seconds:.1f} | {peak:.2f} | {r.diagnosis.kind} | {m['mae']:.5f} | "
              f"{m['keep_rate_error']:.5f} | {100 * m['suggested_accuracy']:.2f}% |", flush=True)


if __name__ == "__main__":
    main()
