"""The experiment file: its TOML schema, its checks and its expansion into a grid of cells.

An experiment file (see ``experiments/README.md`` for the full schema) looks like::

    name = "task2"
    title = "Scratch vs pretrained on MNIST"
    report = { kind = "task2", target = 0.99, target_on = "val_acc" }

    [pretrain]                  # optional: a prerequisite run, OUT/<exp>/pretrain
    data = "trainPart1-digits"
    epochs = 60

    [audit]                     # optional: an audit, OUT/<exp>/audit (reused when done)
    data = "mnistTask3"

    [cells]                     # every cell's settings; a list-valued key is a grid axis
    data = "mnist"
    loss = "ce"
    init = ["scratch", "pretrained"]
    seeds = 3                   # or a list of seeds
    epochs = 15

    [profiles.quick]            # overrides of [cells] keys, plus pretrain/audit tables
    seeds = 1
    epochs = 3
    pretrain = { epochs = 20 }

`load_experiment` reads and validates a file and expands it into `Cell` s (the cartesian
product of the axes, minus ``exclude``, times seeds, times ``cv_folds`` folds), each value
checked as its run would check it; `noisylab.experiments.runner` runs them.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from noisylab.errors import NoisylabError

#: Report builders by name (see `noisylab.report`).
REPORT_KINDS = ("plain", "task1", "task2", "task3")
#: Top-level keys of an experiment file.
TOP_KEYS = ("name", "title", "description", "report", "pretrain", "audit", "cells", "profiles")
#: Keys of the ``report`` table.
REPORT_KEYS = {"kind": str, "target": float, "target_on": str}
#: Keys of the ``[audit]`` table.
AUDIT_KEYS = {"data": str, "folds": int, "epochs": int, "seed": int, "reference": str,
              "trusted": str}
#: Keys that select what is trained on and reported, beside the `TrainConfig` fields.
RUN_KEYS = {"data": str, "init": str, "loss": str, "preprocess": str, "addons": str, "test": bool,
            "test_data": str, "test_split": str}
#: Keys of ``[cells]`` that shape the grid rather than a run.
GRID_KEYS = {"seeds": (int, list), "exclude": list, "cv_folds": int, "cv_seed": int}
#: TrainConfig fields an experiment may not set directly (they come from elsewhere).
_NOT_SETTABLE = {"seed", "init", "data"}
#: TrainConfig fields that take a transition.json path, or "audit": the experiment audit's.
_AUDIT_MATRIX_KEYS = ("transition", "val_transition")


def _train_keys() -> dict[str, type]:
    """`noisylab.train.TrainConfig` fields a cell may set, with the type a TOML value must have."""
    from noisylab.train import TrainConfig

    out = {}
    for f in fields(TrainConfig):
        if f.name in _NOT_SETTABLE:
            continue
        if f.name in _AUDIT_MATRIX_KEYS:
            out[f.name] = str  # a transition.json path or "audit" (a list would be an axis)
        elif f.default is MISSING or f.default is None:
            out[f.name] = object
        else:
            out[f.name] = type(f.default)
    return out


def setting_keys() -> dict[str, type]:
    """Every key a cell (or the pretrain run) may set, with its TOML type."""
    return {**RUN_KEYS, **_train_keys()}


@dataclass(frozen=True)
class Cell:
    """One training run of an experiment.

    Attributes
    ----------
    name : str
        Folder name: the axis values, ``f<k>`` for a cross-validation fold, ``s<seed>``.
    settings : dict
        Everything that defines the run: the keys of `setting_keys` that are set, and ``seed``.
        ``init = "pretrained"`` means the experiment's own pretrain run; ``loss = "auto"`` the
        loss its audit recommends.
    labels : dict of str to str
        ``{axis: value label}``: which condition the cell belongs to.
    seed : int
    fold : tuple of (int, int) or None
        ``(k, n)``: train on all folds but the ``k``-th of ``n``, test on it.
    cv_seed : int
        Seed of the fold assignment.
    """

    name: str
    settings: dict
    labels: dict = field(default_factory=dict)
    seed: int = 0
    fold: tuple[int, int] | None = None
    cv_seed: int = 0

    @property
    def condition(self) -> str:
        """The cell's condition (its axis labels joined), the same for every seed and fold."""
        return " / ".join(self.labels.values()) or "all"

    @property
    def epochs(self) -> int:
        """Epochs the cell trains: its setting, else its data's recipe's."""
        if "epochs" in self.settings:
            return self.settings["epochs"]
        from noisylab.recipes import recipe_for
        from noisylab.train import TrainConfig

        return recipe_for(self.settings["data"]).train.get("epochs", TrainConfig.epochs)


