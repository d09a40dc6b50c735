"""From a dataset name to a trained run: the recipe, the data, the initial weights, the loss.

`train_on` is what ``noisylab train`` and the experiment runner call; `noisylab.train.train` is
the loop itself. `evaluation_set` names the clean set a run reports on (the recipe's test split,
another source, or a held-out cross-validation fold), so a caller can score a checkpoint on the
same images the run reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from noisylab import addons as registry
from noisylab import distributed
from noisylab.checkpoints import check_compatible, load_checkpoint
from noisylab.errors import NoisylabError
from noisylab.files import write_json
from noisylab.recipes import recipe_for
from noisylab.runs import audit_dir, default_run_dir, find_pretrained
from noisylab.train import SideInputs, TrainConfig, TrainResult, check_resumable, train

_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def train_on(
    data: str,
    *,
    root: str | os.PathLike | None = None,
    init: str = "scratch",
    loss: str | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    test: bool = True,
    test_data: tuple[str, str] | None = None,
    fold: tuple[int, int] | None = None,
    fold_seed: int = 0,
    audit_folder: str | os.PathLike | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    load_options: dict | None = None,
    addons: Sequence[str] | None = None,
    addons_on: Sequence[str] = (),
    addons_off: Sequence[str] = (),
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
    loss : str, optional
        A loss name, or ``"auto"``: the loss the audit of ``data`` recommends (running the audit
        when no saved one is found), with the audit's transition matrix choosing the epoch
        (``val_transition``) unless given. Default: the recipe's (``ce`` for trainPart1 and its
        digits, whose labels are clean), else ``"auto"``.
    out : path, optional
        Run folder; default ``runs/<data>[-pretrained][-<loss>]``.
    resume : bool
        Continue an interrupted run in ``out``.
    test : bool
        Report the recipe's clean test set each epoch, when it is present.
    test_data : tuple of (str, str), optional
        ``(source, split)`` of the clean set to report instead of the recipe's (it must exist).
    fold : tuple of (int, int), optional
        ``(k, n)``: cross-validation. Train on all but the ``k``-th (1-based) of ``n`` folds of
        ``data`` (stratified by given label, seeded by ``fold_seed``) and report the held-out
        fold as the test set, scored against its *given* labels (meaningful when they are clean).
    fold_seed : int
        Seed of the fold assignment (keep it fixed to compare settings on the same folds).
    audit_folder : path, optional
        Where ``loss="auto"`` finds (or writes) the audit; default ``runs/audit-<data>``.
    load_options : dict, optional
        Options for `noisylab.data.load`, over the recipe's.
    addons : sequence of str, optional
        The add-ons the run uses (`noisylab.addons`); default: the recipe's. A side-input
        provider among them is read by the model, when its architecture can read side inputs
        (and, with initial weights, when those do: theirs decide); the prediction adjusters are
        fitted on the training set after training and saved in the run folder, where
        ``noisylab evaluate`` finds them; with a test set, the run's model's test figures with
        each go to `TrainResult.adjusted_test`.
    addons_on, addons_off : sequence of str
        Add-ons to use besides those, and to leave out of them (``--addon``, ``--no-addon``).
    **overrides
        `noisylab.train.TrainConfig` fields (``epochs``, ``lr``, ``arch``, ...); None means
        "the recipe's value".
    """
    from noisylab.data import load
    from noisylab.losses import LOSSES
    from noisylab.models import check_architecture

    recipe = recipe_for(data)
    loss = loss or recipe.loss
    addons = registry.resolve(recipe.addons if addons is None else addons, addons_on, addons_off)
    unknown = set(overrides) - _CONFIG_FIELDS
    if unknown:
        raise NoisylabError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    # Names are checked before anything slow happens.
    if loss != "auto" and loss not in LOSSES:
        raise NoisylabError(f"unknown loss {loss!r}; known losses: auto, {', '.join(LOSSES)}")
    for key in ("arch", "distill_arch"):
        if overrides.get(key) is not None:
            check_architecture(overrides[key], option="--" + key.replace("_", "-"))
    if resume and out is not None:
        check_resumable(out)  # before loading and auditing, which can take minutes
    options = {**recipe.load, **(load_options or {})}
    train_set = load(data, root=root, progress=progress, **options)
    num_classes = len(train_set.classes)
    held_out = None
    if fold is not None:
        train_set, held_out = fold_split(train_set, fold, seed=fold_seed)

    settings = {**recipe.train, **{k: v for k, v in overrides.items() if v is not None}}
    init_state, init_name, ckpt = None, "scratch", None
    if init != "scratch":
        ckpt = (find_pretrained(num_classes, arch=settings.get("arch"))
                if init == "pretrained" else load_checkpoint(init))
        arch = ckpt.metadata["architecture"]
        if overrides.get("arch") not in (None, arch):
            check_compatible(ckpt, architecture=overrides["arch"])
        settings["arch"] = arch
        init_state, init_name = ckpt.state_dict, str(ckpt.path)
        log(f"initial weights from {ckpt.path} ({arch}, {ckpt.metadata['num_classes']} classes)")

    if loss == "auto":
        TrainConfig(**settings)  # a bad option fails now, not after a minutes-long audit
        loss, transition = recommended_loss(data, root=root, log=log, progress=progress,
                                            folder=audit_folder)
        # The audit's T is the forward loss's own; any other loss gets it to choose its epoch
        # by the likelihood of the given labels (see TrainConfig.val_transition).
        settings.setdefault("transition" if loss == "forward" else "val_transition", transition)
    settings.update(loss=loss, init=init_name, data=data)
    config = TrainConfig(**settings)

    if held_out is not None:
        test_set, what = held_out, f"held-out fold {fold[0]}/{fold[1]} of {data}"
    else:
        test_set, what = evaluation_set(data, root=root, test=test, test_data=test_data,
                                        load_options=load_options, progress=progress)
    if test_set is not None:
        log(f"reporting test accuracy on {what} ({len(test_set)} images; never used to choose)")
    out = Path(out) if out else default_run_dir(data, init=init, loss=loss, seed=config.seed)
    log(f"training {config.arch} on {data} ({len(train_set)} images, {num_classes} classes) "
        f"with loss {loss} for {config.epochs} epochs"
        + (f", then {config.distill_epochs} of distillation into a {config.student_arch}"
           + (f" (labels voted by the last {config.distill_votes} epochs)"
              if config.distill_votes > 1 else "")
           if config.distill_epochs else "")
        + f" -> {out}")
    reads = side_input_addon(addons, config, ckpt, addons_off, log=log)
    side = None
    if reads is not None:
        side = make_side_inputs(
            reads, train_set, test_set, log=log,
            way_out=f"pass --no-addon {reads}" if ckpt is None else
            "start from a checkpoint that reads no side inputs (--init)")
    result = train(train_set, config, out_dir=out, test_set=test_set, init_state=init_state,
                   resume=resume, progress=progress, log=log, side=side)
    if not distributed.is_writer():  # under torchrun rank 0 alone scores and writes the rest
        return result
    adjusters = fit_adjusters(addons, train_set, result.out_dir, reads=reads, log=log)
    if test_set is not None and (result.model or adjusters):
        from noisylab.evaluate import evaluate

        figures = evaluate(result.out_dir, test_set, adjusters=adjusters)
        if result.model:
            result.model_test = record_model_test(result.out_dir, figures, what)
        result.adjusted_test = figures["adjusted"] or None
    return result


