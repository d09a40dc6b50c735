"""From a dataset name to a trained run: the recipe, the data, the initial weights, the loss.

`train_on` is what ``noisylab train`` and the experiment runner call; `noisylab.train.train` is
the loop itself. `evaluation_set` names the clean set a run reports on (the recipe's test split,
another source, or a held-out cross-validation fold), so a caller can score a checkpoint on the
same images the run reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from noisylab import distributed
from noisylab.checkpoints import check_compatible, load_checkpoint
from noisylab.errors import NoisylabError
from noisylab.files import write_json
from noisylab.recipes import recipe_for
from noisylab.runs import audit_dir, default_run_dir, find_pretrained
from noisylab.train import SideInputs, TrainConfig, TrainResult, check_resumable, train
from noisylab.writer_size import FILE as WRITER_SIZE_FILE
from noisylab.writer_size import WriterSize, lookalike_groups

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
    writer_size: bool = True,
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
    writer_size : bool
        When the training images are photos whose file names name their writers and some
        classes are look-alikes (trainPart1; not its digits), also fit
        `noisylab.writer_size.WriterSize` on them and save it in the run folder, where
        ``noisylab evaluate`` finds it; with a test set, report the kept model's test figures
        with it (`TrainResult.writer_size_test`).
    **overrides
        `noisylab.train.TrainConfig` fields (``epochs``, ``lr``, ``arch``, ...); None means
        "the recipe's value".
    """
    from noisylab.data import load
    from noisylab.losses import LOSSES
    from noisylab.models import check_architecture

    recipe = recipe_for(data)
    loss = loss or recipe.loss
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
    init_state, init_name = None, "scratch"
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
    side = None
    if config.side_reader is not None:
        side = writer_side_inputs(
            train_set, test_set, data=data, log=log,
            way_out="choose another --arch" if init_state is None else
            f"start from a checkpoint of another architecture than {config.arch} (--init)")
    result = train(train_set, config, out_dir=out, test_set=test_set, init_state=init_state,
                   resume=resume, progress=progress, log=log, side=side)
    if not distributed.is_writer():  # under torchrun rank 0 alone scores and writes the rest
        return result
    if test_set is not None and result.model:
        result.model_test = score_run_model(result.out_dir, test_set, what)
    # A file left by an earlier run in this folder would not match this run's model.
    (Path(result.out_dir) / WRITER_SIZE_FILE).unlink(missing_ok=True)
    # A model that reads the box itself needs no second opinion on it (counting it twice did
    # worse: README).
    if (writer_size and side is None and train_set.boxes is not None
            and lookalike_groups(train_set.classes)):
        result.writer_size_test = fit_writer_size(train_set, result.out_dir, test_set, log=log)
    if save_one_of_each(train_set, result.out_dir, log=log) and test_set is not None:
        result.one_of_each_test = score_one_of_each(result.out_dir, test_set)
    return result


def writer_side_inputs(train_set, test_set=None, *, data: str = "the data", log=print,
                       way_out: str = "choose another --arch") -> SideInputs:
    """What ``cnn-m+box`` reads beside the pixels: each image's ink box relative to its
    writer's median box (`noisylab.writer_size.side_inputs`).

    A training image's reference leaves it out (`noisylab.writer_size.leave_one_out`); a test
    image's is the median of its writer's training images, as for any new image
    (`WriterSize.side_inputs_for`). The references go into the checkpoints, so that
    ``noisylab evaluate`` makes the same numbers.

    Raises
    ------
    NoisylabError
        When the images have no ink boxes or their file names name no writers (the message
        ends with ``way_out``).
    """
    from noisylab.writer_size import leave_one_out, side_inputs

    if train_set.boxes is None or (test_set is not None and test_set.boxes is None):
        raise NoisylabError(f"this model also reads each character's ink box relative to its "
                            f"writer's, and {data} has no ink boxes (trainPart1's photos have "
                            f"them); {way_out}")
    try:
        references = WriterSize.references(train_set.boxes, train_set.ids, train_set.classes)
    except NoisylabError as err:
        raise NoisylabError(f"{err}; this model needs each image's writer, so {way_out}"
                            ) from None
    train_side = side_inputs(*leave_one_out(train_set.boxes, train_set.ids))
    test_side = (None if test_set is None
                 else references.side_inputs_for(test_set.boxes, test_set.ids))
    known = int(train_side[:, -1].sum())
    log(f"side inputs: the ink box relative to the writer's median box ({len(references.reference)} "
        f"writers) for {known} of {len(train_side)} training images"
        + ("" if test_side is None else
           f" and {int(test_side[:, -1].sum())} of {len(test_side)} test images"))
    return SideInputs(train_side, test_side, references.to_dict())


