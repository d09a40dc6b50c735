"""From a dataset name to a trained run: the recipe, the data, the initial weights, the loss.

`train_on` is what ``noisylab train`` and the experiment runner call; `noisylab.train.train` is
the loop itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from noisylab.checkpoints import check_compatible, load_checkpoint
from noisylab.errors import NoisylabError
from noisylab.recipes import recipe_for
from noisylab.runs import audit_dir, default_run_dir, find_pretrained
from noisylab.train import TrainConfig, TrainResult, train

_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def train_on(
    data: str,
    *,
    root: str | os.PathLike | None = None,
    init: str = "scratch",
    loss: str = "auto",
    out: str | os.PathLike | None = None,
    resume: bool = False,
    test: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
    load_options: dict | None = None,
    **overrides,
) -> TrainResult:
    """Train on a named source with its recipe, overridden by any given options.

    Parameters
    ----------
    data : str
        A source name for `noisylab.data.load` (``mnistTask3``, ``folder:PATH``, ...).
    root : path, optional
        Data root.
    init : str
        ``"scratch"``, ``"pretrained"`` (the Part-1 model, see `noisylab.runs.find_pretrained`)
        or the path of any noisylab checkpoint or run folder.
    loss : str
        A loss name, or ``"auto"``: the loss the audit of ``data`` recommends (running the audit
        when no saved one is found).
    out : path, optional
        Run folder; default ``runs/<data>[-pretrained][-<loss>]``.
    resume : bool
        Continue an interrupted run in ``out``.
    test : bool
        Report the recipe's clean test set each epoch, when it is present.
    load_options : dict, optional
        Options for `noisylab.data.load`, over the recipe's.
    **overrides
        `noisylab.train.TrainConfig` fields (``epochs``, ``lr``, ``arch``, ...); None means
        "the recipe's value".
    """
    from noisylab.data import is_present, load
    from noisylab.losses import LOSSES
    from noisylab.models import ARCHITECTURES

    recipe = recipe_for(data)
    unknown = set(overrides) - _CONFIG_FIELDS
    if unknown:
        raise NoisylabError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    # Names are checked before anything slow happens.
    if loss != "auto" and loss not in LOSSES:
        raise NoisylabError(f"unknown loss {loss!r}; known losses: auto, {', '.join(LOSSES)}")
    if overrides.get("arch") is not None and overrides["arch"] not in ARCHITECTURES:
        raise NoisylabError(f"unknown architecture {overrides['arch']!r}; known: "
                            f"{', '.join(ARCHITECTURES)}")
    train_set = load(data, root=root, progress=progress, **{**recipe.load, **(load_options or {})})
    num_classes = len(train_set.classes)

    settings = {**recipe.train, **{k: v for k, v in overrides.items() if v is not None}}
    init_state, init_name = None, "scratch"
    if init != "scratch":
        ckpt = find_pretrained(num_classes) if init == "pretrained" else load_checkpoint(init)
        arch = ckpt.metadata["architecture"]
        if overrides.get("arch") not in (None, arch):
            check_compatible(ckpt, architecture=overrides["arch"])
        settings["arch"] = arch
        init_state, init_name = ckpt.state_dict, str(ckpt.path)
        log(f"initial weights from {ckpt.path} ({arch}, {ckpt.metadata['num_classes']} classes)")

    if loss == "auto":
        loss, transition = recommended_loss(data, root=root, log=log, progress=progress)
        settings.setdefault("transition", transition)
    settings.update(loss=loss, init=init_name, data=data)
    config = TrainConfig(**settings)

    test_set = None
    if test and recipe.test and is_present(recipe.test[0], root, recipe.test[1]):
        test_set = load(recipe.test[0], root=root, split=recipe.test[1], progress=progress,
                        **{**recipe.load, **(load_options or {})})
        log(f"reporting test accuracy on {recipe.test[0]} {recipe.test[1]} "
            f"({len(test_set)} images; never used to choose)")
    out = Path(out) if out else default_run_dir(data, init=init, loss=loss, seed=config.seed)
    log(f"training {config.arch} on {data} ({len(train_set)} images, {num_classes} classes) "
        f"with loss {loss} for {config.epochs} epochs -> {out}")
    return train(train_set, config, out_dir=out, test_set=test_set, init_state=init_state,
                 resume=resume, progress=progress, log=log)


def recommended_loss(data: str, *, root=None, log=print, progress=True) -> tuple[str, list | None]:
    """The loss an audit of ``data`` recommends, and its transition matrix where the loss needs one.

    Reuses ``runs/audit-<data>/audit.json`` when present, else runs the audit (and saves it).
    """
    folder = audit_dir(data)
    saved = folder / "audit.json"
    if not saved.exists():
        from noisylab.audit import audit

        log(f"--loss auto: auditing {data} first (saved to {folder})")
        audit(data, root=root, out_dir=folder, progress=progress, log=log)
    try:
        summary = json.loads(saved.read_text())
        loss = summary["diagnosis"]["recommended_loss"]
        matrix = summary["transition"]["matrix"]
    except (OSError, ValueError, KeyError) as err:
        raise NoisylabError(f"{saved} is unreadable ({err}); delete it to re-run the audit") from None
    if loss in (None, "relabel"):
        raise NoisylabError(
            f"the audit of {data} recommends no loss ({summary['diagnosis']['summary'][:120]}...); "
            "pass --loss explicitly")
    log(f"--loss auto: the audit ({saved}) says {summary['diagnosis']['kind']}; using {loss}")
    return loss, (matrix if loss in ("forward",) else None)