def side_input_addon(addons: Sequence[str], config: TrainConfig, init=None,
                     turned_off: Sequence[str] = (), *, log=print) -> str | None:
    """The side-input add-on a run's model reads, or None.

    Initial weights (the checkpoint ``init``) decide: their add-on when they read side inputs
    (even one the run did not name), none when they read only pixels. Otherwise the provider
    among ``addons``, when ``config``'s architectures can read side inputs
    (`TrainConfig.side_readers`); what is not used is said in the log.

    Raises
    ------
    NoisylabError
        When the initial weights read the side inputs of an add-on in ``turned_off``.
    """
    from noisylab.models import checkpoint_side_inputs

    wanted = next((n for n in addons if registry.is_side_input(n)), None)
    if init is not None and checkpoint_side_inputs(init):
        name = registry.side_input_from_record(init.metadata.get("side_inputs")).name
        if name in turned_off:
            raise NoisylabError(f"the initial weights ({init.path}) read the side inputs of the "
                                f"add-on {name}; drop --no-addon {name} or start from another "
                                "checkpoint (--init)")
        return name
    if wanted is None:
        return None
    if init is not None:
        log(f"the initial weights read only the pixels: the add-on {wanted} is not used")
        return None
    if not config.side_readers:
        log(f"{config.arch} reads only the pixels: the add-on {wanted} is not used")
        return None
    return wanted


