"""Data-parallel training (and the audit's folds) under ``torchrun``: ranks, sharding,
reductions, rank-0-only writing.

PyTorch's own launcher (``torchrun``) starts the processes and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; `torch.nn.parallel.DistributedDataParallel` averages
the gradients. This module only reads that environment and holds the few rules noisylab
adds on top. Without those variables every function here behaves as one process: no process
group, no wrapping, every slice the whole batch, every reduction the identity.

The rules (docs/scaling.md says them for users):

- **Batches.** ``--batch-size`` is the *global* batch: every rank draws the same seeded
  permutation of the training images (and the same augmentation of each global batch), and
  rank ``r`` of ``W`` trains on the contiguous slice ``[r * B/W, (r + 1) * B/W)`` of each batch
  of ``B``. DDP averages the ranks' gradients of their per-image mean losses, which is the
  gradient of the mean over the global batch: the learning rate and the schedule stay what
  the user asked for. ``B`` must be a multiple of ``W``.
- **Threads.** Each process takes ``max(1, cores // LOCAL_WORLD_SIZE)`` of torch's CPU threads
  (`threads_per_process`), so the processes on one machine share its cores instead of each
  taking all of them.
- **Batch norm.** On CUDA the model's batch norm layers become `torch.nn.SyncBatchNorm`
  (statistics of the global batch, as one process computes them). SyncBatchNorm has no CPU
  implementation, so on a CPU each rank normalises with the statistics of its own ``B/W``
  images, and the running statistics that evaluation uses are rank 0's (broadcast to every
  rank after each epoch, and the ones rank 0 saves).
- **Audit.** The audit's cross-fitting folds are shared out: fold ``k`` is fitted on rank
  ``k % W`` (`my_parts`), and the ranks' out-of-sample probabilities are summed together
  (`sum_over_ranks`); rank 0 alone estimates the noise and writes the report.
- **Writing.** Only rank 0 (`is_writer`) writes checkpoints, ``metrics.jsonl``, figures and
  reports; `barrier` after a checkpoint lets every rank read it (resume, distillation).
- **Figures.** Validation and test predictions are computed on a contiguous share of the images
  per rank and gathered (`predict_sharded`), so every rank scores the same ``(N, K)`` logits
  with the same code a single process uses.
- **Failures.** Every collective has a timeout (``NOISYLAB_DIST_TIMEOUT`` seconds, default
  600): a rank that stops answering takes the job down instead of hanging it; a rank that
  exits is noticed by ``torchrun``, which stops the others.
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from noisylab.errors import NoisylabError

if TYPE_CHECKING:  # torch is imported where it is used: `noisylab --help` stays torch-free
    import torch
    from torch import nn

__all__ = [
    "Place",
    "average",
    "backend_for",
    "barrier",
    "batch_shard",
    "check_command",
    "error_line",
    "finish_epoch",
    "from_writer",
    "gather_rows",
    "is_distributed",
    "is_writer",
    "lost_contact",
    "my_parts",
    "on_writer",
    "place",
    "predict_sharded",
    "quiet_other_ranks",
    "row_shard",
    "setup",
    "sum_over_ranks",
    "threads_per_process",
    "timeout_seconds",
    "wrap",
]

TIMEOUT_ENV = "NOISYLAB_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
"""Seconds a collective (an all-reduce, a barrier) waits for the other ranks."""


@dataclass(frozen=True)
class Place:
    """Where this process sits in the job, as ``torchrun`` says.

    Attributes
    ----------
    rank, world_size : int
        This process's number among all of the job's processes, and how many there are.
    local_rank, local_world_size : int
        The same among the processes on this machine (``local_rank`` picks the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1


def place() -> Place:
    """This process's `Place`, from ``torchrun``'s environment; one process when it is absent.

    Raises
    ------
    NoisylabError
        A variable is not a number, or the rank is outside the world.
    """
    values = {}
    for key, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0),
                         ("LOCAL_WORLD_SIZE", None)):
        raw = os.environ.get(key)
        try:
            values[key] = default if raw in (None, "") else int(raw)
        except ValueError:
            raise NoisylabError(f"{key}={raw!r} in the environment is not a number; start "
                                "noisylab with torchrun, which sets it") from None
    world = values["WORLD_SIZE"]
    local_world = values["LOCAL_WORLD_SIZE"] or world
    if not (world >= 1 and 0 <= values["RANK"] < world and 0 <= values["LOCAL_RANK"] < local_world):
        raise NoisylabError(f"RANK={values['RANK']}, LOCAL_RANK={values['LOCAL_RANK']} and "
                            f"WORLD_SIZE={world} in the environment do not fit together; start "
                            "noisylab with torchrun, which sets them")
    return Place(values["RANK"], world, values["LOCAL_RANK"], local_world)


