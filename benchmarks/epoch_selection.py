"""Which epoch would each validation criterion have kept? Re-scores finished runs' checkpoints.

For every run folder given, rebuilds the run's validation split (its data, ``seed`` and
``val_fraction``, as `noisylab.train.train` carved it), scores every ``epoch-NNN`` checkpoint on
the split's *given* labels with

- the loss's own criterion (for complementary losses, ``-log(1 - p[given])``), and
- the forward NLL ``-log (softmax @ T)[given]`` under a measured ``T`` (``--transition``, default
  the run's own ``val_transition``),

and prints the test accuracy (from the run's ``metrics.jsonl``; read only to report) of the
epoch each criterion keeps, by two rules: its best value (``best``), and the latest epoch
within one standard error of the best so far (``1se``, what `noisylab.train` does), beside the
last epoch's. No criterion reads a clean label.

    python benchmarks/epoch_selection.py runs/task3-full/*scl* --root ../shared/data \\
        --transition runs/task3-full/audit/transition.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def rescore(run: Path, transition, *, root, cache: dict) -> dict:
    """Per-epoch criteria of one run: ``{"epochs", "own", "forward", "test_acc", "criterion"}``."""
    from noisylab.checkpoints import list_checkpoints
    from noisylab.data import load
    from noisylab.losses import make_loss
    from noisylab.models import load_model
    from noisylab.runs import read_metrics
    from noisylab.train import predict_logits, stratified_split

    config = json.loads((run / "last.json").read_text())["config"]
    if config["data"] not in cache:
        cache[config["data"]] = load(config["data"], root=root, progress=False)
    data = cache[config["data"]]
    _, val = stratified_split(data.labels.numpy(), config["val_fraction"], config["seed"])
    x, y = data.images[val], data.labels[val]
    k = len(data.classes)
    own = make_loss(config["loss"], num_classes=k, transition=config.get("transition"))
    forward = make_loss("forward", num_classes=k, transition=transition)
    test_acc = {m["epoch"]: m.get("test_acc") for m in read_metrics(run)}
    epochs = sorted(list_checkpoints(run).epochs)
    own_scores, forward_scores = [], []
    for epoch in epochs:
        model, _ = load_model(run / f"epoch-{epoch:03d}")
        logits = predict_logits(model, x)
        own_scores.append(own.validation_score(logits, y))
        forward_scores.append(forward.validation_score(logits, y))
    return {"epochs": epochs, "own": own_scores, "forward": forward_scores,
            "criterion": own.criterion, "test_acc": [test_acc.get(e) for e in epochs]}


def kept_index(scores, rule: str) -> int:
    """Index of the epoch a rule keeps: ``"best"`` (the best value, first on ties) or ``"1se"``
    (the latest within one standard error of the best so far, as the training loop keeps)."""
    best, best_i, kept_i = None, 0, 0
    for i, score in enumerate(scores):
        if score.improves_on(best):
            best, best_i = score, i
        if score.within_one_se_of(best):
            kept_i = i
    return best_i if rule == "best" else kept_i


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Run folders (with epoch-NNN checkpoints).")
    parser.add_argument("--root", default=None, help="Data root (e.g. ../shared/data).")
    parser.add_argument("--transition", default=None,
                        help="transition.json for the forward NLL (default: each run's "
                             "val_transition).")
    args = parser.parse_args(argv)

    from noisylab.errors import NoisylabError

    started, cache, rows = time.perf_counter(), {}, []
    try:
        for run in args.runs:
            if not (run / "last.json").exists():
                raise NoisylabError(f"{run} is not a finished run folder (no last.json); "
                                    "pass folders that noisylab train wrote")
            plan = run / "plan.json"
            if plan.exists() and json.loads(plan.read_text()).get("fold") is not None:
                raise NoisylabError(f"{run} is a cross-validation cell; its validation split "
                                    "comes from its training folds, which this script does not "
                                    "rebuild")
            config = json.loads((run / "last.json").read_text())["config"]
            transition = args.transition or config.get("val_transition")
            if transition is None:
                raise NoisylabError(f"{run} has no val_transition; pass --transition "
                                    "(an audit's transition.json)")
            rows.append((run, rescore(run, transition, root=args.root, cache=cache)))
    except NoisylabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    columns = [("own", "best"), ("own", "1se"), ("forward", "best"), ("forward", "1se")]
    print(f"{'run':<34} " + " ".join(f"{c + ' ' + rule:>15}" for c, rule in columns)
          + f" {'last':>15}")
    picked = {c: [] for c in [*columns, "last"]}
    for run, r in rows:
        cells = []
        for key, rule in columns:
            i = kept_index(r[key], rule)
            picked[key, rule].append(r["test_acc"][i])
            cells.append(f"ep {r['epochs'][i]:>2} {_pct(r['test_acc'][i]):>9}")
        picked["last"].append(r["test_acc"][-1])
        cells.append(f"ep {r['epochs'][-1]:>2} {_pct(r['test_acc'][-1]):>9}")
        print(f"{run.name[-34:]:<34} " + " ".join(f"{c:>15}" for c in cells))
    print(f"{'mean test accuracy':<34} " + " ".join(
        f"{_pct(_mean(picked[c])):>15}" for c in [*columns, "last"]))
    print(f"own criterion: {rows[0][1]['criterion']}; {time.perf_counter() - started:.0f} s")
    return 0


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


if __name__ == "__main__":
    sys.exit(main())
