"""Run folders: where runs go by default, finding the Part-1 model, reading a run's metrics, and
which checkpoints make a run's model."""

from __future__ import annotations

import json
import os
from pathlib import Path

from noisylab.checkpoints import Checkpoint, load_checkpoint
from noisylab.errors import NoisylabError
from noisylab.files import write_json

#: In a run folder: the checkpoints that together are the run's model, when they are several.
MODEL_FILE = "model.json"

#: The datasets whose runs ``--init pretrained`` means, most specific first per class count.
PRETRAINED_SOURCES = ("trainPart1-digits", "trainPart1")


def runs_root() -> Path:
    """The folder holding runs: ``NOISYLAB_RUNS`` or ``./runs``."""
    return Path(os.environ.get("NOISYLAB_RUNS", "runs"))


def _folder_name(data: str) -> str:
    """A source name usable as one folder name (``folder:a/b`` -> ``folder_a_b``)."""
    return data.replace(":", "_").replace("/", "_")


def evaluation_dir(first_checkpoint: str | os.PathLike, data: str, split: str,
                   members: int = 1) -> Path:
    """Where ``noisylab evaluate`` writes its figures by default: beside the (first) checkpoint,
    in ``eval-<data>-<split>``, with ``-ensemble<N>`` when ``members`` checkpoints are scored."""
    first = Path(first_checkpoint)
    name = f"eval-{_folder_name(data)}-{split}" + (f"-ensemble{members}" if members > 1 else "")
    return (first if first.is_dir() else first.parent) / name


def audit_dir(data: str) -> Path:
    """Where the audit of a source is written by default: ``runs/audit-<data>``."""
    return runs_root() / f"audit-{_folder_name(data)}"


def default_run_dir(data: str, *, init: str = "scratch", loss: str = "ce", seed: int = 0) -> Path:
    """``runs/<data>`` for a plain run, with the init and loss in the name when not defaults."""
    name = _folder_name(data)
    if init != "scratch":
        name += "-pretrained" if init == "pretrained" else "-init"
    if loss not in ("ce", "auto"):
        name += f"-{loss}"
    if seed:
        name += f"-s{seed}"
    return runs_root() / name


def find_pretrained(num_classes: int, *, arch: str | None = None,
                    root: Path | None = None) -> Checkpoint:
    """The Part-1 model to start from: the best of a ``trainPart1-digits`` or ``trainPart1`` run.

    Run folders named after those sources, alone or with a suffix (``trainPart1-digits-cnn-s``),
    are candidates. One of architecture ``arch`` is preferred (the recipe's, so a run keeps its
    model), then one with ``num_classes`` classes (its head can be kept), then the plain name.

    Raises
    ------
    NoisylabError
        When no such run exists, saying the command that makes one.
    """
    root = runs_root() if root is None else root
    found = sorted({d for name in PRETRAINED_SOURCES for d in root.glob(f"{name}*") if d.is_dir()
                    and (d.name == name or d.name.startswith(name + "-"))
                    and ((d / "best.json").exists() or (d / "last.json").exists())},
                   key=lambda d: (len(d.name), d.name))
    ckpts = [load_checkpoint(d) for d in found]
    if not ckpts:
        raise NoisylabError(
            f"--init pretrained needs a Part-1 model, and none is in {root}/trainPart1-digits or "
            f"{root}/trainPart1; make one with `noisylab train --data trainPart1-digits` "
            "(or pass --init PATH to a checkpoint)")
    # sort is stable: among equals, the shorter (plainer) folder name wins.
    ckpts.sort(key=lambda c: (arch is not None and c.metadata["architecture"] != arch,
                              c.metadata["num_classes"] != num_classes))
    return ckpts[0]


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The per-epoch records of a run's ``metrics.jsonl`` (empty when it has none yet)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise NoisylabError(f"{path} is not valid JSON lines ({err.msg}, line {err.lineno})") from None


def write_run_model(run_dir: str | os.PathLike, members: list[str], *, why: str) -> Path:
    """Record that a run's model is several of its checkpoints together (``model.json``).

    Parameters
    ----------
    run_dir : path
        The run folder.
    members : list of str
        Checkpoint names in the folder (e.g. ``["epoch-012", "best"]``), whose class
        probabilities are averaged.
    why : str
        A few words for the reader of the file.
    """
    path = Path(run_dir) / MODEL_FILE
    write_json(path, {"members": list(members), "combine": "mean of class probabilities",
                      "why": why})
    return path


def run_model(path: str | os.PathLike) -> list[Path]:
    """The checkpoints that make the model ``path`` names, to average.

    A run folder with a ``model.json`` (`write_run_model`) means its members; any other path
    (a run folder without one, which means its ``best``, or a checkpoint) means itself.

    Raises
    ------
    NoisylabError
        ``model.json`` is unreadable or names no checkpoint.
    """
    path = Path(path)
    record = path / MODEL_FILE
    if not (path.is_dir() and record.is_file()):
        return [path]
    try:
        members = json.loads(record.read_text())["members"]
        if not members or not all(isinstance(m, str) for m in members):
            raise ValueError("no checkpoint names in 'members'")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NoisylabError(f"{record} is unreadable ({err}); name the checkpoints to use "
                            f"instead, e.g. {path / 'best'}") from None
    return [path / m for m in members]