def is_distributed() -> bool:
    """Whether this process is one of several (``WORLD_SIZE`` above 1)."""
    return place().world_size > 1


def is_writer() -> bool:
    """Whether this process writes files and prints: rank 0, or the only process."""
    return place().rank == 0


def _initialized() -> bool:
    """Whether this process has joined a process group (torch not yet imported: it has not)."""
    if "torch" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _active() -> bool:
    import torch.distributed as dist

    return _initialized() and dist.get_world_size() > 1


def threads_per_process() -> int:
    """torch's CPU threads for this process: ``max(1, cores // LOCAL_WORLD_SIZE)``.

    ``cores`` are those this process may run on (its CPU affinity, else ``os.cpu_count()``):
    processes that each took every core would fight over them (a small epoch went from about
    1 s to about 30 s with two such processes on two cores).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // place().local_world_size)


def timeout_seconds() -> float:
    """How long a collective waits for the other ranks: ``$NOISYLAB_DIST_TIMEOUT`` or 600 s."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    if raw == "":
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise NoisylabError(f"{TIMEOUT_ENV}={raw!r} must be a positive number of seconds")
    return value


def backend_for(device: torch.device) -> str:
    """The collective backend for a device: ``"nccl"`` for CUDA, ``"gloo"`` for a CPU."""
    return "nccl" if str(device).startswith("cuda") else "gloo"


