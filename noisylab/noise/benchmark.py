"""Simulation benchmark of the noise estimators: ``python -m noisylab.noise.benchmark``.

For each kind of noise it draws true labels, corrupts them, simulates the out-of-sample
predictions of an imperfect model trained on the corrupted labels
(:func:`noisylab.noise.simulate_pred_probs`: right on ``--accuracy`` of the images, with
Dirichlet jitter), and compares what :func:`noisylab.noise.diagnose` finds with the truth
(:func:`noisylab.noise.transition_from_labels` on the simulated labels). It prints a markdown
table; figures are the worst over ``--seeds`` seeds. Not run by the test suite.

Columns: ``MAE`` is the mean absolute error of the estimated ``T`` against the empirical one,
``keep err`` the largest error on its diagonal (both of the reading that names the classes
rightly, where the labels leave two open), ``suggested`` the fraction of suggested labels
equal to the true class, ``count`` the same MAE / keep error of the first-pass count without
the EM refinement, and ``cleanlab`` those of cleanlab's ``estimate_joint`` on the same
predictions.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from noisylab.metrics import binned_reliability, calibration_error
from noisylab.noise.diagnosis import diagnose_estimate, reading_posterior
from noisylab.noise.synthetic import (
    clean,
    complementary,
    corrupt,
    pair_flip,
    permutation,
    simulate_pred_probs,
    symmetric,
    unrelated,
)
from noisylab.noise.transition import estimate_transition, transition_from_labels

#: Training-set class sizes of MNIST, for the mnistTask3-like case.
MNIST_COUNTS = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])


def _cases(K: int) -> list[tuple[str, np.ndarray | None, bool, str]]:
    """(name, T or None for the mnistTask3-like case, reference?, expected kind)."""
    return [
        ("clean", clean(K), False, "clean"),
        ("symmetric 20%", symmetric(K, 0.2), False, "symmetric"),
        ("symmetric 50%", symmetric(K, 0.5), False, "symmetric"),
        ("pair-flip 30%", pair_flip(K, 0.3), False, "pair-flip"),
        ("pair-flip 45%", pair_flip(K, 0.45), False, "pair-flip"),
        ("permutation, no reference", permutation(K, seed=1), False, "clean"),
        ("permutation, 70% reference", permutation(K, seed=1), True, "permutation"),
        ("uniform complementary", complementary(K), False, "complementary"),
        ("biased complementary", complementary(K, seed=3), False, "biased-complementary"),
        ("unrelated", unrelated(K), False, "unrelated"),
        ("mnistTask3-like (N=60000)", None, False, "complementary"),
    ]


def _mnist_task3_like(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """60,000 MNIST-sized classes, uniform complementary labels except 6 kept per class."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(10), MNIST_COUNTS))
    g, _ = corrupt(y, complementary(10), seed=seed + 1)
    for c in range(10):
        keep = rng.choice(np.flatnonzero(y == c), 6, replace=False)
        g[keep] = c
    return y, g


def run(
    *,
    n: int = 20000,
    seeds: int = 3,
    accuracy: float = 0.97,
    concentration: float | None = 300.0,
    overconfidence: float = 1.0,
    with_cleanlab: bool = True,
    only: list[str] | None = None,
) -> list[dict]:
    """Run the cases (those named in ``only``, default all); one dict per case, worst of seeds."""
    K = 10
    rows = []
    for name, T, has_ref, expected in _cases(K):
        if only is not None and name not in only:
            continue
        kinds: Counter = Counter()
        undecided = 0
        worst = dict(mae=0.0, keep=0.0, acc=1.0, mae0=0.0, keep0=0.0, mae_cl=0.0, keep_cl=0.0)
        seconds = 0.0
        for s in range(seeds):
            if T is None:
                y, g = _mnist_task3_like(100 + s)
                T_sim = complementary(K)
            else:
                y = np.random.default_rng(100 + s).integers(0, K, n)
                g, _ = corrupt(y, T, seed=200 + s)
                T_sim = T
            truth = transition_from_labels(y, g, K)
            Q, _ = simulate_pred_probs(
                y,
                T_sim,
                accuracy=accuracy,
                concentration=concentration,
                overconfidence=overconfidence,
                seed=300 + s,
            )
            ref = None
            if has_ref:
                _, ref = simulate_pred_probs(y, np.eye(K), accuracy=0.7, seed=400 + s)
            t0 = time.perf_counter()
            est = estimate_transition(Q, g, reference_probs=ref)
            d = diagnose_estimate(est)
            seconds = max(seconds, time.perf_counter() - t0)
            kinds[d.kind] += 1
            undecided += not d.decided
            # the reading that names the classes rightly, when the labels leave more than one
            right = next((r for r in d.readings if r.kind == expected), d.readings[0])
            M = right.transition_matrix
            worst["mae"] = max(worst["mae"], float(np.abs(M - truth).mean()))
            worst["keep"] = max(worst["keep"], float(np.abs(np.diag(M) - np.diag(truth)).max()))
            suggested = reading_posterior(est, d, d.readings.index(right)).argmax(1)
            worst["acc"] = min(worst["acc"], float((suggested == y).mean()))
            T0 = estimate_transition(Q, g, reference_probs=ref, refine=False).matrix
            worst["mae0"] = max(worst["mae0"], float(np.abs(T0 - truth).mean()))
            worst["keep0"] = max(worst["keep0"], float(np.abs(np.diag(T0) - np.diag(truth)).max()))
            if with_cleanlab:
                from noisylab.noise.cleanlab_view import cleanlab_report

                Tc = cleanlab_report(Q, g, health_summary=False, find_issues=False)
                Tc = Tc["transition_matrix"]
                worst["mae_cl"] = max(worst["mae_cl"], float(np.abs(Tc - truth).mean()))
                worst["keep_cl"] = max(
                    worst["keep_cl"], float(np.abs(np.diag(Tc) - np.diag(truth)).max())
                )
        rows.append(
            dict(
                case=name,
                expected=expected,
                kinds=dict(kinds),
                undecided=undecided,
                seconds=seconds,
                **worst,
            )
        )
    return rows