@dataclass
class Experiment:
    """An expanded experiment file.

    Attributes
    ----------
    name : str
        Folder name under the output folder: the file's ``name``, plus ``-<profile>`` when a
        profile was applied.
    title : str
    description : str
    source : Path
        The TOML file.
    profile : str or None
    report : dict
        ``kind`` (a key of `REPORT_KINDS`), ``target``, ``target_on``.
    axes : dict of str to list of str
        The grid's axes and their value labels, in file order.
    cells : list of Cell
    pretrain : Cell or None
        The prerequisite run (folder ``pretrain``).
    audit : dict or None
        Options of the audit step (folder ``audit``).
    seeds : list of int
    cv_folds : int or None
    """

    name: str
    title: str
    description: str
    source: Path
    profile: str | None
    report: dict
    axes: dict
    cells: list
    pretrain: Cell | None = None
    audit: dict | None = None
    seeds: list = field(default_factory=list)
    cv_folds: int | None = None

    def folder(self, out: str | os.PathLike | None = None) -> Path:
        """``OUT/<name>``; OUT defaults to `noisylab.runs.runs_root`."""
        from noisylab.runs import runs_root

        return Path(out if out is not None else runs_root()) / self.name

    def conditions(self) -> dict[str, list[Cell]]:
        """Cells grouped by condition, in grid order."""
        out: dict[str, list[Cell]] = {}
        for c in self.cells:
            out.setdefault(c.condition, []).append(c)
        return out


# ----------------------------------------------------------------------------------- reading


def load_experiment(path: str | os.PathLike, *, profile: str | None = None,
                    seeds: int | None = None) -> Experiment:
    """Read, validate and expand an experiment file.

    Parameters
    ----------
    path : path
        The TOML file.
    profile : str, optional
        A table of ``[profiles]`` to apply (e.g. ``"quick"``).
    seeds : int, optional
        Run seeds ``0..seeds-1``, over the file's and the profile's ``seeds``.

    Raises
    ------
    NoisylabError
        The file is missing or not TOML, a key is unknown or has the wrong type, the profile
        does not exist: one line naming the file and the key.
    """
    from noisylab.validate import read_utf8

    path = Path(path)
    text = read_utf8(path, what="experiment file")
    tomllib = _toml()
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise NoisylabError(f"{path} is not valid TOML: {err}") from None
    exp = expand(spec, source=path, profile=profile, seeds=seeds)
    for cell in ([exp.pretrain] if exp.pretrain else []) + list(exp.cells):
        check_cell(cell, path)
    return exp


def check_cell(cell: Cell, source: str | os.PathLike) -> None:
    """Check every training value of ``cell`` as its run would (over its recipe's), so that
    ``--dry-run`` refuses what a run would refuse; one line naming the file and the cell."""
    from noisylab.recipes import recipe_for
    from noisylab.train import TrainConfig
    from noisylab.validate import check_seed

    keys = set(_train_keys()) - set(_AUDIT_MATRIX_KEYS)  # paths, read when the cell runs
    settings = {k: v for k, v in cell.settings.items() if k in keys}
    try:
        check_seed(cell.settings.get("seed", 0), name="seed")
        TrainConfig(**{**recipe_for(cell.settings["data"]).train, **settings})
    except NoisylabError as err:
        raise NoisylabError(f"{source}: cell {cell.name}: {err}") from None


