"""From a dataset name to a trained run: the recipe, the data, the initial weights, the loss.

`run` trains a `noisylab.spec.RunSpec` (what ``noisylab train`` and the experiment runner
call, after `noisylab.spec.resolve_spec`); `train_on` is the two in one call;
`noisylab.train.train` is the loop itself. `evaluation_set` names the clean set a run reports
on (the recipe's test split, another source, or a held-out cross-validation fold), so a caller
can score a checkpoint on the same images the run reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from noisylab import addons as registry
from noisylab import distributed
from noisylab.checkpoints import load_checkpoint
from noisylab.errors import NoisylabError
from noisylab.files import write_json
from noisylab.outputs import prepare_output
from noisylab.recipes import recipe_for
from noisylab.runs import audit_dir, default_run_dir
from noisylab.spec import SPEC_FILE, RunSpec, check_same_run, resolve_spec
from noisylab.train import (
    SideInputs,
    TrainConfig,
    TrainResult,
    check_resumable,
    check_run_folder,
    train,
)


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
    """Train on a named source with its recipe, overridden by any given options:
    ``run(resolve_spec(...), out=out, resume=resume)``.

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
        Continue an interrupted run in ``out`` (with the same settings, `check_same_run`).
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
    if resume and out is not None:
        check_resumable(out)  # before loading and auditing, which can take minutes
    spec = resolve_spec(data, root=root, init=init, loss=loss, test=test, test_data=test_data,
                        fold=fold, fold_seed=fold_seed, audit_folder=audit_folder,
                        load_options=load_options, addons=addons, addons_on=addons_on,
                        addons_off=addons_off, progress=progress, log=log, **overrides)
    return run(spec, out=out, resume=resume, root=root, progress=progress, log=log)


def run(spec: RunSpec, *, out: str | os.PathLike | None = None, resume: bool = False,
        root: str | os.PathLike | None = None, progress: bool = True,
        log: Callable[[str], None] = print,
        eval_dir: str | os.PathLike | None = None) -> TrainResult:
    """Train the run ``spec`` describes into ``out`` (default ``runs/<data>...``).

    The spec is saved there as ``spec.json``; with ``resume`` the saved one must match
    (`check_same_run`, before any data is loaded). With a test set, the run's model is
    evaluated once (its figures into ``eval_dir`` when given) when it is made of several
    checkpoints, has prediction adjusters or ``eval_dir`` is given: `TrainResult.evaluation`,
    with `TrainResult.model_test` / `TrainResult.adjusted_test` taken from it.
    """
    from noisylab.data import load

    config = spec.config
    out = Path(out) if out else default_run_dir(spec.data, init=spec.init, loss=config.loss,
                                                seed=config.seed)
    if resume:
        check_resumable(out)
        check_same_run(out, spec)
    check_run_folder(out, resume=resume)
    train_set = load(spec.data, root=root, progress=progress, **spec.load_options)
    held_out = None
    if spec.fold is not None:
        train_set, held_out = fold_split(train_set, spec.fold, seed=spec.fold_seed)
    test_set, what = (held_out, f"held-out fold {spec.fold[0]}/{spec.fold[1]} of {spec.data}") \
        if held_out is not None else evaluation_set(
            spec.data, root=root, test=spec.test, test_data=spec.test_data,
            load_options=spec.load_options, progress=progress)
    if test_set is not None:
        log(f"reporting test accuracy on {what} ({len(test_set)} images; never used to choose)")
    log(_training_line(spec, len(train_set), len(train_set.classes), out))
    ckpt = None if config.init == "scratch" else load_checkpoint(config.init)
    reads = side_input_addon(spec.addons, config, ckpt, spec.addons_off, log=log)
    side = None
    if reads is not None:
        side = make_side_inputs(
            reads, train_set, test_set, log=log,
            way_out=f"pass --no-addon {reads}" if ckpt is None else
            "start from a checkpoint that reads no side inputs (--init)")
    if distributed.is_writer():
        prepare_output(out, "run", reuse=True)
        write_json(out / SPEC_FILE, spec.to_dict())
    result = train(train_set, config, out_dir=out, test_set=test_set,
                   init_state=None if ckpt is None else ckpt.state_dict,
                   resume=resume, progress=progress, log=log, side=side)
    if not distributed.is_writer():  # under torchrun rank 0 alone scores and writes the rest
        return result
    adjusters = fit_adjusters(spec.addons, train_set, result.out_dir, reads=reads, log=log)
    if test_set is not None and (result.model or adjusters or eval_dir is not None):
        from noisylab.evaluate import evaluate

        figures = evaluate(result.out_dir, test_set, out_dir=eval_dir, adjusters=adjusters)
        result.evaluation = {**figures, "set": what}
        if result.model:
            result.model_test = record_model_test(result.out_dir, figures, what)
        result.adjusted_test = figures["adjusted"] or None
    return result


