"""The training loop, readable top to bottom.

``train(train_set, config, out_dir=...)`` fits a CNN on the *given* labels of ``train_set`` and
writes ``out_dir/``:

- ``metrics.jsonl`` — one JSON line per epoch: train loss, the validation criterion (computed on
  a split carved from the given labels), ``val_acc`` (argmax agreement with the given validation
  labels: ordinary accuracy when they are clean, near 0 for a good model on complementary
  labels), ``step`` (optimiser steps so far), test accuracy / NLL / ECE when a test set is
  given, seconds of training and images per second;
- ``epoch-NNN``, ``best`` and ``last`` checkpoints (see `noisylab.checkpoints`); ``last`` also
  holds the optimiser, schedule and RNG state for ``resume=True``.

The loop never reads clean training labels: the epoch kept as ``best`` is the latest one whose
validation criterion (the loss's own, or the forward NLL under ``val_transition``), on given
labels, is within one standard error of the best value so far. A test set, when given, is only
*reported*.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from noisylab import distributed, metrics
from noisylab.allocator import keep_freed_memory
from noisylab.augment import random_affine, random_stroke_width
from noisylab.checkpoints import (
    capture_rng_state,
    copy_checkpoint,
    epoch_stem,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from noisylab.errors import NoisylabError
from noisylab.losses import (
    PseudoLabel,
    ValidationScore,
    allowed_probabilities,
    check_pseudo_label_view,
    make_loss,
)
from noisylab.models import (
    build_model,
    check_architecture,
    load_model,
    normalise,
    reads_side_inputs,
    side_inputs_of,
    transfer_weights,
)
from noisylab.neighbours import warm_start_labels
from noisylab.outputs import check_output, prepare_output
from noisylab.runs import MODEL_FILE, read_metrics, write_run_model

PRECISIONS = ("auto", "fp32", "bf16")

AUGMENTATION_RANGES = {"elastic": (0.0, 100.0), "shear": (0.0, 1.0), "stretch": (0.0, 0.9),
                       "stroke_width": (0.0, 1.0)}
"""The values each augmentation field of `TrainConfig` may take, both ends included."""


def check_augmentation(settings: dict, prefix: str = "") -> None:
    """Raise `NoisylabError` when an augmentation field of ``settings`` is out of its range
    (`AUGMENTATION_RANGES`); ``prefix`` goes before the field's name in the message."""
    for name, (low, high) in AUGMENTATION_RANGES.items():
        value = settings.get(name, low)
        if not low <= value <= high:
            raise NoisylabError(f"{prefix}{name} must be between {low:g} and {high:g}, got {value}")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved with every checkpoint).

    Attributes
    ----------
    arch : str
        Architecture, a key of `noisylab.models.ARCHITECTURES`.
    loss : str
        A key of `noisylab.losses.LOSSES`.
    epochs, batch_size : int
        Passes over the training split; images per optimiser step.
    lr, weight_decay : float
        Peak learning rate of the one-cycle schedule; AdamW's decoupled weight decay.
    seed : int
        Seeds the split, the model initialisation, the batch order and the augmentation.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    precision : {"auto", "fp32", "bf16"}
        Of the training forward pass (`autocast_dtype`): ``"auto"`` is bfloat16 on a CUDA GPU
        from Ampere on, else float32. ``"bf16"`` on a CPU that computes it natively
        (AVX512-BF16, AMX) is faster, at some cost in accuracy, so it is asked for, not
        assumed.
    val_fraction : float
        Share of the given labels held out to choose the best epoch.
    augment : bool
        Random affine augmentation (rotation, scale, shift) of training batches.
    elastic : float
        Strength in pixels of an elastic distortion added to that augmentation (Simard et al.
        2003 used 34 on MNIST, with a 4-pixel Gaussian); 0 for none.
    shear, stretch : float
        Random slant (horizontal shear factor up to ``shear``) and width change (up to
        ``stretch``, a fraction) added to that augmentation (`noisylab.augment.random_affine`);
        0 for none.
    stroke_width : float
        Random thickening or thinning of the strokes before that augmentation, as by another
        pen (`noisylab.augment.random_stroke_width`, up to this blend weight); 0 for none.
    freeze_features : bool
        Train only the head; the backbone keeps its initial (e.g. pretrained) weights.
    pseudo_label : float
        Weight of self-training on confident predictions (`noisylab.losses.PseudoLabel`); 0 off.
    pseudo_label_view : {"augmented", "clean"}
        Which view of a batch makes those pseudo-labels: the augmented images the loss is taken
        on, or the un-augmented ones (FixMatch-style: targets from images the model sees
        clearly; one more forward pass a step, without gradients).
    warm_start_epochs : int
        Epochs at the start of phase 1 that also fit, with cross-entropy, the class each image's
        100 nearest neighbours (in a PCA of the pixels) vote for by their given labels, where
        the vote is clear (`noisylab.neighbours.warm_start_labels`); 0 for none. Learning from
        complementary labels alone is slowest at the start, and the neighbours' vote gives the
        first epochs ordinary labels to learn from.
    distill_epochs : int
        Epochs of a second phase, 0 for none. After ``epochs`` on the given labels, each training
        image is relabelled with the most probable class its given label allows (see
        `noisylab.losses.allowed_probabilities`), and a fresh model (from the same initial weights) is trained with
        cross-entropy on those labels: self-distillation into a "born-again" network
        (Furlanello et al., ICML 2018; the noisy student of Xie et al., CVPR 2020), which learns
        the teacher's clusters without inheriting its confirmation bias. The validation criterion
        and the held-out images stay those of the given labels, so the best epoch is chosen
        across both phases alike.
    distill_votes : int
        How many of phase 1's last epochs make those labels: their allowed-class probabilities
        are averaged (a temporal ensemble of the teacher, read from the epoch checkpoints), so
        a label does not hang on the last epoch's batch order alone.
    distill_arch : str, optional
        Architecture of the phase-2 student; None for ``arch``. A bigger teacher makes better
        labels, and a smaller student learns them in less time. The initial weights (e.g.
        pretrained) go to a student of their own architecture only; another starts at random.
    distill_ensemble : bool
        Make the run's model the teacher (the last phase-1 epoch) and the kept student together,
        their class probabilities averaged (``model.json``, `noisylab.runs.run_model`), when the
        kept epoch is a student's. The noisy-label validation cannot tell the three apart; the
        pair is an ensemble of two networks that learnt differently.
    transition : list of list of float, optional
        ``T[i, j] = P(given = j | true = i)`` for the ``forward`` and ``fwd`` losses.
    val_transition : list of list of float or str, optional
        A measured ``T`` (e.g. an audit's ``transition.json``) that *chooses the best epoch*:
        the validation criterion becomes the forward NLL ``-log (softmax @ T)[given]`` of the
        held-out given labels, the likelihood of what the labels really are, whatever the loss
        (the loss's own criterion is still recorded). Complementary labels need it: their own
        criterion ``-log(1 - p[given])`` is unbounded on the few given labels that are the true
        class (an audit's keep rate), and those few then decide the epoch;
        under ``T`` such a label costs at most ``-log T[i, i]``.
    init : str
        Where the initial weights came from (``"scratch"`` or a checkpoint path), for the record.
    data : str
        The training data's name, for the record.
    """

    arch: str = "lenet"
    loss: str = "ce"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    val_fraction: float = 0.1
    augment: bool = True
    elastic: float = 0.0
    shear: float = 0.0
    stretch: float = 0.0
    stroke_width: float = 0.0
    freeze_features: bool = False
    pseudo_label: float = 0.0
    pseudo_label_view: str = "augmented"
    warm_start_epochs: int = 0
    distill_epochs: int = 0
    distill_votes: int = 1
    distill_arch: str | None = None
    distill_ensemble: bool = False
    transition: list | str | None = None
    val_transition: list | str | None = None
    init: str = "scratch"
    data: str = ""

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise NoisylabError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 <= self.warm_start_epochs <= self.epochs:
            raise NoisylabError(f"--warm-start-epochs must be between 0 and --epochs "
                                f"({self.epochs}), got {self.warm_start_epochs}")
        if self.distill_epochs < 0:
            raise NoisylabError("--distill-epochs must be 0 or more")
        # Votes beyond the epochs matter only to a run that distils: a recipe's votes must not
        # stop a shorter run without phase 2 (--epochs 2 --distill-epochs 0 on mnistTask3).
        if self.distill_votes < 1 or (self.distill_epochs and self.distill_votes > self.epochs):
            raise NoisylabError(f"--distill-votes must be between 1 and --epochs ({self.epochs}), "
                                f"got {self.distill_votes}; lower --distill-votes or pass "
                                "--distill-epochs 0 (recipes set both)")
        check_architecture(self.arch, option="--arch")
        if self.distill_arch is not None:  # fail now, not after phase 1
            check_architecture(self.distill_arch, option="--distill-arch")
        if self.freeze_features and self.distill_epochs and self.student_arch != self.arch:
            raise NoisylabError("--freeze-features keeps the initial backbone, which a student of "
                                "another architecture (--distill-arch) does not have; drop one")
        if not self.lr > 0:
            raise NoisylabError(f"--lr must be positive, got {self.lr}")
        check_augmentation(vars(self))
        check_pseudo_label_view(self.pseudo_label_view)  # fail now, not when phase 1 starts
        if self.precision not in PRECISIONS:
            raise NoisylabError(f"unknown precision {self.precision!r}; use "
                                f"{', '.join(PRECISIONS)}")
        if not 0 < self.val_fraction < 0.5:
            raise NoisylabError(f"the validation fraction must be in (0, 0.5), got {self.val_fraction}")

    @property
    def student_arch(self) -> str:
        """The architecture phase 2 trains (``distill_arch``, else ``arch``)."""
        return self.distill_arch or self.arch

    @property
    def side_readers(self) -> list[str]:
        """The architectures of this run that can read numbers beside the pixels
        (`noisylab.models.reads_side_inputs`), of ``arch`` and ``student_arch``."""
        return [a for a in dict.fromkeys((self.arch, self.student_arch)) if reads_side_inputs(a)]


@dataclass
class SideInputs:
    """Numbers per image beside the pixels, for a model that reads them (`noisylab.models.CharCNN`
    with ``side_inputs``), made by an add-on (`noisylab.addons.SideInputProvider`).

    Attributes
    ----------
    train : np.ndarray
        ``(N, S)`` float32, one row per image of the training set, in its order; the last
        column is 1 where the others are known, 0 where not.
    test : np.ndarray, optional
        ``(M, S)``, one row per image of the test set.
    record : dict
        Saved in every checkpoint's metadata as ``side_inputs``: the add-on and its fitted
        state, what it takes to make these numbers for new images
        (`noisylab.evaluate.side_inputs_for`).
    """

    train: np.ndarray
    test: np.ndarray | None = None
    record: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a finished run produced: its folder, best epoch and the per-epoch history.

    ``model`` names the checkpoints that are the run's model when they are several (see
    `TrainConfig.distill_ensemble`), else None: the model is ``best``. ``model_test`` is filled
    by `noisylab.pipeline.train_on` when there is such a model and a test set: its figures.
    ``adjusted_test``, also filled there when the run has prediction adjusters and a test set,
    holds the run's model's test figures with each adjuster (``{name: figures}``, see
    `noisylab.evaluate.evaluate`'s ``adjusted``). ``evaluation`` is that one evaluation of the
    run's model on its test set (`noisylab.evaluate.evaluate`'s figures and ``set``, the set's
    name), when it was made, for the callers to reuse.
    """

    out_dir: Path
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    model: list[str] | None = None
    model_test: dict | None = None
    adjusted_test: dict | None = None
    evaluation: dict | None = None

    @property
    def best(self) -> dict:
        return next(m for m in self.history if m["epoch"] == self.best_epoch)


def train(
    train_set,
    config: TrainConfig,
    *,
    out_dir: str | os.PathLike,
    test_set=None,
    init_state: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    side: SideInputs | None = None,
) -> TrainResult:
    """Train a model on the given labels of ``train_set``; checkpoint and log every epoch.

    The run is a loop over named phases: the *main* phase fits the given labels (its first
    ``warm_start_epochs`` also fit the neighbours' vote, the *warm start*); the *distillation*
    phase, when asked for, fits a fresh model on the main phase's labels.

    Parameters
    ----------
    train_set : LabeledImages
        Images ``(N, 1, 28, 28)`` uint8 and their *given* labels ``(N,)`` (ordinary, noisy or
        complementary, as the loss expects).
    config : TrainConfig
    out_dir : path
        The run folder. With ``resume=False`` an existing run there is an error.
    test_set : LabeledImages, optional
        Clean-labelled images, only to report test figures each epoch.
    init_state : dict of str to Tensor, optional
        Initial weights (e.g. a pretrained checkpoint); the head is re-initialised when its
        class count differs.
    resume : bool
        Continue the run in ``out_dir`` from its last complete epoch.
    progress : bool
        Show a progress bar per epoch.
    log : callable
        Where one-line messages go.
    side : SideInputs, optional
        Numbers per image that the models of architectures that can read them
        (`TrainConfig.side_readers`) read beside the pixels; the others ignore them.

    Returns
    -------
    TrainResult
    """
    check_run_folder(out_dir, resume=resume)
    run = _open_run(train_set, config, Path(out_dir), test_set=test_set, init_state=init_state,
                    progress=progress, log=log, side=side)
    phase = _main_phase(run)
    start_epoch = 1
    if resume:
        phase, start_epoch = _resume_run(run, phase)
    distributed.barrier()  # every rank has looked for an earlier run before rank 0 starts one
    if distributed.is_writer():
        prepare_output(run.out_dir, "run", reuse=True)
        _write_history(run.out_dir / "metrics.jsonl", run.history)
    warm_start = _warm_start(run) if start_epoch <= config.warm_start_epochs else None
    for epoch in range(start_epoch, run.total_epochs + 1):
        if epoch == config.epochs + 1:
            phase = _distillation_phase(run)
        _fit_epoch(run, phase, epoch, warm_start if epoch <= config.warm_start_epochs else None)
    best_epoch = max((m["epoch"] for m in run.history if m["best_so_far"]), default=0)
    members = (_run_model_members(config, best_epoch, run.out_dir)
               if distributed.is_writer() else None)
    return TrainResult(out_dir=run.out_dir, best_epoch=best_epoch, history=run.history,
                       model=members)


# ---------------------------------------------------------------------------------- the phases


@dataclass
class _Tensors:
    """The run's images, given labels and side inputs on the training device.

    ``x_*`` uint8 ``(n, 1, 28, 28)``; ``y_fit``, ``y_val`` given labels ``(n,)`` (tensors);
    ``y_test`` clean test labels ``(M,)`` (numpy, for reporting only); ``s_*`` side inputs
    ``(n, S)`` or None.
    """

    x_fit: torch.Tensor
    y_fit: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: np.ndarray | None = None
    s_fit: torch.Tensor | None = None
    s_val: torch.Tensor | None = None
    s_test: torch.Tensor | None = None


@dataclass
class _Run:
    """What stays the same across the epochs and phases of one run, and its history so far."""

    config: TrainConfig
    device: torch.device
    out_dir: Path
    log: Callable[[str], None]
    progress: bool
    num_classes: int
    data: _Tensors
    loss_fn: torch.nn.Module
    selector: torch.nn.Module
    steps_per_epoch: int
    init_state: dict | None
    meta: dict
    history: list = field(default_factory=list)
    best_score: ValidationScore | None = None

    @property
    def total_epochs(self) -> int:
        return self.config.epochs + self.config.distill_epochs


@dataclass
class _Phase:
    """One phase's model, optimiser, schedule, the loss it fits and the labels it fits."""

    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    fit_loss: torch.nn.Module
    targets: torch.Tensor


def _open_run(train_set, config, out_dir, *, test_set, init_state, progress, log, side) -> _Run:
    """Join the job, pick the device, place the data there and make the losses."""
    # Under torchrun: join the job (cuda:LOCAL_RANK on a GPU); rank 0 logs and writes.
    device = distributed.setup(_pick_device(config.device), batch_size=config.batch_size)
    log = distributed.on_writer(log)
    if device.type == "cpu":
        torch.set_num_threads(distributed.threads_per_process())
        keep_freed_memory()  # each batch reuses the last one's memory instead of new pages
    forward = "bfloat16" if autocast_dtype(config.precision, device) else "float32"
    emulated = " (emulated here: slower than float32)" if (
        forward == "bfloat16" and not native_bf16(device)) else ""
    log(f"device {device.type}, {forward} forward pass (--precision {config.precision}){emulated}")
    torch.manual_seed(config.seed)
    num_classes = len(train_set.classes)
    data = _place_data(train_set, test_set, side, config, device)
    # The loss the given labels are read with; its criterion also scores validation throughout.
    loss_fn = make_loss(config.loss, num_classes=num_classes, transition=config.transition)
    if config.pseudo_label:
        loss_fn = PseudoLabel(loss_fn, weight=config.pseudo_label, view=config.pseudo_label_view)
    loss_fn = loss_fn.to(device)
    # What chooses the best epoch: the loss's own criterion, or the likelihood under a measured T.
    selector = loss_fn if config.val_transition is None else make_loss(
        "forward", num_classes=num_classes, transition=config.val_transition).to(device)
    steps_per_epoch = len(data.y_fit) // config.batch_size
    if steps_per_epoch == 0:
        raise NoisylabError(
            f"{len(data.y_fit)} training images are fewer than one batch of {config.batch_size}; "
            "lower --batch-size")
    meta = {"num_classes": num_classes,
            "class_names": list(train_set.classes), "config": asdict(config)}
    if data.s_fit is not None:
        meta["side_inputs"] = side.record
    return _Run(config=config, device=device, out_dir=out_dir, log=log, progress=progress,
                num_classes=num_classes, data=data, loss_fn=loss_fn, selector=selector,
                steps_per_epoch=steps_per_epoch, init_state=init_state, meta=meta)


def _place_data(train_set, test_set, side, config, device) -> _Tensors:
    """Hold out part of the *given* labels for validation; everything lives on the device as
    uint8 and batches are slices of it."""
    fit_idx, val_idx = stratified_split(train_set.labels.numpy(), config.val_fraction, config.seed)
    data = _Tensors(x_fit=train_set.images[fit_idx].to(device),
                    y_fit=train_set.labels[fit_idx].to(device),
                    x_val=train_set.images[val_idx].to(device),
                    y_val=train_set.labels[val_idx].to(device))
    if test_set is not None:
        data.x_test, data.y_test = test_set.images.to(device), test_set.labels.numpy()
    if side is not None:  # the numbers beside the pixels, for a model that reads them
        if not config.side_readers:
            raise NoisylabError(f"{config.arch} reads only the pixels, not side inputs; choose a "
                                "cnn-* architecture or train without side inputs")
        if test_set is not None and side.test is None:
            raise NoisylabError("side inputs were given for the training images but not for "
                                "the test images")
        data.s_fit, data.s_val = (torch.from_numpy(side.train[i.numpy()]).to(device)
                                  for i in (fit_idx, val_idx))
        if test_set is not None:
            data.s_test = torch.from_numpy(side.test).to(device)
    return data


def _main_phase(run: _Run) -> _Phase:
    """The main phase: a model from the initial weights (or random) fits the given labels."""
    model, optimizer, schedule = _fresh_model(
        run.config, run.num_classes, run.init_state, run.device,
        run.config.epochs * run.steps_per_epoch, side=run.data.s_fit, log=run.log)
    return _Phase("main", model, optimizer, schedule, run.loss_fn, run.data.y_fit)


def _distillation_phase(run: _Run) -> _Phase:
    """The distillation phase: a fresh student fits the main phase's labels with CE."""
    model, optimizer, schedule, fit_loss, targets = _start_distillation(
        run.config, run.num_classes, run.init_state, run.device, run.steps_per_epoch,
        run.loss_fn, run.data.x_fit, run.data.y_fit, run.data.s_fit, out_dir=run.out_dir,
        log=run.log)
    return _Phase("distillation", model, optimizer, schedule, fit_loss, targets)


def _resume_run(run: _Run, phase: _Phase) -> tuple[_Phase, int]:
    """Load the last complete epoch of the run in ``run.out_dir`` into the phase it belongs to;
    ``(phase, first epoch still to train)``."""
    last = _read_last(run.out_dir, run.device)
    if int(last.train_state["epoch"]) >= run.config.epochs + 1:  # stopped in distillation
        phase = _distillation_phase(run)
    state = _resume(last, phase.model, phase.optimizer, phase.schedule)
    run.best_score = state["best_score"]
    run.history = [r for r in read_metrics(run.out_dir) if r["epoch"] <= state["epoch"]]
    run.log(f"resuming {run.out_dir} after epoch {state['epoch']}")
    return phase, state["epoch"] + 1


def _warm_start(run: _Run) -> torch.Tensor:
    """The warm start: the class the neighbours' given labels vote for (``-1`` where the vote is
    not clear), fitted in the main phase's first epochs."""
    started = time.perf_counter()
    data = run.data
    labels = warm_start_labels(data.x_fit.cpu(), data.y_fit.cpu(), run.num_classes,
                               kind=run.loss_fn.kind, seed=run.config.seed).to(run.device)
    run.log(f"warm start: the neighbours' labels vote clearly for "
            f"{100 * float((labels >= 0).float().mean()):.1f}% of the training images "
            f"({time.perf_counter() - started:.0f} s); fitted in the first "
            f"{run.config.warm_start_epochs} epoch(s)")
    return labels


def _fit_epoch(run: _Run, phase: _Phase, epoch: int, warm_start: torch.Tensor | None) -> None:
    """Train one epoch of ``phase``, score it, record it and checkpoint it."""
    config = run.config
    # One pass over the training split in a seeded order, with seeded augmentation: the
    # epoch's randomness depends only on (seed, epoch), so a resumed run matches.
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    started = time.perf_counter()
    mean_loss = train_one_epoch(
        distributed.wrap(phase.model), phase.fit_loss, phase.optimizer, phase.schedule,
        run.data.x_fit, phase.targets, side=run.data.s_fit, generator=gen,
        batch_size=config.batch_size, augment=config.augment, elastic=config.elastic,
        shear=config.shear, stretch=config.stretch, stroke_width=config.stroke_width,
        warm_start=warm_start, precision=config.precision,
        desc=f"epoch {epoch}/{run.total_epochs}", progress=run.progress,
        on_bad_loss=lambda value, step: NoisylabError(
            f"the loss became {value} at epoch {epoch}, step {step}; lower --lr (now "
            f"{config.lr}); checkpoints of earlier epochs in {run.out_dir} are intact"))
    seconds = time.perf_counter() - started
    record = _score_epoch(run, phase, epoch, mean_loss, seconds)
    run.history.append(record)
    if distributed.is_writer():
        _append_history(run.out_dir / "metrics.jsonl", record)
        _save_epoch(run, phase, epoch, record)
    distributed.barrier()  # the checkpoints are complete before any rank reads them
    run.log(_epoch_line(record, run.total_epochs))


def _score_epoch(run: _Run, phase: _Phase, epoch: int, mean_loss: float,
                 seconds: float) -> dict:
    """The epoch's ``metrics.jsonl`` record: the validation criterion on given labels chooses
    (and updates ``run.best_score``); test figures only report."""
    config, data, selector, loss_fn = run.config, run.data, run.selector, run.loss_fn
    val_logits = distributed.predict_sharded(predict_logits, phase.model, data.x_val,
                                             side=data.s_val)
    val_score = selector.validation_score(val_logits, data.y_val)
    record = {"epoch": epoch, "phase": 1 if epoch <= config.epochs else 2,
              "train_loss": mean_loss,
              "val_" + selector.criterion: val_score.value, "val_mode": val_score.mode,
              "val_se": val_score.se}
    if selector is not loss_fn:
        record["val_" + loss_fn.criterion] = loss_fn.validation_score(val_logits,
                                                                      data.y_val).value
    record.update({
        "val_acc": float((val_logits.argmax(1) == data.y_val).float().mean()),
        "step": epoch * run.steps_per_epoch,
        "seconds": seconds,
        "images_per_second": run.steps_per_epoch * config.batch_size / seconds,
        "lr": phase.schedule.get_last_lr()[0]})
    if data.x_test is not None:
        probs = distributed.predict_sharded(predict_logits, phase.model, data.x_test,
                                            side=data.s_test)
        probs = probs.softmax(1).cpu().numpy()
        record.update({"test_" + k: v for k, v in metrics.summary(probs, data.y_test).items()})
    # The epoch kept as `best` is the latest one within one standard error of the best
    # score so far: the split cannot tell it from the best, and the end of the one-cycle
    # schedule is where the model has converged.
    if val_score.improves_on(run.best_score):
        run.best_score = val_score
    record["best_so_far"] = val_score.within_one_se_of(run.best_score)
    return record


def _save_epoch(run: _Run, phase: _Phase, epoch: int, record: dict) -> None:
    """Checkpoints: this epoch's weights, then ``best`` (when kept) and ``last`` (with the
    resume state)."""
    config, best = run.config, run.best_score
    stem = epoch_stem(epoch)
    metadata = {**run.meta, "architecture": config.arch if epoch <= config.epochs
                else config.student_arch, "epoch": epoch, "metrics": record}
    save_checkpoint(run.out_dir, stem, phase.model, metadata=metadata)
    if record["best_so_far"]:
        copy_checkpoint(run.out_dir, stem, "best")
    save_checkpoint(run.out_dir, "last", phase.model, metadata=metadata,
                    train_state={"optimizer": phase.optimizer.state_dict(),
                                 "schedule": phase.schedule.state_dict(), "epoch": epoch,
                                 "best_value": best.value, "best_mode": best.mode,
                                 "best_se": best.se, "rng": capture_rng_state()})


# ---------------------------------------------------------------------------------- helpers


def one_cycle(optimizer, max_lr: float, total_steps: int):
    """The one-cycle schedule (25% warm-up) over ``total_steps`` optimiser steps.

    Below 8 steps a cycle has no room for a warm-up (torch's OneCycleLR divides by zero at 4),
    so the rate stays at ``max_lr``.
    """
    if total_steps < 8:
        for group in optimizer.param_groups:
            group["lr"] = max_lr
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps,
                                               pct_start=0.25)


def train_one_epoch(model, loss_fn, optimizer, schedule, images, labels, *, generator,
                    side: torch.Tensor | None = None,
                    batch_size: int, augment: bool, elastic: float = 0.0,
                    shear: float = 0.0, stretch: float = 0.0, stroke_width: float = 0.0,
                    warm_start: torch.Tensor | None = None, precision: str = "auto",
                    desc: str = "", progress: bool = True,
                    on_bad_loss: Callable[[float, int], Exception] | None = None) -> float:
    """One pass over ``images`` ``(N, 1, 28, 28)`` uint8 in a random order; the mean loss.

    Batches are slices of the on-device tensors; the last partial batch is dropped so batch
    norm never sees a tiny batch. ``generator`` (CPU) draws the order and the augmentation
    (`noisylab.augment.random_affine`, with an ``elastic`` distortion of that many pixels, and
    its ``shear`` and ``stretch``; strokes first thickened or thinned up to ``stroke_width``).
    A loss that `needs_clean_view` (pseudo-labels from the un-augmented images) also gets
    their logits, from a forward pass without gradients, as ``target_logits``. ``warm_start``
    ``(N,)`` int64, if given, adds a cross-entropy towards those classes (-1: none), summed
    over the images that have one and divided by the batch size. ``precision`` is that of the
    forward pass (see `autocast_dtype`); weights, optimiser and loss stay in float32. ``side``
    ``(N, S)``, for a model that reads numbers beside the pixels, goes with its images.
    """
    model.train()
    device = images.device
    steps = len(images) // batch_size
    order = torch.randperm(len(images), generator=generator).to(device)
    clean_view = augment and getattr(loss_fn, "needs_clean_view", False)
    dtype = autocast_dtype(precision, device)
    autocast = dict(device_type=device.type, dtype=dtype, enabled=dtype is not None)
    total = 0.0
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False, unit="batch")
    for step in bar:
        batch = order[step * batch_size:(step + 1) * batch_size]
        x = images[batch].float().div_(255)
        # This rank's part of the global batch (all of it unless the model is data-parallel);
        # the augmentation is drawn for the whole batch, as one process draws it.
        mine = distributed.batch_shard(model, len(batch))
        extra = () if side is None else (side[batch[mine]],)
        targets = {}
        if clean_view:
            with torch.no_grad(), torch.autocast(**autocast):
                clean = x[mine].contiguous(memory_format=torch.channels_last)
                targets["target_logits"] = model(clean, *extra).float()
        if augment:
            if stroke_width > 0:
                x = random_stroke_width(x, generator, amount=stroke_width)
            x = random_affine(x, generator, elastic=elastic, shear=shear, stretch=stretch)
        batch, x = batch[mine], x[mine].contiguous(memory_format=torch.channels_last)
        with torch.autocast(**autocast):
            logits = model(x, *extra).float()
            loss = loss_fn(logits, labels[batch], **targets)
            if warm_start is not None:
                loss = loss + F.cross_entropy(logits, warm_start[batch], ignore_index=-1,
                                              reduction="sum") / len(batch)
        if not torch.isfinite(loss):
            raise (on_bad_loss or _bad_loss)(loss.item(), step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total += loss.item()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return distributed.finish_epoch(model, total / max(steps, 1))


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware: a CUDA GPU from Ampere on, or a CPU with
    AVX512-BF16 or AMX (elsewhere torch emulates it, slower than float32)."""
    if device.type == "cuda":  # a T4 or V100 would emulate it
        return torch.cuda.is_bf16_supported(including_emulation=False)
    try:  # private helpers of torch.cpu; absent on some builds
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the forward pass autocasts to for ``precision``, or None for float32.

    ``"auto"`` is bfloat16 on a CUDA GPU that has it in hardware (`native_bf16`), else float32;
    ``"bf16"`` asks for it anyway and ``"fp32"`` never. bfloat16 keeps float32's range, so
    no loss scaling is needed. ``"auto"`` leaves CPUs in float32 even where they compute
    bfloat16 natively: faster there, but less accurate than float32 for the same seed, a
    trade the user asks for.
    """
    if precision not in PRECISIONS:
        raise NoisylabError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    wanted = precision == "bf16" or (precision == "auto" and device.type == "cuda"
                                     and native_bf16(device))
    return torch.bfloat16 if wanted else None


def fastest_precision(device: torch.device) -> str:
    """``"bf16"`` where ``device`` computes it in hardware, else ``"fp32"``: what the speed
    benchmarks use unless told otherwise."""
    return "bf16" if native_bf16(device) else "fp32"


def _fresh_model(config: TrainConfig, num_classes: int, init_state: dict | None,
                 device: torch.device, total_steps: int, *, arch: str | None = None,
                 side: torch.Tensor | None = None, log=print):
    """``(model, optimizer, schedule)``: a model of ``arch`` (default ``config.arch``) from
    ``init_state`` (or random), AdamW and a one-cycle schedule over ``total_steps``. Given the
    training images' ``side`` inputs ``(N, S)``, a model of an architecture that can read them
    does, standardised as those are."""
    arch = arch or config.arch
    width = side.shape[1] if side is not None and reads_side_inputs(arch) else 0
    model = build_model(arch, num_classes, side_inputs=width)
    if side_inputs_of(model):
        model.set_side_scaling(side.cpu())
    if init_state is not None:
        report = transfer_weights(model, init_state)
        log(f"initial weights: {len(report.kept)} tensors kept, "
            f"head {'kept' if report.head_kept else 're-initialised'}")
    if config.freeze_features:
        model.features.requires_grad_(False)
    model = model.to(device, memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return model, optimizer, one_cycle(optimizer, config.lr, total_steps)


def _start_distillation(config, num_classes, init_state, device, steps_per_epoch, loss_fn,
                        x_fit, y_fit, s_fit, *, out_dir: Path, log=print):
    """Phase 2: relabel the training split with phase 1's last ``distill_votes`` epochs (their
    checkpoints in ``out_dir``, so a resumed run gets the same labels); a fresh student, CE on
    the labels.

    Returns ``(model, optimizer, schedule, fit_loss, targets)``.
    """
    voters = range(config.epochs - config.distill_votes + 1, config.epochs + 1)
    probs = 0
    for epoch in voters:
        teacher = load_model(out_dir / epoch_stem(epoch), device=device)[0]
        probs = probs + allowed_probabilities(predict_logits(teacher, x_fit, side=s_fit), y_fit,
                                              loss_fn.kind)
    targets = probs.argmax(1)
    # The student's initialisation must not depend on what ran before (resume gives the same).
    torch.manual_seed(config.seed + 1)
    arch = config.student_arch
    if init_state is not None and arch != config.arch:
        log(f"distillation: the {arch} student starts from random weights (the initial weights "
            f"are a {config.arch}'s)")
        init_state = None
    model, optimizer, schedule = _fresh_model(config, num_classes, init_state, device,
                                              config.distill_epochs * steps_per_epoch, arch=arch,
                                              side=s_fit, log=log)
    which = (f"epoch-{config.epochs} model" if len(voters) == 1 else
             f"epoch {voters[0]}-{voters[-1]} models (their probabilities averaged)")
    log(f"distillation: {len(targets)} training images relabelled by the {which}; a fresh "
        f"{arch} trains {config.distill_epochs} epochs on those labels")
    return model, optimizer, schedule, make_loss("ce", num_classes=num_classes).to(device), targets


def _run_model_members(config: TrainConfig, best_epoch: int, out_dir: Path) -> list[str] | None:
    """Record the run's model in ``model.json`` when it is the teacher and the student together
    (`TrainConfig.distill_ensemble`); return its members, or None when the model is ``best``."""
    stale = out_dir / MODEL_FILE  # from an earlier end of a resumed run
    if not (config.distill_ensemble and config.distill_epochs and best_epoch > config.epochs):
        stale.unlink(missing_ok=True)
        return None
    members = [epoch_stem(config.epochs), "best"]
    write_run_model(out_dir, members, why=f"the teacher (epoch {config.epochs}) and the student "
                    f"kept on validation (epoch {best_epoch}), averaged: --distill-ensemble")
    return members


def _bad_loss(value: float, step: int) -> Exception:
    return NoisylabError(f"the loss became {value} at step {step}; lower the learning rate")


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: torch.Tensor, *,
                   batch_size: int | None = None, with_features: bool = False,
                   side: torch.Tensor | None = None, precision: str = "fp32"):
    """Logits ``(N, K)`` of a model for uint8 images ``(N, 1, 28, 28)``, in eval mode.

    ``batch_size`` defaults to 256 images on a CPU, whose activations then stay in its caches
    (a third faster than batches of 1000 for the audit's model), and 1024 on an accelerator.

    With ``with_features=True``, returns ``(features, logits)``: also the backbone's output
    ``(N, D)`` (the input of the model's ``head``; not for a model with side inputs); with
    ``precision="bf16"`` as well, the backbone runs in bfloat16 (about twice as fast on a CPU
    that computes it) and the head in float32 on its output. ``side`` ``(N, S)``: the images'
    side inputs, for a model that reads them.
    """
    was_training = model.training
    model.eval()
    batch_size = batch_size or (256 if images.device.type == "cpu" else 1024)
    feats, out = [], []
    low = dict(device_type=images.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].float().div_(255).contiguous(memory_format=torch.channels_last)
        if with_features:
            with torch.autocast(**low):
                h = model.features(normalise(x)).float()
            feats.append(h)
            out.append(model.head(h).float())
        else:
            extra = () if side is None else (side[i:i + batch_size],)
            out.append(model(x, *extra).float())
    model.train(was_training)
    logits = torch.cat(out) if out else torch.empty(0)
    return (torch.cat(feats) if feats else torch.empty(0), logits) if with_features else logits


def stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Indices ``(fit, val)`` holding out ``fraction`` of each given label (at least one of a
    label with two or more images), seeded.

    Parameters
    ----------
    labels : ndarray of shape ``(N,)``
        Given labels (the only labels a noisy-label method may read).
    """
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        # At least one of any label with two or more, so small data still gets a validation split.
        take = int(round(fraction * len(members)))
        val.append(members[: max(take, 1) if len(members) >= 2 else take])
    val = np.sort(np.concatenate(val)) if val else np.array([], dtype=int)
    fit = np.setdiff1d(np.arange(len(labels)), val)
    return torch.from_numpy(fit), torch.from_numpy(val)


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise NoisylabError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise NoisylabError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def check_run_folder(out_dir: str | os.PathLike, *, resume: bool) -> None:
    """Refuse a run folder `train` must not write, before anything slow.

    With ``resume`` it must hold a ``last`` checkpoint. Without, one that does is refused (pass
    ``--resume``); a run stopped before its first checkpoint is simply started again. A folder
    that noisylab did not write, or of another kind, is refused
    (`noisylab.outputs.check_output`): nothing of a user's is overwritten.
    """
    out_dir = Path(out_dir)
    if resume:
        check_resumable(out_dir)
    elif (out_dir / "last.json").exists():
        raise NoisylabError(f"{out_dir} already holds a run; pass --resume to continue it or "
                            "--out for a new one")
    check_output(out_dir, "run", reuse=True)


def check_resumable(out_dir: str | os.PathLike) -> None:
    """Raise `NoisylabError` unless ``out_dir`` holds a ``last`` checkpoint to resume from."""
    if not (Path(out_dir) / "last.json").exists():
        raise NoisylabError(f"nothing to resume in {out_dir}: no 'last' checkpoint there; "
                            "run the same command without --resume to start it")


def _read_last(out_dir: Path, device):
    """``out_dir/last`` with its training state, verified (before anything slow is rebuilt)."""
    check_resumable(out_dir)
    ckpt = load_checkpoint(out_dir / "last", map_location=device, with_state=True)
    if ckpt.train_state is None:
        raise NoisylabError(f"{ckpt.path} has no training state to resume from")
    return ckpt


def _resume(ckpt, model, optimizer, schedule) -> dict:
    """Load a checkpoint read by `_read_last` into the given objects."""
    model.load_state_dict(ckpt.state_dict)
    state = ckpt.train_state
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    restore_rng_state(state["rng"])
    return {"epoch": int(state["epoch"]),
            "best_score": ValidationScore(float(state["best_value"]), state["best_mode"],
                                          float(state.get("best_se", 0.0)))}


def _write_history(path: Path, history: list[dict]) -> None:
    """Rewrite ``metrics.jsonl`` atomically (drops lines of an epoch a crash left unfinished)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in history))
    os.replace(tmp, path)


def _append_history(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _epoch_line(r: dict, epochs: int) -> str:
    val = next(k for k in r if k.startswith("val_") and k != "val_mode")
    parts = [f"epoch {r['epoch']:>3}/{epochs}", f"loss {r['train_loss']:.4f}",
             f"{val} {r[val]:.4f}{' *' if r['best_so_far'] else '  '}"]
    if "test_acc" in r:
        parts.append(f"test acc {100 * r['test_acc']:.2f}%")
    parts.append(f"{r['seconds']:.0f}s ({r['images_per_second']:.0f} img/s)")
    return "  ".join(parts)

