"""``noisylab compare``: finished runs side by side, read from their folders.

A run folder holds ``metrics.jsonl`` and checkpoints (`noisylab.train`); an experiment folder
(`noisylab.experiments`) holds one run folder per cell. `find_runs` accepts either; `summarize`
reads one run; `format_table` lines them up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from noisylab.errors import NoisylabError
from noisylab.runs import MODEL_FILE, read_metrics

#: Columns of the table: (key, header).
COLUMNS = (("run", "run"), ("data", "data"), ("init", "init"), ("loss", "loss"),
           ("epochs", "epochs"), ("best_epoch", "best"), ("acc", "test acc@best"),
           ("nll", "NLL@best"), ("ece", "ECE@best"), ("last_acc", "test acc@last"),
           ("seconds", "seconds"))


def find_runs(paths) -> list[Path]:
    """Run folders named by ``paths``: a run folder itself, or every run folder in an
    experiment folder (in the experiment's cell order when it has ``experiment.json``).

    Raises
    ------
    NoisylabError
        A path does not exist or holds no run.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise NoisylabError(f"{p} does not exist")
        if _is_run(p):
            out.append(p)
            continue
        inner = [d for d in sorted(p.iterdir()) if d.is_dir() and _is_run(d)] if p.is_dir() else []
        spec = p / "experiment.json"
        if spec.exists():
            order = ["pretrain"] + [c["name"] for c in json.loads(spec.read_text())["cells"]]
            rank = {name: i for i, name in enumerate(order)}
            inner.sort(key=lambda d: (rank.get(d.name, len(rank)), d.name))
        if not inner:
            raise NoisylabError(f"{p} is neither a run folder (no metrics.jsonl) nor a folder of "
                                "runs; pass a run folder or an experiment folder")
        out += inner
    return out


def _is_run(p: Path) -> bool:
    return (p / "metrics.jsonl").is_file() and (p / "last.json").is_file()


def summarize(run_dir: str | os.PathLike) -> dict:
    """One run's row: data, init, loss, epochs done/planned, best epoch, chosen-epoch test
    accuracy / NLL / ECE (``eval.json`` when the run has one, else the test figures of its
    ``model.json`` when its model is several checkpoints, else the metrics record of the best
    epoch), last-epoch test accuracy and seconds (``cell.json``'s wall time, else the summed
    epoch times). Missing figures are None."""
    d = Path(run_dir)
    history = read_metrics(d)
    last = json.loads((d / "last.json").read_text())
    config = last.get("config", {})
    best_epoch = (json.loads((d / "best.json").read_text())["epoch"]
                  if (d / "best.json").exists() else None)
    record = next((r for r in history if r["epoch"] == best_epoch), {})
    ev = json.loads((d / "eval.json").read_text()) if (d / "eval.json").exists() else None
    if ev is None and (d / MODEL_FILE).exists():  # a pair's figures (TrainConfig.distill_ensemble)
        ev = json.loads((d / MODEL_FILE).read_text()).get("test")
    cell = json.loads((d / "cell.json").read_text()) if (d / "cell.json").exists() else None
    chosen = ({"acc": ev["acc"], "nll": ev["nll"], "ece": ev["ece"]} if ev else
              {k: record.get(f"test_{k}") for k in ("acc", "nll", "ece")})
    return {"run": str(d), "data": config.get("data"), "init": _init_name(config.get("init")),
            "loss": config.get("loss"), "epochs": f"{len(history)}/{config.get('epochs', '?')}",
            "best_epoch": best_epoch, **chosen,
            "last_acc": history[-1].get("test_acc") if history else None,
            "seconds": cell["wall_seconds"] if cell else sum(r.get("seconds", 0.0) for r in history)}


def _init_name(init: str | None) -> str | None:
    """``"scratch"``, or the name of the run folder the initial weights came from."""
    if init in (None, "scratch"):
        return init
    p = Path(init)
    return p.parent.name if p.suffix == ".json" else p.name


def format_table(rows: list[dict]) -> str:
    """Rows of `summarize` as an aligned text table (percentages for accuracies)."""
    def cell(key, v):
        if v is None:
            return "-"
        if key in ("acc", "last_acc"):
            return f"{100 * v:.2f}%"
        if key in ("nll", "ece"):
            return f"{round(v, 4) + 0.0:.4f}"
        if key == "seconds":
            return f"{v:.0f}"
        text = str(v)
        return text if len(text) <= 40 else "..." + text[-37:]

    body = [[cell(k, r.get(k)) for k, _ in COLUMNS] for r in rows]
    head = [h for _, h in COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    numeric = {"epochs", "best_epoch", "acc", "nll", "ece", "last_acc", "seconds"}
    def line(vals):
        return "  ".join(v.rjust(w) if k in numeric else v.ljust(w)
                         for (k, _), v, w in zip(COLUMNS, vals, widths, strict=True)).rstrip()
    return "\n".join([line(head), *(line(b) for b in body)])


def compare(paths) -> str:
    """The table of every run named by ``paths`` (see `find_runs`)."""
    return format_table([summarize(d) for d in find_runs(paths)])
