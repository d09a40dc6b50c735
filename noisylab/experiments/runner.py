"""Running an experiment: every cell trained (or resumed, or skipped), evaluated once, recorded.

`run_experiment` builds each cell's `noisylab.spec.RunSpec` and trains it with
`noisylab.pipeline.run` into ``OUT/<exp>/<cell>/``, keeps the run's one evaluation of the cell's
model on its test set (``eval.json``), writes ``cell.json`` when the cell is done, and writes
the report (`noisylab.report`). A finished cell is skipped; a cell interrupted part-way is
resumed; a cell folder run with other settings is refused before anything is written.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from noisylab import distributed
from noisylab.errors import NoisylabError
from noisylab.experiments.spec import _AUDIT_MATRIX_KEYS, Cell, Experiment
from noisylab.files import write_json
from noisylab.outputs import check_output, prepare_output


@dataclass
class CellOutcome:
    """What `run_cell` did: ``status`` is ``"skipped"`` (already done), ``"trained"``,
    ``"resumed"`` or ``"evaluated"`` (trained earlier, only its records were missing)."""

    cell: Cell
    folder: Path
    status: str
    info: dict


def cell_state(folder: Path, epochs: int) -> tuple[str, int]:
    """How far a cell's folder got: ``(state, epochs recorded)``.

    ``state`` is ``"done"`` (``cell.json`` written and every epoch recorded), ``"trained"``
    (every epoch recorded, records not written), ``"partial"`` (a ``last`` checkpoint to resume
    from) or ``"new"``.
    """
    from noisylab.runs import read_metrics

    n = len(read_metrics(folder)) if (folder / "metrics.jsonl").exists() else 0
    has_last = (folder / "last.json").exists()
    if n >= epochs and has_last:
        return ("done" if (folder / "cell.json").exists() else "trained"), n
    return ("partial" if has_last else "new"), n


def run_experiment(exp: Experiment, *, out: str | os.PathLike | None = None,
                   root: str | os.PathLike | None = None, report: bool = True,
                   progress: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run every step of an experiment (resuming where it stopped) and write its report.

    Parameters
    ----------
    exp : Experiment
        From `load_experiment`.
    out : path, optional
        Output folder; the experiment goes to ``out/<exp.name>`` (default `runs_root`).
    root : path, optional
        Data root.
    report : bool
        Write ``report.md`` at the end.
    progress : bool
        Progress bars while training.
    log : callable
        Where one-line messages go (one line per cell, plus the trainer's epoch lines).

    Returns
    -------
    Path
        The experiment folder.
    """
    folder = exp.folder(out)
    if distributed.is_writer():  # under torchrun rank 0 checks and writes for every rank
        _start_folder(exp, folder)
    started = time.perf_counter()
    steps = len(exp.cells) + (exp.pretrain is not None) + (exp.audit is not None)
    step, audit = 0, None
    if exp.pretrain is not None:
        step += 1
        run_cell(exp, exp.pretrain, folder, root=root, progress=progress, log=log,
                 prefix=f"[{step}/{steps}]")
    if exp.audit is not None:
        step += 1
        audit = run_audit(exp, folder, root=root, progress=progress, log=log,
                          prefix=f"[{step}/{steps}]")
    for cell in exp.cells:
        step += 1
        run_cell(exp, cell, folder, root=root, progress=progress, log=log,
                 prefix=f"[{step}/{steps}]", audit=audit)
    log(f"all {steps} steps of {exp.name} done ({time.perf_counter() - started:.0f} s this time)")
    if report and distributed.is_writer():
        from noisylab.report import write_report

        path = write_report(exp, folder, root=root, log=log)
        log(f"report: {path}")
    return folder


