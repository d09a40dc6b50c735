"""Save and load checkpoints: weights in safetensors, resume state, JSON metadata.

A run folder ``runs/<name>/`` holds one checkpoint per epoch (``epoch-003``) plus
``best`` and ``last``. A checkpoint named ``STEM`` is up to three files:

``STEM.safetensors``
    Model weights only. Loading a safetensors file cannot run code.
``STEM.state.pt`` (optional)
    Training state for ``--resume``: optimizer and scheduler ``state_dict``, epoch,
    global step, RNG states (see `capture_rng_state`). Only ever read with
    ``torch.load(..., weights_only=True)``.
``STEM.json``
    Metadata: architecture, ``num_classes``, class names, training config, the
    epoch's metrics, the epoch, noisylab's version, creation time, and the SHA-256
    and size of the other two files. It is written last and is the checkpoint's
    commit point: a checkpoint exists when its JSON exists, and every load checks
    the other files against the hashes it records before using them.

Everything here is file handling; no training logic lives in this module.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from noisylab import __version__
from noisylab.errors import NoisylabError

__all__ = [
    "Checkpoint",
    "CheckpointListing",
    "capture_rng_state",
    "check_compatible",
    "copy_checkpoint",
    "epoch_stem",
    "list_checkpoints",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

#: Bumped when the JSON layout changes in a way older readers cannot follow.
FORMAT_VERSION = 1

WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".state.pt"
META_SUFFIX = ".json"

# Keys this module writes into the JSON; callers may not set them.
_RESERVED_KEYS = ("format_version", "noisylab_version", "created", "files")
_REQUIRED_KEYS = ("architecture", "num_classes", "epoch")
_STEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_EPOCH_RE = re.compile(r"^epoch-(\d+)$")


@dataclass
class Checkpoint:
    """A loaded, hash-verified checkpoint.

    Attributes
    ----------
    state_dict : dict[str, torch.Tensor]
        The model weights, on ``map_location``.
    metadata : dict
        The whole JSON: the caller's metadata (``architecture``, ``num_classes``,
        ``class_names``, ``config``, ``metrics``, ``epoch``, ...) plus
        ``format_version``, ``noisylab_version``, ``created`` and ``files``.
    train_state : dict or None
        The training state when loaded with ``with_state=True``, else None.
    path : pathlib.Path
        The checkpoint's JSON file.
    """

    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    train_state: dict[str, Any] | None
    path: Path

    @property
    def stem(self) -> str:
        """The checkpoint's name inside its run folder, e.g. ``"best"``."""
        return _stem_of(self.path)


@dataclass
class CheckpointListing:
    """The complete checkpoints of one run folder, as JSON paths.

    Attributes
    ----------
    epochs : dict[int, pathlib.Path]
        Epoch number to that epoch's checkpoint, in ascending epoch order.
    best, last : pathlib.Path or None
        The ``best`` and ``last`` checkpoints, None when absent.
    """

    epochs: dict[int, Path]
    best: Path | None
    last: Path | None


