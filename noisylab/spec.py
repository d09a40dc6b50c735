"""A run specification: the recipe, the options over it and the audit's result, resolved once.

`resolve_spec` turns what a user asks for (a data source, a recipe's defaults, CLI or TOML
overrides, ``--loss auto``'s audit) into a checked, frozen `RunSpec`; `noisylab.pipeline.run`
trains it. The spec is saved in the run folder (``spec.json``), so that ``--resume`` can
compare it with the one asked for and refuse what would mix two runs (`check_same_run`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from noisylab import addons as registry
from noisylab.errors import NoisylabError
from noisylab.recipes import recipe_for
from noisylab.train import TrainConfig

__all__ = ["SPEC_FILE", "RunSpec", "check_same_run", "resolve_spec"]

#: The file in a run folder that holds the run's specification.
SPEC_FILE = "spec.json"
#: Settings that say how a run is carried out, never what it computes.
_HOW_ONLY = frozenset({"device"})
_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides what a run computes, independent of where the data lives.

    Attributes
    ----------
    data : str
        The training source (`noisylab.data.load`'s name).
    init : str
        The initial weights asked for: ``"scratch"``, ``"pretrained"`` or a checkpoint path.
    config : TrainConfig
        The training settings, the loss resolved (never ``"auto"``); ``config.init`` is
        ``"scratch"`` or the path of the initial checkpoint.
    load_options : dict
        Options of `noisylab.data.load` (the recipe's, overridden).
    test : bool
        Report the recipe's clean test set, when present.
    test_data : tuple of (str, str), optional
        ``(source, split)`` reported instead of the recipe's test set.
    fold : tuple of (int, int), optional
        ``(k, n)``: train on all but fold ``k`` of ``n`` and report the held-out fold.
    fold_seed : int
        Seed of the fold assignment.
    addons : tuple of str
        The add-ons the run uses (`noisylab.addons`), resolved.
    addons_off : tuple of str
        Add-ons turned off (initial weights that read one of them are refused).
    audit : dict, optional
        With ``--loss auto``: what the audit said (``kind``, ``recommended_loss``), for the
        record.
    """

    data: str
    config: TrainConfig
    init: str = "scratch"
    load_options: dict = field(default_factory=dict)
    test: bool = True
    test_data: tuple | None = None
    fold: tuple | None = None
    fold_seed: int = 0
    addons: tuple = ()
    addons_off: tuple = ()
    audit: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready: ``{"data", "config": {...}, ...}``; `from_dict` reads it back."""
        out = asdict(self)
        out["config"] = asdict(self.config)
        for key in ("test_data", "fold", "addons", "addons_off"):
            out[key] = None if out[key] is None else list(out[key])
        return out

    @classmethod
    def from_dict(cls, value: dict) -> RunSpec:
        """The spec `to_dict` wrote."""
        value = dict(value)
        value["config"] = TrainConfig(**value["config"])
        for key in ("test_data", "fold", "addons", "addons_off"):
            if value.get(key) is not None:
                value[key] = tuple(value[key])
        return cls(**value)

    def differences(self, other: RunSpec) -> list[str]:
        """``"name: mine -> other's"`` for each setting that changes what the run computes."""
        mine, theirs = _flat(self.to_dict()), _flat(other.to_dict())
        return [f"{key} {mine.get(key)!r} -> {theirs.get(key)!r}"
                for key in sorted(set(mine) | set(theirs))
                if key not in _HOW_ONLY and key != "audit" and mine.get(key) != theirs.get(key)]


def _flat(spec: dict) -> dict:
    """The spec's settings in one level, the config's under their own names."""
    return {**{k: v for k, v in spec.items() if k != "config"}, **spec["config"]}


def check_same_run(out_dir: str | os.PathLike, spec: RunSpec) -> None:
    """Refuse to resume the run in ``out_dir`` with ``spec`` when its saved spec differs in
    anything that changes the result; one line names the differences.

    A run folder without a saved spec is compared by the training settings in its ``last``
    checkpoint.
    """
    out_dir = Path(out_dir)
    saved_path = out_dir / SPEC_FILE
    try:
        if saved_path.exists():
            saved = RunSpec.from_dict(json.loads(saved_path.read_text()))
        else:
            meta = json.loads((out_dir / "last.json").read_text())
            saved = replace(spec, config=TrainConfig(**meta["config"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NoisylabError(f"cannot read the settings of the run in {out_dir} ({err}); "
                            "start a new run with another --out") from None
    diff = saved.differences(spec)
    if diff:
        raise NoisylabError(f"{out_dir} holds a run with other settings ({'; '.join(diff)}); "
                            "resume it with its own settings, or train a new run with another --out")


def resolve_spec(
    data: str,
    *,
    root: str | os.PathLike | None = None,
    init: str = "scratch",
    loss: str | None = None,
    test: bool = True,
    test_data: tuple[str, str] | None = None,
    fold: tuple[int, int] | None = None,
    fold_seed: int = 0,
    audit=None,
    audit_folder: str | os.PathLike | None = None,
    load_options: dict | None = None,
    addons: Sequence[str] | None = None,
    addons_on: Sequence[str] = (),
    addons_off: Sequence[str] = (),
    progress: bool = True,
    log: Callable[[str], None] = print,
    **overrides,
) -> RunSpec:
    """Resolve a recipe and the options over it into a checked `RunSpec`.

    Parameters are those of `noisylab.pipeline.train_on` (which is ``run(resolve_spec(...))``);
    ``audit`` is an `noisylab.audit.AuditResult` of ``data`` for ``loss="auto"``, used
    instead of a saved or new audit. Bad options raise `NoisylabError` before anything slow:
    only ``init="pretrained"`` (the class count) and ``loss="auto"`` without a saved audit
    (the audit itself) load the data.
    """
    from noisylab.losses import LOSSES, takes_transition

    recipe = recipe_for(data)
    loss = loss or recipe.loss
    addon_names = registry.resolve(recipe.addons if addons is None else addons, addons_on,
                                   addons_off)
    unknown = set(overrides) - _CONFIG_FIELDS
    if unknown:
        raise NoisylabError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    if loss != "auto" and loss not in LOSSES:
        raise NoisylabError(f"unknown loss {loss!r}; known losses: auto, {', '.join(LOSSES)}")
    _check_overrides(overrides)
    options = {**recipe.load, **(load_options or {})}
    settings = {**recipe.train, **{k: v for k, v in overrides.items() if v is not None}}
    settings.update(_initial_weights(data, init, settings, overrides, root=root, options=options,
                                     progress=progress, log=log))
    audit_said = None
    if loss == "auto":
        TrainConfig(**settings)  # a bad option fails now, not after a minutes-long audit
        from noisylab.pipeline import recommended_loss

        loss, transition, audit_said = recommended_loss(
            data, root=root, log=log, progress=progress, folder=audit_folder, result=audit)
        # The audit's T is the forward losses' own; any other loss gets it to choose its epoch
        # by the likelihood of the given labels (see TrainConfig.val_transition).
        settings.setdefault("transition" if takes_transition(loss) else "val_transition",
                            transition)
    settings.update(loss=loss, data=data)
    return RunSpec(data=data, config=TrainConfig(**settings), init=init, load_options=options, test=test,
                   test_data=None if test_data is None else tuple(test_data),
                   fold=None if fold is None else tuple(fold), fold_seed=fold_seed,
                   addons=tuple(addon_names), addons_off=tuple(addons_off), audit=audit_said)


def _check_overrides(overrides: dict) -> None:
    """Names and numbers of the overrides that `TrainConfig` does not check itself."""
    from noisylab.models import check_architecture
    from noisylab.validate import check_seed

    for key in ("arch", "distill_arch"):
        if overrides.get(key) is not None:
            check_architecture(overrides[key], option="--" + key.replace("_", "-"))
    if overrides.get("seed") is not None:
        check_seed(overrides["seed"])


def _initial_weights(data, init, settings, overrides, *, root, options, progress, log) -> dict:
    """``{"init": ..., "arch": ...}``: where the initial weights come from and the
    architecture they impose (none for ``"scratch"``)."""
    if init == "scratch":
        return {"init": "scratch"}
    from noisylab.checkpoints import check_compatible, load_checkpoint
    from noisylab.runs import find_pretrained

    if init == "pretrained":
        from noisylab.data import load

        num_classes = len(load(data, root=root, progress=progress, **options).classes)
        ckpt = find_pretrained(num_classes, arch=settings.get("arch"))
    else:
        ckpt = load_checkpoint(init)
    arch = ckpt.metadata["architecture"]
    if overrides.get("arch") not in (None, arch):
        check_compatible(ckpt, architecture=overrides["arch"])
    log(f"initial weights from {ckpt.path} ({arch}, {ckpt.metadata['num_classes']} classes)")
    return {"init": str(ckpt.path), "arch": arch}
