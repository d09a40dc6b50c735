"""Experiment reports: ``OUT/<exp>/report.md`` and its figures, built from the cells' files.

`write_report` picks the builder named by the experiment's ``report.kind``:

- ``plain`` and ``task2``: conditions over seeds (`noisylab.report.comparison`);
- ``task3``: the audit's findings, why naive ``ce`` fails, then the comparison
  (`noisylab.report.task3`);
- ``task1``: cross-validation, per-class F1, confused pairs, design choices
  (`noisylab.report.task1`).

Every number in a report is read from the runs' own files (``cell.json``, ``metrics.jsonl``,
``eval.json``, ``eval-test.json``, ``audit/audit.json``); nothing is carried over in memory from
training, so a report can be rebuilt at any time from the folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_report(exp, folder: str | os.PathLike, *, root: str | os.PathLike | None = None,
                 log: Callable[[str], None] = print) -> Path:
    """Write ``folder/report.md`` (and ``folder/figures/``) for an experiment; return its path.

    Parameters
    ----------
    exp : noisylab.experiments.Experiment
    folder : path
        The experiment folder (``OUT/<exp.name>``).
    root : path, optional
        Data root (task 1 draws the preprocessing before/after figure from the raw photos).
    """
    from noisylab.report import common, comparison, task1, task3

    folder = Path(folder)
    builders = {"plain": comparison.build, "task2": comparison.build, "task3": task3.build,
                "task1": task1.build}
    conditions, missing = common.collect(exp, folder)
    lines = builders[exp.report["kind"]](exp, folder, conditions, missing, root=root, log=log)
    path = folder / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path