def epoch_stem(epoch: int) -> str:
    """The checkpoint name for an epoch: ``epoch_stem(3) == "epoch-003"``."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    return f"epoch-{epoch:03d}"


# ----------------------------------------------------------------------------- saving


def save_checkpoint(
    directory: str | os.PathLike,
    stem: str,
    model: nn.Module | Mapping[str, torch.Tensor],
    *,
    metadata: Mapping[str, Any],
    train_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``stem`` into ``directory``, replacing any earlier one atomically.

    Every file is first written to a hidden temporary name in ``directory`` and
    fsynced; only then are they renamed into place with `os.replace`, the JSON
    last. A crash while writing leaves the previous checkpoint of that name
    untouched (plus at most some ``.STEM.*.tmp`` files, which nothing reads). A
    crash in the instant between the renames leaves a checkpoint whose JSON does
    not match its weights; loading it then fails with a hash error instead of
    silently using a mix of two checkpoints.

    Parameters
    ----------
    directory : str or os.PathLike
        The run folder; created if missing.
    stem : str
        The checkpoint's name, e.g. ``epoch_stem(3)``, ``"best"`` or ``"last"``.
    model : torch.nn.Module or Mapping[str, torch.Tensor]
        The model, or its ``state_dict``. Tensors are saved on the CPU.
    metadata : Mapping
        JSON-serialisable. Must hold ``architecture`` (str), ``num_classes`` (int)
        and ``epoch`` (int); should hold ``class_names``, ``config`` (the training
        config dict) and ``metrics`` (that epoch's metrics). The keys
        ``format_version``, ``noisylab_version``, ``created`` and ``files`` are
        filled in here.
    train_state : Mapping, optional
        For ``--resume``: e.g. ``{"optimizer": opt.state_dict(), "scheduler":
        sched.state_dict(), "epoch": 3, "global_step": 1200, "rng":
        capture_rng_state()}``. Must load with ``torch.load(weights_only=True)``
        (tensors, numbers, strings, None, lists, tuples, dicts); this is checked
        before anything is written. When None, an older ``STEM.state.pt`` is removed.

    Returns
    -------
    pathlib.Path
        The checkpoint's JSON file.

    Raises
    ------
    ValueError, TypeError
        ``stem`` or ``metadata`` is malformed, or ``train_state`` holds objects
        that ``weights_only`` loading refuses. Nothing is written then.
    """
    directory = Path(directory)
    _check_stem(stem)
    meta = _checked_metadata(metadata)

    # Serialise everything before touching the disk, so bad input writes nothing.
    weights = safetensors.torch.save(_cpu_tensors(model), metadata={"format": "pt"})
    state = None if train_state is None else _serialise_state(train_state)
    meta["files"] = {
        "weights": _file_record(weights),
        "state": None if state is None else _file_record(state),
    }
    meta_bytes = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")

    directory.mkdir(parents=True, exist_ok=True)
    # Order matters: the JSON (holding the hashes) goes last.
    payloads = [(WEIGHTS_SUFFIX, weights)]
    if state is not None:
        payloads.append((STATE_SUFFIX, state))
    payloads.append((META_SUFFIX, meta_bytes))
    _commit(directory, stem, [(suffix, _bytes_writer(data)) for suffix, data in payloads])
    if state is None:
        # A stale state file would belong to another checkpoint; the JSON says "no state".
        (directory / f"{stem}{STATE_SUFFIX}").unlink(missing_ok=True)
    return directory / f"{stem}{META_SUFFIX}"


def copy_checkpoint(directory: str | os.PathLike, src_stem: str, dst_stem: str) -> Path:
    """Make checkpoint ``dst_stem`` a copy of ``src_stem``, e.g. ``best`` from ``epoch-007``.

    The source is hash-verified first, so a damaged checkpoint is never promoted.
    Files are hard-linked where the filesystem allows (no data is copied; safe
    because checkpoint files are only ever replaced, never written in place),
    else copied, and then renamed into place as in `save_checkpoint`, JSON last.

    Parameters
    ----------
    directory : str or os.PathLike
        The run folder holding ``src_stem``.
    src_stem, dst_stem : str
        Checkpoint names, e.g. ``"epoch-007"`` and ``"best"``.

    Returns
    -------
    pathlib.Path
        The JSON file of ``dst_stem``.

    Raises
    ------
    NoisylabError
        ``src_stem`` is missing or fails verification.
    """
    directory = Path(directory)
    _check_stem(src_stem)
    _check_stem(dst_stem)
    if src_stem == dst_stem:
        raise ValueError(f"cannot copy checkpoint {src_stem!r} onto itself")
    src = directory / src_stem
    meta = _read_metadata(src)
    _read_verified(src, WEIGHTS_SUFFIX, meta["files"]["weights"])
    has_state = meta["files"].get("state") is not None
    if has_state:
        _read_verified(src, STATE_SUFFIX, meta["files"]["state"])

    suffixes = [WEIGHTS_SUFFIX] + ([STATE_SUFFIX] if has_state else []) + [META_SUFFIX]
    _commit(
        directory, dst_stem, [(s, _link_writer(directory / f"{src_stem}{s}")) for s in suffixes]
    )
    if not has_state:
        (directory / f"{dst_stem}{STATE_SUFFIX}").unlink(missing_ok=True)
    return directory / f"{dst_stem}{META_SUFFIX}"


# ----------------------------------------------------------------------------- loading