def fit_writer_size(train_set, out_dir: Path, test_set=None, *, log=print) -> dict | None:
    """Fit and save the run's `noisylab.writer_size.WriterSize`; score the run with it.

    Returns ``{"acc", "nll", "ece", "acc_glyph", "images", "changed"}`` on ``test_set`` (None
    without one, or when the training file names name no writers: then nothing is saved).
    """
    from noisylab.evaluate import evaluate

    try:
        model = WriterSize.fit(train_set.boxes, train_set.ids, train_set.labels.numpy(),
                               train_set.classes)
    except NoisylabError as err:
        log(f"no writer-size model: {err}")
        return None
    path = model.save(Path(out_dir) / WRITER_SIZE_FILE)
    log(f"writer-size model: {len(model.reference)} writers' reference boxes, "
        f"{len(model.groups)} look-alike groups' size models -> {path}")
    if test_set is None or test_set.boxes is None:
        return None
    figures = evaluate(out_dir, test_set, writer_size=model)
    return {**{k: float(figures[k]) for k in ("acc", "nll", "ece")}, **figures["writer_size"]}


def save_one_of_each(train_set, out_dir: Path, *, log=print) -> Path | None:
    """Save which classes each writer has among the training images
    (`noisylab.one_of_each.OneOfEach`), for ``noisylab evaluate`` to read a writer's test images
    as one of each. Returns its path; None, with nothing saved, when the file names name no
    writers (MNIST: quietly) or a writer has a class twice (said in the log).
    """
    from noisylab.one_of_each import FILE, OneOfEach
    from noisylab.writer_size import writers_of

    path = Path(out_dir) / FILE
    path.unlink(missing_ok=True)  # an earlier run's record would not match this run's images
    if not any(w is not None for w in writers_of(train_set.ids)):
        return None
    try:
        record = OneOfEach.fit(train_set.ids, train_set.labels.numpy(), train_set.classes)
    except NoisylabError as err:
        log(f"no one-of-each record: {err}")
        return None
    log(f"one of each: the classes of {len(record.seen)} writers' training images -> "
        f"{record.save(path)}")
    return path


def score_one_of_each(run_dir: Path, test_set) -> dict | None:
    """A run's model scored on ``test_set`` with each writer's images read as one of each
    (`noisylab.one_of_each`, with the run's writer-size model too when it has one, as
    ``noisylab evaluate`` does).

    Returns
    -------
    dict or None
        `OneOfEach.apply`'s ``info`` with ``acc`` (as read) and ``acc_alone`` (each image
        alone); None when the run folder has no ``one_of_each.json``.
    """
    from noisylab.evaluate import evaluate
    from noisylab.one_of_each import FILE, OneOfEach

    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    size = Path(run_dir) / WRITER_SIZE_FILE
    figures = evaluate(run_dir, test_set, one_of_each=OneOfEach.load(path),
                       writer_size=WriterSize.load(size) if size.is_file() else None)
    return {**figures["one_of_each"], "acc": figures["acc"]}


def score_run_model(out_dir: Path, test_set, what: str) -> dict:
    """Test figures of a run's model made of several checkpoints (``model.json``), added there.

    Returns ``{"set": what, "acc", "nll", "ece"}`` on ``test_set`` (`noisylab.evaluate.evaluate`
    averages the members' class probabilities).
    """
    from noisylab.evaluate import evaluate
    from noisylab.runs import MODEL_FILE

    figures = evaluate(out_dir, test_set)
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