def _toml():
    """The standard library's TOML reader (Python >= 3.11), or tomli on 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise NoisylabError("reading experiment files needs Python >= 3.11 (tomllib) or "
                                "`pip install tomli`") from None
    return tomllib


def expand(spec: dict, *, source: str | os.PathLike = "<experiment>", profile: str | None = None,
           seeds: int | None = None) -> Experiment:
    """Expand a parsed experiment (the dict `tomllib` gives) into cells; see `load_experiment`."""
    where = str(source)

    def fail(message: str) -> NoisylabError:
        return NoisylabError(f"{where}: {message}")

    _check_keys(spec, TOP_KEYS, "", fail)
    name = spec.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise fail("'name' must be set to a folder name (letters, digits, . _ -), e.g. name = \"task2\"")
    for key in ("title", "description"):
        if key in spec and not isinstance(spec[key], str):
            raise fail(f"'{key}' must be a string")
    report = _report(spec, fail)
    cells = dict(_table(spec, "cells", fail))
    pretrain = _table(spec, "pretrain", fail) if "pretrain" in spec else None
    audit = _table(spec, "audit", fail) if "audit" in spec else None
    _apply_profile(_table(spec, "profiles", fail), profile, cells, pretrain, audit, fail)
    if seeds is not None:
        if seeds < 1:
            raise fail(f"--seeds must be at least 1, got {seeds}")
        cells["seeds"] = seeds
    axes_spec = _check_sections(cells, pretrain, audit, fail)
    seed_list = _seed_list(cells.get("seeds", 1), fail)
    cv_folds = cells.get("cv_folds")
    if cv_folds is not None and cv_folds < 2:
        raise fail(f"cells.cv_folds must be at least 2, got {cv_folds}")
    base = {k: v for k, v in cells.items() if k not in GRID_KEYS and k not in axes_spec}
    _check_values(base, "cells", fail)
    axes, out_cells = _grid(base, axes_spec, cells, has_audit=audit is not None,
                            seed_list=seed_list, fail=fail)
    pre_cell = None
    if pretrain is not None:
        pre = {"loss": "ce", "seed": 0, **pretrain}
        pre_cell = Cell(name="pretrain", settings=pre, seed=pre["seed"])
    folder_name = name if profile is None else f"{name}-{profile}"
    return Experiment(name=folder_name, title=spec.get("title", name),
                      description=spec.get("description", ""), source=Path(source),
                      profile=profile, report=report, axes=axes, cells=out_cells,
                      pretrain=pre_cell, audit=audit, seeds=seed_list, cv_folds=cv_folds)


def _report(spec: dict, fail) -> dict:
    """The ``report`` key as a checked table with its defaults."""
    report = spec.get("report", "plain")
    report = {"kind": report} if isinstance(report, str) else report
    if not isinstance(report, dict):
        raise fail("'report' must be a kind (\"task2\") or a table { kind = ..., target = ... }")
    _check_table(report, REPORT_KEYS, "report", fail)
    report = {"kind": "plain", "target": 0.99, "target_on": "val_acc", **report}
    if report["kind"] not in REPORT_KINDS:
        raise fail(f"report.kind {report['kind']!r} is unknown; known: {', '.join(REPORT_KINDS)}")
    if report["target_on"] not in ("val_acc", "test_acc"):
        raise fail("report.target_on must be \"val_acc\" or \"test_acc\"")
    return report


def _apply_profile(profiles: dict, profile: str | None, cells: dict, pretrain: dict | None,
                   audit: dict | None, fail) -> None:
    """Apply the profile ``profile`` (its [cells] keys, its pretrain / audit tables) in place;
    check every profile's keys."""
    if profile is not None:
        if profile not in profiles:
            known = ", ".join(profiles) or "none"
            raise fail(f"no profile {profile!r} (profiles in this file: {known})")
        over = profiles[profile]
        if not isinstance(over, dict):
            raise fail(f"profiles.{profile} must be a table")
        for section in ("pretrain", "audit"):
            if section in over:
                if not isinstance(over[section], dict):
                    raise fail(f"profiles.{profile}.{section} must be a table")
                if section == "pretrain" and pretrain is None or section == "audit" and audit is None:
                    raise fail(f"profiles.{profile}.{section} overrides a [{section}] the file lacks")
                (pretrain if section == "pretrain" else audit).update(over[section])
        cells.update({k: v for k, v in over.items() if k not in ("pretrain", "audit")})
    for name_, table in profiles.items():
        if isinstance(table, dict):
            _check_cell_keys({k: v for k, v in table.items() if k not in ("pretrain", "audit")},
                             f"profiles.{name_}", fail, allow_axes=True)