def load_checkpoint(
    path: str | os.PathLike,
    *,
    map_location: str | torch.device = "cpu",
    with_state: bool = False,
) -> Checkpoint:
    """Load and verify a checkpoint.

    Parameters
    ----------
    path : str or os.PathLike
        One of: the stem (``runs/a/epoch-003``), its ``.json``, ``.safetensors`` or
        ``.state.pt`` file, or a run folder (``runs/a``), which means that run's
        ``best`` checkpoint if it has one, else its ``last``.
    map_location : str or torch.device, default "cpu"
        Device for the loaded tensors.
    with_state : bool, default False
        Also load the training state (``torch.load(weights_only=True)``).

    Returns
    -------
    Checkpoint
        Its metadata in today's form: an architecture an add-on declared legacy is renamed
        (`noisylab.addons.upgrade_metadata`).

    Raises
    ------
    NoisylabError
        A file is missing (the message names what was looked for), the JSON is
        unreadable, a file does not match the hash in the JSON (tampered or
        truncated), the weights are not valid safetensors, or the training state
        is refused by ``weights_only`` loading.
    """
    from noisylab.addons import upgrade_metadata

    stem_path = _resolve(Path(path))
    meta = upgrade_metadata(_read_metadata(stem_path))  # an add-on's legacy architecture names

    raw = _read_verified(stem_path, WEIGHTS_SUFFIX, meta["files"]["weights"])
    try:
        state_dict = safetensors.torch.load(raw)
    except Exception as exc:  # safetensors raises its own error type, or others on odd input
        raise NoisylabError(
            f"{_disp(stem_path, WEIGHTS_SUFFIX)} is not a valid safetensors file ({_one_line(exc)})"
        ) from exc
    if torch.device(map_location) != torch.device("cpu"):
        state_dict = {k: v.to(map_location) for k, v in state_dict.items()}

    train_state = None
    if with_state:
        record = meta["files"].get("state")
        if record is None:
            raise NoisylabError(
                f"checkpoint {_disp(stem_path, META_SUFFIX)} was saved without training "
                "state, so it cannot be resumed from; start a new run from it instead"
            )
        raw_state = _read_verified(stem_path, STATE_SUFFIX, record)
        try:
            train_state = torch.load(
                io.BytesIO(raw_state), map_location=map_location, weights_only=True
            )
        except Exception as exc:
            raise NoisylabError(
                f"refusing training state {_disp(stem_path, STATE_SUFFIX)}: it does not load "
                f"with torch.load(weights_only=True) ({_one_line(exc)})"
            ) from exc
        if not isinstance(train_state, dict):
            raise NoisylabError(
                f"training state {_disp(stem_path, STATE_SUFFIX)} is a "
                f"{type(train_state).__name__}, expected a dict"
            )

    return Checkpoint(
        state_dict=state_dict,
        metadata=meta,
        train_state=train_state,
        path=stem_path.with_name(stem_path.name + META_SUFFIX),
    )


def check_compatible(
    checkpoint: Checkpoint, *, architecture: str, num_classes: int | None = None
) -> None:
    """Raise when ``checkpoint`` cannot initialise the model this run builds.

    Parameters
    ----------
    checkpoint : Checkpoint
        A loaded checkpoint.
    architecture : str
        The architecture this run builds, e.g. ``"cnn-s"``.
    num_classes : int, optional
        The class count this run needs; None skips the check (for runs that
        replace the classifier head).

    Raises
    ------
    NoisylabError
        The architecture (or class count) differs.
    """
    meta = checkpoint.metadata
    where = checkpoint.path
    if meta["architecture"] != architecture:
        raise NoisylabError(
            f"checkpoint {where} is architecture {meta['architecture']!r}, this run builds "
            f"{architecture!r}; use --init scratch or a checkpoint of the same architecture"
        )
    if num_classes is not None and meta["num_classes"] != num_classes:
        raise NoisylabError(
            f"checkpoint {where} has {meta['num_classes']} classes, this run needs "
            f"{num_classes}; use --init scratch or a checkpoint with {num_classes} classes"
        )


def list_checkpoints(directory: str | os.PathLike) -> CheckpointListing:
    """The complete checkpoints in a run folder (those whose JSON exists).

    Files are not verified here; `load_checkpoint` does that.

    Parameters
    ----------
    directory : str or os.PathLike
        The run folder. A missing folder lists as empty.

    Returns
    -------
    CheckpointListing
    """
    directory = Path(directory)
    epochs: dict[int, Path] = {}
    if directory.is_dir():
        for p in directory.glob(f"epoch-*{META_SUFFIX}"):
            m = _EPOCH_RE.match(p.name[: -len(META_SUFFIX)])
            if m:
                epochs[int(m.group(1))] = p
    best, last = (directory / f"{s}{META_SUFFIX}" for s in ("best", "last"))
    return CheckpointListing(
        epochs=dict(sorted(epochs.items())),
        best=best if best.is_file() else None,
        last=last if last.is_file() else None,
    )