def make_side_inputs(name: str, train_set, test_set=None, *, log=print,
                     way_out: str = "") -> SideInputs:
    """The side inputs of the add-on ``name`` (a `noisylab.addons.SideInputProvider`), fitted
    on ``train_set``: its `training_features` for the training images, its `features` for
    ``test_set``'s, and its record for the checkpoints' metadata, so that ``noisylab evaluate``
    makes the same numbers.

    Raises
    ------
    NoisylabError
        When the add-on cannot make them from this data (the message ends with ``way_out``).
    """
    provider = registry.get(name)()
    try:
        provider.fit(train_set)
        train_side = registry.check_features(provider.training_features(train_set),
                                             len(train_set), name)
        test_side = (None if test_set is None else
                     registry.check_features(provider.features(test_set), len(test_set), name))
    except NoisylabError as err:
        raise NoisylabError(f"the model reads {provider.title} (the add-on {name}), and {err}"
                            + (f"; {way_out}" if way_out else "")) from None
    log(f"side inputs ({name}): {provider.title}, known for {int(train_side[:, -1].sum())} of "
        f"{len(train_side)} training images"
        + ("" if test_side is None else
           f" and {int(test_side[:, -1].sum())} of {len(test_side)} test images"))
    return SideInputs(train_side, test_side, provider.record())


def fit_adjusters(addons: Sequence[str], train_set, out_dir: Path, *, reads: str | None = None,
                  log=print) -> list:
    """Fit the prediction adjusters among ``addons`` on ``train_set`` and save each in the run
    folder ``out_dir``; return them, in order.

    Every registered adjuster's file is removed first (an earlier run's in this folder would
    not match this run). One `redundant_with` the side input the model reads (``reads``) is
    skipped; one that cannot be fitted on this data is skipped, said in the log.
    """
    for file in registry.adjuster_files().values():
        (Path(out_dir) / file).unlink(missing_ok=True)
    fitted = []
    for name in addons:
        cls = registry.get(name)
        if registry.is_side_input(name):
            continue
        if reads is not None and cls.redundant_with == reads:
            log(f"add-on {name} not fitted: the model reads {reads} itself")
            continue
        try:
            adjuster = cls().fit(train_set)
        except NoisylabError as err:
            log(f"add-on {name} not fitted: {err}")
            continue
        log(f"add-on {name} ({cls.title}) fitted -> {adjuster.save(out_dir)}")
        fitted.append(adjuster)
    return fitted


def record_model_test(out_dir: Path, figures: dict, what: str) -> dict:
    """Add the test figures of a run's model made of several checkpoints to its
    ``model.json``.

    Returns ``{"set": what, "acc", "nll", "ece"}`` of ``figures`` (`noisylab.evaluate.evaluate`
    of the run folder, which averages the members' class probabilities).
    """
    from noisylab.runs import MODEL_FILE

    test = {"set": what, **{k: float(figures[k]) for k in ("acc", "nll", "ece")}}
    path = Path(out_dir) / MODEL_FILE
    write_json(path, {**json.loads(path.read_text()), "test": test})
    return test


