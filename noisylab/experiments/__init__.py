"""Experiments: a TOML file expanded into a grid of training cells, run with resume, reported.

`noisylab.experiments.spec` reads, checks and expands an experiment file (its schema is in
``docs/experiments.md``); `noisylab.experiments.runner` runs its cells and writes the report.
The names below are both modules' public ones, importable from here.
"""

from noisylab.experiments.runner import (
    CellOutcome,
    cell_state,
    device_description,
    plan,
    read_cv_plan,
    run_audit,
    run_cell,
    run_experiment,
)
from noisylab.experiments.spec import (
    AUDIT_KEYS,
    GRID_KEYS,
    REPORT_KEYS,
    REPORT_KINDS,
    RUN_KEYS,
    TOP_KEYS,
    Cell,
    Experiment,
    check_cell,
    expand,
    load_experiment,
    setting_keys,
)

__all__ = ["AUDIT_KEYS", "GRID_KEYS", "REPORT_KEYS", "REPORT_KINDS", "RUN_KEYS", "TOP_KEYS",
           "Cell", "CellOutcome", "Experiment", "cell_state", "check_cell", "device_description",
           "expand", "load_experiment", "plan", "read_cv_plan", "run_audit", "run_cell",
           "run_experiment", "setting_keys"]