def kind_calibration(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> tuple:
    """Reliability of the audit's probability of the kind.

    Parameters
    ----------
    confidence : ndarray ``(M,)``
        Each audit's probability that the truth is among its candidates.
    right : ndarray of bool ``(M,)``
        Whether it was.

    Returns
    -------
    confidence, share_right, count : ndarray ``(bins,)`` each
        Per equal-width bin (NaN where empty).
    ece : float
        Expected calibration error: the count-weighted mean gap between the two.
    """
    conf, acc, count = binned_reliability(confidence, right, bins=bins)
    ece = calibration_error(conf, acc, count) if count.sum() else 0.0
    return conf, acc, count, ece


def format_table(rows: list[dict], *, seeds: int, with_cleanlab: bool) -> str:
    """The rows of :func:`run` as a markdown table."""
    head = "| case | expected | diagnosed (of seeds) | undecided | MAE | keep err | suggested | count MAE / keep err |"
    sep = "|---|---|---|---|---|---|---|---|"
    if with_cleanlab:
        head += " cleanlab MAE / keep err |"
        sep += "---|"
    head += " s/fit |"
    sep += "---|"
    lines = [head, sep]
    for r in rows:
        kinds = ", ".join(f"{k} {v}/{seeds}" for k, v in r["kinds"].items())
        line = (
            f"| {r['case']} | {r['expected']} | {kinds} | {r['undecided']} | {r['mae']:.4f} | "
            f"{r['keep']:.4f} | {r['acc']:.4f} | {r['mae0']:.4f} / {r['keep0']:.4f} |"
        )
        if with_cleanlab:
            line += f" {r['mae_cl']:.4f} / {r['keep_cl']:.4f} |"
        line += f" {r['seconds']:.1f} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m noisylab.noise.benchmark", description=__doc__.split("\n")[0]
    )
    p.add_argument("--n", type=int, default=20000, help="samples per case (default 20000)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per case; figures are the worst")
    p.add_argument("--accuracy", type=float, default=0.97, help="simulated model accuracy")
    p.add_argument("--concentration", type=float, default=300.0, help="Dirichlet jitter (0: none)")
    p.add_argument("--overconfidence", type=float, default=1.0, help="logit scale, 1 = calibrated")
    p.add_argument("--no-cleanlab", action="store_true", help="skip cleanlab's figures")
    a = p.parse_args(argv)
    conc = None if a.concentration == 0 else a.concentration
    rows = run(
        n=a.n,
        seeds=a.seeds,
        accuracy=a.accuracy,
        concentration=conc,
        overconfidence=a.overconfidence,
        with_cleanlab=not a.no_cleanlab,
    )
    print(
        f"N={a.n} (mnistTask3-like: 60000), K=10, model accuracy {a.accuracy}, "
        f"Dirichlet concentration {conc}, overconfidence {a.overconfidence}, "
        f"worst of {a.seeds} seeds\n"
    )
    print(format_table(rows, seeds=a.seeds, with_cleanlab=not a.no_cleanlab))


if __name__ == "__main__":
    main()