def _check_sections(cells: dict, pretrain: dict | None, audit: dict | None, fail) -> dict:
    """Validate [cells], [pretrain] and [audit]; return the axes (key -> values)."""
    axes_spec = _check_cell_keys(cells, "cells", fail, allow_axes=True)
    if pretrain is not None:
        _check_table(pretrain, {**setting_keys(), "seed": int}, "pretrain", fail)
        if "data" not in pretrain:
            raise fail("[pretrain] needs data = \"...\" (e.g. \"trainPart1-digits\")")
        if pretrain.get("init", "scratch") == "pretrained":
            raise fail("pretrain.init cannot be \"pretrained\" (it is the pretrained run)")
    if audit is not None:
        _check_table(audit, AUDIT_KEYS, "audit", fail)
        audit.setdefault("data", cells.get("data"))
        if audit["data"] is None:
            raise fail("[audit] needs data = \"...\" (or cells.data)")
        if audit.get("reference") == "pretrained" and pretrain is None:
            raise fail("audit.reference = \"pretrained\" needs a [pretrain] table")
    if "data" not in cells and not any("data" in v for vals in axes_spec.values()
                                       for v in vals if isinstance(v, dict)):
        raise fail("[cells] needs data = \"...\"")
    return axes_spec


def _grid(base: dict, axes_spec: dict, cells: dict, *, has_audit: bool, seed_list: list,
          fail) -> tuple[dict, list]:
    """``(axes, cells)``: the cartesian product of the axes, minus the excluded combinations,
    times the folds and the seeds."""
    axes = {axis: [_label(axis, v) for v in values] for axis, values in axes_spec.items()}
    for axis, labels in axes.items():
        if len(set(labels)) != len(labels):
            raise fail(f"cells.{axis} has repeated values {labels}")
    excludes = cells.get("exclude", [])
    for i, ex in enumerate(excludes):
        if not isinstance(ex, dict) or not ex:
            raise fail(f"cells.exclude[{i}] must be a table like {{ init = \"pretrained\" }}")
        for axis, value in ex.items():
            if axis not in axes or _label(axis, value) not in axes[axis]:
                raise fail(f"cells.exclude[{i}]: {axis} = {value!r} is not a value of any axis "
                           f"(axes: {', '.join(f'{a}={v}' for a, v in axes.items()) or 'none'})")
    out_cells = []
    for combo in itertools.product(*axes_spec.values()) if axes_spec else [()]:
        labels = {axis: _label(axis, v) for axis, v in zip(axes_spec, combo, strict=True)}
        if any(all(labels[a] == _label(a, v) for a, v in ex.items()) for ex in excludes):
            continue
        settings = _combination(base, axes_spec, combo, labels, has_audit=has_audit, fail=fail)
        out_cells += _cells_of(settings, axes_spec, combo, labels, cells, seed_list)
    if not out_cells:
        raise fail("the grid is empty (every combination is excluded)")
    names = [c.name for c in out_cells]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise fail(f"two cells would share the folder name {dup!r}; give the axis values "
                   "distinct names")
    return axes, out_cells