def _training_line(spec: RunSpec, n: int, num_classes: int, out: Path) -> str:
    config = spec.config
    return (f"training {config.arch} on {spec.data} ({n} images, {num_classes} classes) "
            f"with loss {config.loss} for {config.epochs} epochs"
            + (f", then {config.distill_epochs} of distillation into a {config.student_arch}"
               + (f" (labels voted by the last {config.distill_votes} epochs)"
                  if config.distill_votes > 1 else "")
               if config.distill_epochs else "")
            + f" -> {out}")


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
                     folder: str | os.PathLike | None = None,
                     result=None) -> tuple[str, list | None, dict]:
    """The loss an audit of ``data`` recommends, the transition matrix the audit measured and
    ``{"kind", "recommended_loss", "audit"}`` for the record.

    ``result`` (an `noisylab.audit.AuditResult`) is used when given. Else an audit saved by an
    earlier command in ``folder/audit.json`` (default ``runs/audit-<data>``), else the audit is
    run there and its returned result used (never read back from the file it just wrote).
    """
    folder = Path(folder) if folder is not None else audit_dir(data)
    saved = folder / "audit.json"
    if result is None and not saved.exists():
        if distributed.is_distributed():
            raise NoisylabError(
                f"--loss auto reads the audit of {data}, which is not in {folder} yet; run "
                f"`noisylab audit {data} --out {folder}` first (with the same --root; under "
                "torchrun too, its folds then share the processes), or pass --loss")
        from noisylab.audit import audit

        log(f"--loss auto: auditing {data} first (saved to {folder})")
        result = audit(data, root=root, out_dir=folder, progress=progress, log=log)
    if result is not None:
        diagnosis = result.diagnosis
        kind, loss, summary, where = (diagnosis.kind, diagnosis.recommended_loss,
                                      diagnosis.summary, str(result.out_dir))
        matrix = diagnosis.transition_matrix.tolist()
    else:
        kind, loss, summary, matrix = _saved_audit(saved)
        where = str(saved)
    if loss in (None, "relabel"):
        raise NoisylabError(f"the audit of {data} recommends no loss ({summary[:120]}...); "
                            "pass --loss explicitly")
    log(f"--loss auto: the audit ({where}) says {kind}; using {loss}")
    return loss, matrix, {"kind": kind, "recommended_loss": loss, "audit": where}


def _saved_audit(saved: Path) -> tuple[str, str | None, str, list]:
    """``(kind, recommended loss, summary, T)`` of an audit an earlier command saved."""
    try:
        summary = json.loads(saved.read_text())
        diagnosis = summary["diagnosis"]
        return (diagnosis["kind"], diagnosis["recommended_loss"], diagnosis["summary"],
                summary["transition"]["matrix"])
    except (OSError, ValueError, KeyError) as err:
        raise NoisylabError(f"{saved} is unreadable ({err}); delete it to re-run the audit") from None