def setup(device: torch.device, *, batch_size: int | None = None) -> torch.device:
    """Join the job's process group (once) and return the device this rank trains on.

    One process: returns ``device`` and starts nothing. Several: CUDA becomes
    ``cuda:LOCAL_RANK``; the process group uses `backend_for` the device and
    `timeout_seconds`.

    Parameters
    ----------
    device : torch.device
        The device the run asked for (``cpu`` or ``cuda``).
    batch_size : int, optional
        The global batch size, checked to split evenly over the ranks.

    Raises
    ------
    NoisylabError
        ``batch_size`` is not a multiple of the world size, or the environment names several
        processes but not where they meet (not started by ``torchrun``).
    """
    import torch
    import torch.distributed as dist

    where = place()
    if where.world_size == 1:
        return device
    if batch_size is not None and batch_size % where.world_size:
        raise NoisylabError(f"--batch-size {batch_size} does not split over {where.world_size} "
                            f"processes; use a multiple of {where.world_size} (it is the global "
                            "batch: each process trains on an equal part of it)")
    if device.type == "cuda":
        device = torch.device("cuda", where.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
        if missing:
            raise NoisylabError(f"WORLD_SIZE={where.world_size} is set but {' and '.join(missing)} "
                                "is not; start noisylab with torchrun, which sets them")
        dist.init_process_group(backend_for(device), timeout=timedelta(seconds=timeout_seconds()),
                                device_id=device if device.type == "cuda" else None)
        atexit.register(_leave)
    return device


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in `DistributedDataParallel` when there are several ranks, else ``model``.

    On CUDA its batch norm layers first become `torch.nn.SyncBatchNorm` (in place: the wrapped
    module keeps its parameters, so an optimizer built on them still holds them). Wrapping
    broadcasts rank 0's weights and buffers, so every rank starts from the same model.
    """
    from torch.nn.parallel import DistributedDataParallel

    if not _active():
        return model
    device = next(model.parameters()).device
    if device.type == "cuda":
        _sync_batch_norm_in_place(model)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)


def _sync_batch_norm_in_place(model: nn.Module) -> None:
    from torch import nn

    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
                child, nn.SyncBatchNorm):
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        else:
            _sync_batch_norm_in_place(child)


def batch_shard(model: nn.Module, size: int) -> slice:
    """This rank's contiguous part of a global batch of ``size`` images for ``model``.

    The whole batch unless ``model`` is data-parallel (a `wrap` result on several ranks): then
    rank ``r`` of ``W`` takes ``[r * size/W, (r + 1) * size/W)``. A model trained on its own
    (one process, or one fold per rank) always gets the whole batch.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if not isinstance(model, DistributedDataParallel):
        return slice(None)
    world, rank = dist.get_world_size(), dist.get_rank()
    if size % world:
        raise NoisylabError(f"a batch of {size} images does not split over {world} processes; "
                            f"use a --batch-size that is a multiple of {world}")
    part = size // world
    return slice(rank * part, (rank + 1) * part)


def finish_epoch(model: nn.Module, mean_loss: float) -> float:
    """End a data-parallel epoch: every rank takes rank 0's buffers; the mean loss of all ranks.

    For a model that is not data-parallel, returns ``mean_loss`` and does nothing. Otherwise
    rank 0's buffers (batch norm's running statistics, which each rank updated from its own
    images in the last step) are broadcast, so every rank evaluates the weights rank 0 saves,
    and ``mean_loss`` (this rank's mean of its per-step losses) is averaged over the ranks: the
    mean of the global batches' losses, since every rank's part is equally large.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if not isinstance(model, DistributedDataParallel):
        return mean_loss
    for buffer in model.module.buffers():
        dist.broadcast(buffer, src=0)
    return average(mean_loss)


def average(value: float) -> float:
    """The mean of ``value`` over the ranks (``value`` itself in one process)."""
    import torch
    import torch.distributed as dist

    if not _active():
        return value
    device = _collective_device()
    total = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()


def _collective_device() -> torch.device:
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank gets here (nothing in one process); gives up after the timeout."""
    import torch
    import torch.distributed as dist

    if _active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def row_shard(n: int, rank: int | None = None) -> slice:
    """Rows ``[r * ceil(n/W), ...)`` of ``n`` that rank ``r`` scores (all of them in one process)."""
    import torch.distributed as dist

    if not _active():
        return slice(0, n)
    world = dist.get_world_size()
    rank = dist.get_rank() if rank is None else rank
    size = -(-n // world)
    return slice(min(n, rank * size), min(n, (rank + 1) * size))


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Every rank's `row_shard` of an ``(n, ...)`` result, put back together on every rank.

    Parameters
    ----------
    local : Tensor of shape ``(m, ...)``
        This rank's rows, ``m = len(range(n)[row_shard(n)])``.
    n : int
        Rows in all.

    Returns
    -------
    Tensor of shape ``(n, ...)``
        In row order, as one process computes it.
    """
    import torch
    import torch.distributed as dist

    if not _active():
        return local
    world = dist.get_world_size()
    size = -(-n // world)
    padded = local.new_zeros((size, *local.shape[1:]))
    padded[:len(local)] = local
    device = _collective_device()
    parts = [torch.empty_like(padded, device=device) for _ in range(world)]
    dist.all_gather(parts, padded.to(device))
    pieces = [p[:len(range(n)[row_shard(n, r)])] for r, p in enumerate(parts)]
    return torch.cat(pieces).to(local.device)


def predict_sharded(predict: Callable, model: nn.Module, images: torch.Tensor, *,
                    side: torch.Tensor | None = None) -> torch.Tensor:
    """``predict(model, images, side=side)`` with the rows split over the ranks and gathered.

    Each rank scores its `row_shard` of ``images`` ``(N, ...)``; the result ``(N, K)`` is the
    same on every rank, in the images' order. ``side`` ``(N, S)`` is split alike.
    """
    if not _active():
        return predict(model, images, side=side)
    mine = row_shard(len(images))
    local = predict(model, images[mine], side=None if side is None else side[mine])
    return gather_rows(local, len(images))


def my_parts(count: int) -> range:
    """The parts of a job split by number (the audit's cross-fitting folds) this rank computes:
    ``rank, rank + W, ...`` of ``range(count)``; all of them in one process."""
    import torch.distributed as dist

    if not _active():
        return range(count)
    return range(dist.get_rank(), count, dist.get_world_size())


def sum_over_ranks(array):
    """The element-wise sum of a numpy ``array`` over the ranks (``array`` itself in one process).

    Each rank fills the rows of its own parts (`my_parts`) and leaves zeros elsewhere, so the sum
    is every part's rows, exactly (adding zeros changes no bit), on every rank.
    """
    import numpy as np
    import torch
    import torch.distributed as dist

    if not _active():
        return array
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(_collective_device())
    dist.all_reduce(tensor)
    return tensor.cpu().numpy()


def from_writer(value):
    """Rank 0's ``value`` (any picklable object) on every rank; ``value`` in one process."""
    import torch.distributed as dist

    if not _active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_writer(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log`` on rank 0; a function that drops its message on the other ranks."""
    return log if is_writer() else (lambda _message: None)


def quiet_other_ranks() -> None:
    """On ranks other than 0: standard output and warnings go nowhere (rank 0 says it all).

    Standard error stays, for the error line of a rank that fails.
    """
    if is_distributed() and not is_writer():
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        warnings.simplefilter("ignore")


PARALLEL_COMMANDS = ("train", "audit", "run")
"""The commands that share their work over the ranks under ``torchrun`` (train: the batches;
audit: the cross-fitting folds; run: both, cell after cell); the others run as one process."""


def check_command(name: str | None) -> None:
    """Raise `NoisylabError` when command ``name`` is started as several processes but runs as
    one (its ranks would each do the whole job and write the same files)."""
    if name is not None and name not in PARALLEL_COMMANDS and is_distributed():
        raise NoisylabError(f"noisylab {name} runs as one process; under torchrun only "
                            f"noisylab {', '.join(PARALLEL_COMMANDS)} share their work: "
                            "start it without torchrun")


def error_line(err: BaseException) -> str | None:
    """The error line this process prints for ``err``, or None when another process says it.

    One process: the message. Several: before the process group exists every rank meets the
    same inputs and the same error, so only the first process of each machine
    (``LOCAL_RANK`` 0) says it; after that, a failing rank says which it is. A collective that
    failed because another rank stopped says so.
    """
    try:
        where = place()
    except NoisylabError:  # the environment itself is what is wrong: err says so
        return str(err)
    if where.world_size == 1:
        return str(err)
    if not _initialized():
        return str(err) if where.local_rank == 0 else None
    if not lost_contact(err):
        return f"rank {where.rank}: {err}"
    text = str(err)
    if "closed by peer" in text or "reset by peer" in text:
        return f"rank {where.rank}: another rank stopped (its own line says why); stopping too"
    if "timed out" in text.lower() or "timeout" in text.lower():  # gloo: "Application timeout"
        return (f"rank {where.rank}: the other ranks did not answer within {timeout_seconds():g} s "
                f"(${TIMEOUT_ENV}); stopping")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"rank {where.rank}: lost the other ranks ({first[:160]}); stopping"


def lost_contact(err: BaseException) -> bool:
    """Whether ``err`` is a collective that failed because another rank stopped or stalled
    (gloo raises a plain RuntimeError naming the closed connection)."""
    if not _initialized():
        return False
    import torch.distributed as dist

    if isinstance(err, dist.DistError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        mark in text for mark in ("gloo", "by peer", "pair closure", "nccl", "timed out",
                                  "timeout"))