def _combination(base: dict, axes_spec: dict, combo: tuple, labels: dict, *, has_audit: bool,
                 fail) -> dict:
    """The settings of one combination of the axes' values, over ``base``."""
    settings = dict(base)
    for axis, value in zip(axes_spec, combo, strict=True):
        if isinstance(value, dict):
            settings.update({k: v for k, v in value.items() if k != "name"})
        else:
            settings[axis] = value
    if "data" not in settings:
        raise fail(f"the cell {'/'.join(labels.values())} has no data")
    for key in _AUDIT_MATRIX_KEYS:
        if settings.get(key) == "audit" and not has_audit:
            raise fail(f"the cell {'/'.join(labels.values())} has {key} = \"audit\" but the "
                       "file has no [audit] table")
    return settings


def _cells_of(settings: dict, axes_spec: dict, combo: tuple, labels: dict, cells: dict,
              seed_list: list) -> list[Cell]:
    """One combination's cells: one per fold (with ``cv_folds``) and seed."""
    cv_folds, cv_seed = cells.get("cv_folds"), cells.get("cv_seed", 0)
    folds = [(k, cv_folds) for k in range(1, cv_folds + 1)] if cv_folds else [None]
    out = []
    for fold in folds:
        for seed in seed_list:
            parts = [_folder_part(a, labels[a], v) for a, v in zip(axes_spec, combo, strict=True)]
            parts += [f"f{fold[0]}"] if fold else []
            parts.append(f"s{seed}")
            cell_settings = {**settings, "seed": seed}
            if fold:
                cell_settings.update(cv_folds=cv_folds, cv_seed=cv_seed, fold=fold[0])
            out.append(Cell(name="_".join(parts), settings=cell_settings,
                            labels=labels, seed=seed, fold=fold, cv_seed=cv_seed))
    return out


def _table(spec: dict, key: str, fail) -> dict:
    value = spec.get(key, {})
    if not isinstance(value, dict):
        raise fail(f"'{key}' must be a table ([{key}])")
    return dict(value)


def _check_keys(table: dict, known, prefix: str, fail) -> None:
    for key in table:
        if key not in known:
            raise fail(f"unknown key '{prefix}{key}'; known: {', '.join(known)}")


def _check_table(table: dict, types: dict, prefix: str, fail) -> None:
    _check_keys(table, types, prefix + ".", fail)
    for key, value in table.items():
        _check_type(value, types[key], f"{prefix}.{key}", fail)
    _check_values(table, prefix, fail)


def _check_type(value, want, where: str, fail) -> None:
    ok = (isinstance(value, bool) if want is bool
          else isinstance(value, (int, float)) and not isinstance(value, bool) if want is float
          else isinstance(value, int) and not isinstance(value, bool) if want is int
          else isinstance(value, want))
    if not ok:
        name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
            want, want.__name__)
        raise fail(f"'{where}' must be {name}, got {value!r}")


def _check_cell_keys(cells: dict, prefix: str, fail, *, allow_axes: bool) -> dict:
    """Check ``[cells]``-like keys; return the axes ``{key: [values]}``."""
    types = setting_keys()
    axes = {}
    for key, value in cells.items():
        if key in GRID_KEYS:
            if key == "seeds":
                _seed_list(value, fail, where=f"{prefix}.seeds")
            elif key == "exclude":
                if not isinstance(value, list):
                    raise fail(f"'{prefix}.exclude' must be a list of tables")
            else:
                _check_type(value, int, f"{prefix}.{key}", fail)
            continue
        if isinstance(value, list):
            if not allow_axes or not value:
                raise fail(f"'{prefix}.{key}' must not be an empty list")
            if all(isinstance(v, dict) for v in value):
                if key in types:
                    raise fail(f"'{prefix}.{key}': a list of tables is a named axis; call it "
                               f"something other than the setting '{key}' (e.g. method)")
                for i, v in enumerate(value):
                    if not isinstance(v.get("name"), str):
                        raise fail(f"'{prefix}.{key}[{i}]' needs name = \"...\"")
                    rest = {k: x for k, x in v.items() if k != "name"}
                    _check_keys(rest, types, f"{prefix}.{key}[{i}].", fail)
                    for k, x in rest.items():
                        _check_type(x, types[k], f"{prefix}.{key}[{i}].{k}", fail)
                    _check_values(rest, f"{prefix}.{key}[{i}]", fail)
            elif key not in types:
                raise fail(f"unknown key '{prefix}.{key}'; known: {', '.join([*types, *GRID_KEYS])}"
                           " (or a list of tables with name = ... as a named axis)")
            else:
                for v in value:
                    _check_type(v, types[key], f"{prefix}.{key}", fail)
                    _check_values({key: v}, prefix, fail)
            axes[key] = value
            continue
        if key not in types:
            raise fail(f"unknown key '{prefix}.{key}'; known: {', '.join([*types, *GRID_KEYS])}")
        _check_type(value, types[key], f"{prefix}.{key}", fail)
    return axes