def read_cv_plan(folder: str | os.PathLike) -> dict:
    """The plan (``experiment.json``) of a `run_experiment` folder that cross-validates one
    setting, with ``cv_seed`` (the folds' seed; 0 when unset) added beside ``cv_folds``.

    Raises
    ------
    NoisylabError
        The folder has no ``experiment.json``, or its experiment is a grid or no
        cross-validation.
    """
    folder = Path(folder)
    path = folder / "experiment.json"
    if not path.is_file():
        raise NoisylabError(f"{folder}: no experiment.json; name folders that `noisylab run` "
                            "wrote")
    spec = json.loads(path.read_text())
    if spec["axes"] or not spec["cv_folds"]:
        raise NoisylabError(f"{folder}: a cross-validation of one setting is needed (cv_folds "
                            f"set, no grid axes); it has axes {sorted(spec['axes'])} and "
                            f"cv_folds {spec['cv_folds']}")
    return spec | {"cv_seed": spec["cells"][0]["settings"].get("cv_seed", 0)}


def _start_folder(exp: Experiment, folder: Path) -> None:
    """Create the experiment's folder and save its plan; a user's folder, and a re-run with
    changed settings, are refused before anything in it is written (the saved plan stays the
    one that was run)."""
    check_output(folder, "experiment", reuse=True)
    for cell in ([exp.pretrain] if exp.pretrain else []) + list(exp.cells):
        _check_plan(folder / cell.name, cell.settings)
    prepare_output(folder, "experiment", reuse=True)
    write_json(folder / "experiment.json", {
        "name": exp.name, "title": exp.title, "source": str(exp.source), "profile": exp.profile,
        "report": exp.report, "axes": exp.axes, "seeds": exp.seeds, "cv_folds": exp.cv_folds,
        "pretrain": exp.pretrain.settings if exp.pretrain else None, "audit": exp.audit,
        "cells": [{"name": c.name, "labels": c.labels, "settings": c.settings} for c in exp.cells]})
    try:
        (folder / "experiment.toml").write_text(Path(exp.source).read_text())
    except OSError:
        pass


def plan(exp: Experiment, *, out: str | os.PathLike | None = None) -> list[str]:
    """One line per step: its folder and whether it is done, partial or new (for ``--dry-run``)."""
    folder = exp.folder(out)
    lines = [f"{exp.name}: {len(exp.cells)} cells -> {folder}"]
    if exp.pretrain is not None:
        state, n = cell_state(folder / "pretrain", exp.pretrain.epochs)
        lines.append(f"  pretrain  {exp.pretrain.settings['data']}  {state} ({n} epochs recorded)")
    if exp.audit is not None:
        done = (folder / "audit" / "audit.json").exists()
        lines.append(f"  audit     {exp.audit['data']}  {'done' if done else 'new'}")
    for c in exp.cells:
        state, n = cell_state(folder / c.name, c.epochs)
        what = ", ".join(f"{k}={v}" for k, v in c.settings.items() if k != "seed")
        lines.append(f"  {c.name}  {state} ({n}/{c.epochs} epochs)  {what}")
    return lines


def run_audit(exp: Experiment, folder: Path, *, root=None, progress=False, log=print,
              prefix: str = ""):
    """The experiment's audit into ``folder/audit``: its `noisylab.audit.AuditResult`, or None
    when an earlier run's ``audit.json`` is there (reused, read where it is needed)."""
    out = folder / "audit"
    if (out / "audit.json").exists():
        log(f"{prefix} audit: done earlier ({out / 'audit.json'}), reused")
        return None
    from noisylab.audit import audit
    from noisylab.data import resolve_root

    opts = dict(exp.audit)
    data = opts.pop("data")
    if opts.get("reference") == "pretrained":
        opts["reference"] = str(folder / "pretrain")
    trusted = opts.get("trusted")
    if trusted and not Path(trusted).is_absolute():
        opts["trusted"] = str(resolve_root(root)[0] / trusted)
    if trusted and not Path(opts["trusted"]).exists():
        # The true labels only measure the audit afterwards; without them it still runs.
        log(f"{prefix} audit: no trusted labels at {opts['trusted']}; the audit runs without "
            "measuring itself against them")
        del opts["trusted"]
    log(f"{prefix} audit of {data} -> {out}")
    t0 = time.perf_counter()
    result = audit(data, root=root, out_dir=out, progress=progress, log=log, **opts)
    distributed.barrier()  # under torchrun the cells read what rank 0 wrote
    log(f"{prefix} audit done in {time.perf_counter() - t0:.0f} s")
    return result