# ----------------------------------------------------------------------------- RNG


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states, in a form ``torch.load(weights_only=True)`` accepts.

    Covers torch's CPU generator, every CUDA device's generator (when CUDA is
    available), Python's `random` and numpy's legacy global generator
    (``np.random.seed``/``np.random.rand``). Generators a caller owns
    (``torch.Generator``, ``np.random.default_rng``) must be saved by that caller.

    Returns
    -------
    dict
        ``{"torch": uint8 tensor, "cuda": [uint8 tensor, ...], "python": {...},
        "numpy": {...}}``; numbers are tensors, ints, floats or None.
    """
    version, internal, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": {
            "version": int(version),
            # 625 ints below 2**32: exact in int64.
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the RNG states captured by `capture_rng_state`.

    After this, torch (CPU), `random` and ``np.random`` produce the numbers they
    would have produced right after the capture. CUDA states are restored for
    as many devices as both the capture and this machine have; a capture from a
    CUDA machine restores on a CPU-only one without them.

    Parameters
    ----------
    state : Mapping
        The dict from `capture_rng_state`, possibly after a save/load round trip
        (tensors may be on any device).
    """
    try:
        torch_state, cuda_states = state["torch"], state["cuda"]
        py, npy = state["python"], state["numpy"]
        py_state = (
            int(py["version"]),
            tuple(int(x) for x in py["state"].tolist()),
            py["gauss_next"],
        )
        np_state = (
            str(npy["kind"]),
            np.asarray(npy["keys"].cpu().numpy(), dtype=np.uint32),
            int(npy["pos"]),
            int(npy["has_gauss"]),
            float(npy["cached_gaussian"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not an RNG state from capture_rng_state: {exc!r}") from exc

    torch.set_rng_state(torch_state.cpu().to(torch.uint8))
    if cuda_states and torch.cuda.is_available():
        for device, s in enumerate(cuda_states[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.cpu().to(torch.uint8), device)
    random.setstate(py_state)
    np.random.set_state(np_state)


# ----------------------------------------------------------------------------- internals


def _check_stem(stem: str) -> None:
    if not isinstance(stem, str) or not _STEM_RE.match(stem) or stem.endswith(".tmp"):
        raise ValueError(
            f"checkpoint name must be letters, digits, '.', '_' or '-' (not starting with "
            f"'.' and not ending in '.tmp'), got {stem!r}"
        )


def _checked_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
    clash = [k for k in _RESERVED_KEYS if k in metadata]
    if clash:
        raise ValueError(f"metadata keys {clash} are set by save_checkpoint; leave them out")
    missing = [k for k in _REQUIRED_KEYS if k not in metadata]
    if missing:
        raise ValueError(f"metadata is missing {missing}")
    if not isinstance(metadata["architecture"], str) or not metadata["architecture"]:
        raise ValueError(
            f"metadata['architecture'] must be a non-empty str, got {metadata['architecture']!r}"
        )
    for key in ("num_classes", "epoch"):
        v = metadata[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"metadata[{key!r}] must be a non-negative int, got {v!r}")
    meta = dict(metadata)
    meta.update(
        format_version=FORMAT_VERSION,
        noisylab_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata is not JSON-serialisable: {exc}") from exc
    return meta


def _cpu_tensors(model: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = model.state_dict() if isinstance(model, nn.Module) else model
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"state_dict entry {name!r} is a {type(t).__name__}, not a tensor")
        t = t.detach().cpu().contiguous()
        # safetensors refuses tensors sharing memory (tied weights); save each separately.
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if t.numel() and key in seen:
            t = t.clone()
        seen.add(key)
        out[name] = t
    return out


def _serialise_state(train_state: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    try:
        torch.save(dict(train_state), buf)
    except Exception as exc:  # pickling errors come as several types
        raise TypeError(f"train_state cannot be saved: {_one_line(exc)}") from exc
    data = buf.getvalue()
    # Find out now, not at resume time, if the state cannot be read back safely.
    try:
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TypeError(
            "train_state holds objects that torch.load(weights_only=True) refuses; store "
            f"tensors, numbers, strings, lists and dicts only ({_one_line(exc)})"
        ) from exc
    return data


def _file_record(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _bytes_writer(data: bytes):
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    return write


def _link_writer(src: Path):
    def write(tmp: Path) -> None:
        tmp.unlink()  # os.link needs the name free; the name stays ours (hidden, random)
        try:
            os.link(src, tmp)
        except OSError:  # no hard links here (some network or FAT filesystems): copy
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())

    return write


def _commit(directory: Path, stem: str, parts: list) -> None:
    """Write each ``(suffix, write)`` of ``parts`` to a temp file (``write(tmp)``), then rename
    all into place in order."""
    temps: list[tuple[Path, Path]] = []
    try:
        for suffix, write in parts:
            fd, name = tempfile.mkstemp(dir=directory, prefix=f".{stem}{suffix}.", suffix=".tmp")
            os.close(fd)
            tmp = Path(name)
            temps.append((tmp, directory / f"{stem}{suffix}"))
            write(tmp)
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    # Makes the renames durable; not possible on every OS (Windows), where it is skipped.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stem_of(path: Path) -> str:
    for suffix in (STATE_SUFFIX, WEIGHTS_SUFFIX, META_SUFFIX):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _resolve(path: Path) -> Path:
    """The stem path (``runs/a/best``) that ``path`` names."""
    if path.is_dir():
        for stem in ("best", "last"):
            if (path / f"{stem}{META_SUFFIX}").is_file():
                return path / stem
        raise NoisylabError(
            f"no checkpoint in run folder {path}: looked for {path / ('best' + META_SUFFIX)} "
            f"and {path / ('last' + META_SUFFIX)}"
        )
    stem_path = path.with_name(_stem_of(path))
    if stem_path == path and not path.exists() and not Path(_disp(path, META_SUFFIX)).exists():
        raise NoisylabError(
            f"no checkpoint at {path}: looked for a run folder {path} and for {_disp(path, META_SUFFIX)}"
        )
    return stem_path


def _disp(stem_path: Path, suffix: str) -> str:
    return str(stem_path.with_name(stem_path.name + suffix))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)


def _read_metadata(stem_path: Path) -> dict[str, Any]:
    meta_path = Path(_disp(stem_path, META_SUFFIX))
    if not meta_path.is_file():
        weights = Path(_disp(stem_path, WEIGHTS_SUFFIX))
        hint = (
            f"; {weights} exists but without its metadata it cannot be verified or used"
            if weights.is_file()
            else ""
        )
        raise NoisylabError(f"checkpoint not found: looked for {meta_path}{hint}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoisylabError(
            f"cannot read checkpoint metadata {meta_path}: {_one_line(exc)}"
        ) from exc

    if not isinstance(meta, dict):
        raise NoisylabError(f"checkpoint metadata {meta_path} is not a JSON object")
    fv = meta.get("format_version")
    if isinstance(fv, int) and fv > FORMAT_VERSION:
        raise NoisylabError(
            f"checkpoint {meta_path} has format version {fv}, written by noisylab "
            f"{meta.get('noisylab_version', '?')}; this noisylab {__version__} reads up to "
            f"{FORMAT_VERSION}: upgrade noisylab"
        )
    files = meta.get("files")
    ok = (
        fv == FORMAT_VERSION
        and all(k in meta for k in _REQUIRED_KEYS)
        and isinstance(files, dict)
        and _valid_record(files.get("weights"))
        and (files.get("state") is None or _valid_record(files["state"]))
    )
    if not ok:
        raise NoisylabError(
            f"checkpoint metadata {meta_path} is incomplete (needs format_version, "
            f"{', '.join(_REQUIRED_KEYS)} and file hashes); was it written by noisylab?"
        )
    return meta


def _valid_record(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("sha256"), str)
        and isinstance(record.get("size"), int)
    )


def _read_verified(stem_path: Path, suffix: str, record: Mapping[str, Any]) -> bytes:
    """The file's bytes, after checking them against the JSON's size and SHA-256."""
    path = Path(_disp(stem_path, suffix))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NoisylabError(
            f"checkpoint file missing: looked for {path} (named in {_disp(stem_path, META_SUFFIX)})"
        ) from None
    except OSError as exc:
        raise NoisylabError(f"cannot read {path}: {_one_line(exc)}") from exc
    if len(data) != record["size"] or hashlib.sha256(data).hexdigest() != record["sha256"]:
        sizes = (
            f" ({len(data)} bytes, expected {record['size']})"
            if len(data) != record["size"]
            else ""
        )
        raise NoisylabError(
            f"{path} does not match the SHA-256 recorded in {_disp(stem_path, META_SUFFIX)}"
            f"{sizes}: the file was tampered with or truncated; use another checkpoint of "
            "the run (e.g. an epoch-NNN one)"
        )
    return data