def _check_values(settings: dict, prefix: str, fail) -> None:
    """Names checked before anything slow happens: losses, architectures, preprocessing."""
    from noisylab.losses import LOSSES, PSEUDO_LABEL_VIEWS
    from noisylab.models import ARCHITECTURES
    from noisylab.train import PRECISIONS, check_augmentation

    loss = settings.get("loss")
    if loss is not None and loss != "auto" and loss not in LOSSES:
        raise fail(f"{prefix}.loss {loss!r} is unknown; known: auto, {', '.join(LOSSES)}")
    for key in ("arch", "distill_arch"):
        arch = settings.get(key)
        if arch is not None and arch not in ARCHITECTURES:
            raise fail(f"{prefix}.{key} {arch!r} is unknown; known: {', '.join(ARCHITECTURES)}")
    view = settings.get("pseudo_label_view")
    if view is not None and view not in PSEUDO_LABEL_VIEWS:
        raise fail(f"{prefix}.pseudo_label_view {view!r} is unknown; known: "
                   f"{', '.join(PSEUDO_LABEL_VIEWS)}")
    if settings.get("precision") not in (None, *PRECISIONS):
        raise fail(f"{prefix}.precision must be one of {', '.join(PRECISIONS)}")
    if settings.get("preprocess") not in (None, "fit", "keep-size"):
        raise fail(f"{prefix}.preprocess must be \"fit\" or \"keep-size\"")
    if "addons" in settings:
        from noisylab.addons import parse_names

        try:
            parse_names(settings["addons"])
        except NoisylabError as error:
            raise fail(f"{prefix}.addons: {error}") from None
    if settings.get("test_split") not in (None, "train", "test"):
        raise fail(f"{prefix}.test_split must be \"train\" or \"test\"")
    for key in ("epochs", "batch_size", "distill_votes"):
        if key in settings and settings[key] < 1:
            raise fail(f"{prefix}.{key} must be at least 1, got {settings[key]}")
    if settings.get("warm_start_epochs", 0) < 0:
        raise fail(f"{prefix}.warm_start_epochs must be 0 or more, got "
                   f"{settings['warm_start_epochs']}")
    try:
        check_augmentation(settings, prefix=f"{prefix}.")
    except NoisylabError as error:
        raise fail(str(error)) from None


def _seed_list(value, fail, where: str = "cells.seeds") -> list[int]:
    if isinstance(value, bool):
        raise fail(f"'{where}' must be a count or a list of integers")
    if isinstance(value, int):
        if value < 1:
            raise fail(f"'{where}' must be at least 1, got {value}")
        return list(range(value))
    if (isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool)
                                                  and s >= 0 for s in value)
            and len(set(value)) == len(value)):
        return list(value)
    raise fail(f"'{where}' must be a count or a list of distinct non-negative integers, got {value!r}")


def _label(axis: str, value) -> str:
    """How an axis value is named in reports: a variant's name, else the value."""
    if isinstance(value, dict):
        return value["name"]
    if isinstance(value, bool):
        return f"{axis}={'on' if value else 'off'}"
    if isinstance(value, (int, float)):
        return f"{axis}={value:g}"
    return str(value)


def _folder_part(axis: str, label: str, value) -> str:
    """An axis value as part of a folder name: strings as they are, numbers with their key."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        label = f"{axis}{value:g}"
    elif isinstance(value, bool):
        label = f"{axis}-{'on' if value else 'off'}"
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", label).strip("-") or axis