def run_cell(exp: Experiment, cell: Cell, folder: Path, *, root=None, progress=False, log=print,
             prefix: str = "", audit=None) -> CellOutcome:
    """Train (or resume, or skip) one cell into ``folder/<cell.name>``; evaluate it; record it.

    ``audit``: the experiment's `noisylab.audit.AuditResult` when `run_audit` made it now, for
    a cell with ``loss = "auto"`` (else the one saved in ``folder/audit`` is read).

    Writes ``plan.json`` (the settings, to refuse a folder run with other settings),
    the run's own files, ``eval.json`` (the ``best`` checkpoint on the cell's test set, with
    ``eval/confusion.png`` and ``eval/reliability.png``), ``eval-test.json`` for a
    cross-validation cell whose source has a test split, and last ``cell.json``.
    """
    from noisylab.addons import parse_names
    from noisylab.pipeline import run
    from noisylab.spec import resolve_spec
    from noisylab.train import check_resumable

    d = folder / cell.name
    settings = cell.settings
    plan_path = d / "plan.json"
    _check_plan(d, settings)
    state, done_epochs = cell_state(d, cell.epochs)
    if state == "done":
        info = json.loads((d / "cell.json").read_text())
        log(f"{prefix} {cell.name}: done earlier ({info.get('wall_seconds', 0):.0f} s), skipped")
        return CellOutcome(cell, d, "skipped", info)
    if distributed.is_writer():
        if state == "new" and (d / "metrics.jsonl").exists():
            # A crash before the first checkpoint: nothing to resume, start again.
            (d / "metrics.jsonl").unlink()
        prepare_output(d, "run", reuse=True)  # a run folder, marked before plan.json goes in
        write_json(plan_path, settings)

    started = time.perf_counter()
    evaluation = None
    if state in ("new", "partial"):
        how = f"resuming after epoch {done_epochs}" if state == "partial" else "training"
        log(f"{prefix} {cell.name}: {how} ({_describe(settings)})")
        s = dict(settings)
        data = s.pop("data")
        init = s.pop("init", "scratch")
        if init == "pretrained":
            if exp.pretrain is None:
                raise NoisylabError(f"{exp.source}: cell {cell.name} has init = \"pretrained\" "
                                    "but the file has no [pretrain] table")
            init = str(folder / "pretrain")
        loss = s.pop("loss", "ce")
        preprocess = s.pop("preprocess", None)
        addons = s.pop("addons", None)
        test = s.pop("test", True)
        test_data = s.pop("test_data", None)
        test_split = s.pop("test_split", "test")
        for key in ("cv_folds", "cv_seed", "fold"):
            s.pop(key, None)
        for key in _AUDIT_MATRIX_KEYS:
            if s.get(key) == "audit":
                s[key] = str(folder / "audit" / "transition.json")
        if state == "partial":
            check_resumable(d)  # before loading and auditing, which can take minutes
        spec = resolve_spec(
            data, root=root, init=init, loss=loss, test=test,
            test_data=(test_data, test_split) if test_data else None, fold=cell.fold,
            fold_seed=cell.cv_seed, audit=audit, audit_folder=folder / "audit",
            progress=progress, log=log, addons=None if addons is None else parse_names(addons),
            load_options={"preprocess": preprocess} if preprocess else None, **s)
        evaluation = run(spec, out=d, resume=state == "partial", root=root, progress=progress,
                         log=log, eval_dir=d / "eval").evaluation
    status = {"new": "trained", "partial": "resumed"}.get(state, "evaluated")
    if not distributed.is_writer():  # rank 0 evaluates and records; the others wait for it
        distributed.barrier()
        return CellOutcome(cell, d, status, {})
    info = _finish_cell(cell, d, settings, root=root, state=state, done_epochs=done_epochs,
                        started=started, progress=progress, evaluation=evaluation)
    distributed.barrier()  # the next cell may start from this one's checkpoint
    result, adjusted = info.get("test_acc"), info.get("test_acc_adjusted") or {}
    log(f"{prefix} {cell.name}: done in {info['wall_seconds']:.0f} s, best epoch "
        f"{info['best_epoch']}" + (f", test acc {100 * result:.2f}%" if result is not None else "")
        + "".join(f" (+ {name}: {100 * acc:.2f}%)" for name, acc in adjusted.items()))
    return CellOutcome(cell, d, status, info)


