"""How many verified labels decide the readings an audit leaves open.

Audits labels whose truth is known, then plays the person who fills in ``verify.csv``: it answers
the images `noisylab.noise.choose_to_verify` puts first, in that order, with their true classes
(the benchmark reads the truth to *measure* the audit; the audit itself never reads it), and
re-weighs the open readings after each answer (`NoiseEstimator.apply_verified`, the same step as
``noisylab audit ... --verified verify.csv``). Cases:

- ``mnistTask3``: its corrupted folders as they are (truth: MNIST's training labels);
- ``biased-complementary``: MNIST training images, each given a class it is not, the wrong
  classes drawn unevenly per class (`noisylab.noise.make_noise`), no reference.

    python benchmarks/audit_verify.py --cases mnistTask3,biased-complementary --root ../shared/data
    python benchmarks/audit_verify.py --cases biased-complementary --size 2000 --seeds 2

Prints, per case and seed: what the audit says before any verified label and the number of
labels it expects to need (``labels_needed``), then after how many answers the audit is first
decided and right, and from how many on it stays so up to ``--max``, with the true kind's
probability along the way.
``--mistakes`` makes that share of the person's answers a wrong class drawn at random.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from noisylab.audit import audit, read_trusted_labels
from noisylab.data import load
from noisylab.data.base import LabeledImages
from noisylab.noise import choose_to_verify, corrupt, make_noise

#: The kind a right audit names, per case.
TRUTH = {"mnistTask3": "complementary", "biased-complementary": "biased-complementary"}

#: Numbers of answers after which the readings' probabilities are printed.
SHOWN = (1, 2, 3, 5, 10, 20, 50, 100)


def case_data(name: str, root: str, size: int, seed: int) -> tuple[LabeledImages, np.ndarray]:
    """``(images with the given labels, their true classes (N,))`` of a case."""
    if name == "mnistTask3":
        data = load("mnistTask3", root=root, progress=False)
        true = read_trusted_labels(Path(root) / "MNIST/raw/train-labels-idx1-ubyte.gz",
                                   data.ids, data.classes)
    else:
        data = load("mnist", root=root, split="train", progress=False)
        true = data.labels.numpy()
    if size < len(data):
        pick = np.random.default_rng(seed).permutation(len(data))[:size]
        data, true = data.subset(pick), true[pick]
    if name == "biased-complementary":
        T = make_noise("biased_complementary", len(data.classes), seed=seed + 1)
        given, _ = corrupt(true, T, seed=seed + 2)
        data = LabeledImages(data.images, torch.from_numpy(given).long(), data.classes, data.ids,
                             f"{data.source}+{name}")
    return data, true


def person(true: np.ndarray, k: int, mistakes: float, seed: int) -> np.ndarray:
    """The person's answers ``(N,)``: the true class, or with chance ``mistakes`` another one."""
    rng = np.random.default_rng(seed + 100)
    wrong = rng.random(len(true)) < mistakes
    other = (true + rng.integers(1, k, len(true))) % k
    return np.where(wrong, other, true)


def answers_to_decide(result, answers: np.ndarray, truth: str, most: int) -> dict:
    """Re-weigh the readings after each of the first ``most`` answers; when was it decided?"""
    d = result.diagnosis
    right_now = d.decided and d.kind == truth
    row = {"before": "/".join(d.candidates), "p_before": d.confidence,
           "expected": d.labels_needed, "first": 0 if right_now else None,
           "stays_from": 0 if right_now else None, "trace": {}}
    if d.decided:
        return row
    pick = choose_to_verify(result.posteriors, most)
    for m in range(1, len(pick) + 1):
        est = copy.deepcopy(result.estimator)
        est.bootstrap = 0  # the intervals are not measured here, only the decision
        after = est.apply_verified(pick[:m], answers[pick[:m]]).diagnosis_
        if m in SHOWN:
            row["trace"][m] = after.kind_probabilities.get(truth, 0.0)
        right = after.decided and after.kind == truth
        row["first"] = row["first"] or (m if right else None)
        row["stays_from"] = (row["stays_from"] or m) if right else None
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="mnistTask3,biased-complementary")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--size", type=int, default=0,
                    help="Images per case (0: mnistTask3's 60,000, 12,000 for the others).")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--max", type=int, default=100, help="Most answers given.")
    ap.add_argument("--mistakes", type=float, default=0.0,
                    help="Share of the person's answers that are wrong.")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            size = args.size or (60_000 if name == "mnistTask3" else 12_000)
            for seed in range(args.seeds):
                data, true = case_data(name, args.root, size, seed)
                started = time.perf_counter()
                result = audit(data, out_dir=Path(tmp) / f"{name}-{seed}", seed=seed,
                               progress=False, log=lambda m: None)
                seconds = time.perf_counter() - started
                answers = person(true, len(data.classes), args.mistakes, seed)
                rows.append({"case": name, "n": len(data), "seed": seed, "seconds": seconds,
                             **answers_to_decide(result, answers, TRUTH[name], args.max)})
                print(f"  {name} n={len(data)} seed {seed}: {rows[-1]}", flush=True)
    print_report(rows, args)


def print_report(rows: list[dict], args) -> None:
    """One table row per audit."""
    print(f"\nverified labels to decide (person's mistakes {args.mistakes:.0%}, "
          f"at most {args.max} answers; cpu x{os.cpu_count()}):\n")
    shown = [m for m in SHOWN if m <= args.max]
    print("| case | images | seed | before (candidates) | probability | expected | first decided "
          "and right | right from then on | "
          + " | ".join(f"p(true kind) after {m}" for m in shown) + " | seconds |")
    print("| --- " * (9 + len(shown)) + "|")
    for r in rows:
        first, stays = ("never" if r[k] is None else str(r[k]) for k in ("first", "stays_from"))
        trace = " | ".join(f"{r['trace'][m]:.3f}" if m in r["trace"] else "-" for m in shown)
        print(f"| {r['case']} | {r['n']} | {r['seed']} | {r['before']} | {r['p_before']:.2f} | "
              f"{r['expected'] if r['expected'] is not None else '-'} | {first} | {stays} | "
              f"{trace} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