def evaluation_set(data: str, *, root=None, test: bool = True,
                   test_data: tuple[str, str] | None = None, fold: tuple[int, int] | None = None,
                   fold_seed: int = 0, load_options: dict | None = None, progress: bool = True):
    """The clean labelled set a run of ``data`` reports on, and a few words naming it.

    Parameters
    ----------
    data : str
        The training source.
    test : bool
        False: no test set (returns ``(None, "")``).
    test_data : tuple of (str, str), optional
        ``(source, split)`` to use instead of the recipe's test set; loaded even when absent (so
        a missing file is an error, not a silent skip).
    fold : tuple of (int, int), optional
        ``(k, n)``: the held-out ``k``-th of ``n`` folds of ``data`` (see `fold_split`).
    load_options : dict, optional
        Options for `noisylab.data.load` over the recipe's (the same as the training data's).

    Returns
    -------
    dataset : LabeledImages or None
        None when the recipe's test split is not present (or ``test`` is False).
    what : str
        E.g. ``"mnist test"`` or ``"held-out fold 2/5 of trainPart1"``.
    """
    from noisylab.data import is_present, load

    recipe = recipe_for(data)
    options = {**recipe.load, **(load_options or {})}
    if fold is not None:
        full = load(data, root=root, progress=progress, **options)
        return fold_split(full, fold, seed=fold_seed)[1], f"held-out fold {fold[0]}/{fold[1]} of {data}"
    if not test:
        return None, ""
    if test_data is not None:
        source, split = test_data
    elif recipe.test and is_present(recipe.test[0], root, recipe.test[1]):
        source, split = recipe.test
    else:
        return None, ""
    options = {**recipe_for(source).load, **options}
    return load(source, root=root, split=split, progress=progress, **options), f"{source} {split}"


def stratified_folds(labels, n: int, seed: int = 0):
    """Fold number ``(N,)`` (0..n-1) of each sample: each label spread evenly over the folds.

    Parameters
    ----------
    labels : array-like of shape ``(N,)``
        Given labels.
    n : int
        Number of folds (at least 2; no fold may be empty).
    seed : int
        Seeds the assignment: the same seed gives the same folds.
    """
    import numpy as np

    labels = np.asarray(labels)
    if n < 2:
        raise NoisylabError(f"cross-validation needs at least 2 folds, got {n}")
    if len(labels) < n:
        raise NoisylabError(f"{len(labels)} samples cannot fill {n} folds")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=int)
    offset = 0
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        # Rotate the start so that small classes do not all fill fold 0 first.
        fold[members] = (np.arange(len(members)) + offset) % n
        offset += len(members)
    return fold


def fold_split(dataset, fold: tuple[int, int], *, seed: int = 0):
    """``(train, held_out)`` subsets of ``dataset`` for fold ``k`` of ``n`` (``fold = (k, n)``, 1-based)."""
    k, n = fold
    if not 1 <= k <= n:
        raise NoisylabError(f"fold {k} of {n} does not exist; folds are numbered 1..{n}")
    which = stratified_folds(dataset.labels.numpy(), n, seed)
    return dataset.subset(which != k - 1), dataset.subset(which == k - 1)


def recommended_loss(data: str, *, root=None, log=print, progress=True,
                     folder: str | os.PathLike | None = None) -> tuple[str, list | None]:
    """The loss an audit of ``data`` recommends, and the transition matrix the audit measured.

    Reuses ``folder/audit.json`` (default ``runs/audit-<data>``) when present, else runs the audit
    there (and saves it).
    """
    folder = Path(folder) if folder is not None else audit_dir(data)
    saved = folder / "audit.json"
    if not saved.exists() and distributed.is_distributed():
        raise NoisylabError(f"--loss auto reads the audit of {data}, which is not in {folder} "
                            f"yet; run `noisylab audit {data} --out {folder}` first (with the "
                            "same --root; under torchrun too, its folds then share the "
                            "processes), or pass --loss")
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
    return loss, matrix