def _check_plan(d: Path, settings: dict) -> None:
    """Refuse the cell folder ``d`` when its ``plan.json`` holds other settings than
    ``settings``; one line names the differences."""
    plan_path = d / "plan.json"
    if not plan_path.exists():
        return
    before = json.loads(plan_path.read_text())
    if before != settings:
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        raise NoisylabError(f"{d} was run with other settings ({diffs}); delete it or pass "
                            "another --out")


def _finish_cell(cell: Cell, d: Path, settings: dict, *, root, state: str, done_epochs: int,
                 started: float, progress: bool, evaluation: dict | None = None) -> dict:
    """Write the cell's ``eval.json`` and ``cell.json``: ``evaluation``, the run's own
    evaluation of its model (its ``best`` checkpoint, or those its ``model.json`` names) when
    it made one, else one made now. ``eval.json`` scores each image alone, and with each
    prediction adjuster the run saved (its ``adjusted``, `noisylab.evaluate.evaluate`)."""
    from noisylab.addons import saved_adjusters
    from noisylab.evaluate import evaluate
    from noisylab.pipeline import evaluation_set
    from noisylab.runs import read_metrics

    meta = json.loads((d / "best.json").read_text())
    config = meta.get("config", {})
    load_options = {"preprocess": settings["preprocess"]} if settings.get("preprocess") else None
    data = settings["data"]
    test_data = settings.get("test_data")
    adjusters = [a for a, _ in saved_adjusters([d])]
    if evaluation is None:  # a cell trained earlier: its run's evaluation is not at hand
        evaluation = {}
        test_set, what = evaluation_set(
            data, root=root, test=settings.get("test", True),
            test_data=(test_data, settings.get("test_split", "test")) if test_data else None,
            fold=cell.fold, fold_seed=cell.cv_seed, load_options=load_options,
            progress=progress)
        if test_set is not None:
            evaluation = {**evaluate(d, test_set, out_dir=d / "eval", adjusters=adjusters),
                          "set": what}
    if evaluation:
        evaluation = {**evaluation, "epoch": meta["epoch"]}
        write_json(d / "eval.json", evaluation)
    if cell.fold is not None:
        extra, what_test = evaluation_set(data, root=root, test=settings.get("test", True),
                                          load_options=load_options, progress=progress)
        if extra is not None:
            ev = evaluate(d, extra, out_dir=d / "eval-test", adjusters=adjusters)
            ev.update(set=what_test, epoch=meta["epoch"])
            write_json(d / "eval-test.json", ev)
    history = read_metrics(d)
    info = {
        "name": cell.name,
        "labels": cell.labels,
        "settings": settings,
        "seed": cell.seed,
        "fold": list(cell.fold) if cell.fold else None,
        "data": data,
        "loss": config.get("loss"),
        "init": config.get("init"),
        "arch": config.get("arch"),
        "config": config,
        "epochs": len(history),
        "best_epoch": int(meta["epoch"]),
        "test_set": evaluation.get("set"),
        "test_acc": evaluation.get("acc"),
        "test_acc_adjusted": {name: a["acc"] for name, a in evaluation.get("adjusted", {}).items()},
        "device": device_description(config.get("device", "auto")),
        "wall_seconds": time.perf_counter() - started,
        "train_seconds": float(sum(r.get("seconds", 0.0) for r in history)),
        "resumed_after_epoch": done_epochs if state == "partial" else None,
        "trained_earlier": state == "trained",
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    from noisylab import __version__

    info["noisylab_version"] = __version__
    write_json(d / "cell.json", info)
    return info


def device_description(setting: str = "auto") -> str:
    """``"cuda: <GPU name>"`` or ``"cpu: <model>, <n> threads"``: where a run trained."""
    import torch

    if setting != "cpu" and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model}, {torch.get_num_threads()} threads"


def _describe(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items() if k not in ("seed",))

