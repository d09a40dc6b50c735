"""The Python API: the calls the CLI's ``audit``, ``train`` and ``evaluate`` are shells over.

Exported from `noisylab` itself (imported on first use, so ``import noisylab`` stays light)::

    import noisylab

    found = noisylab.audit_labels("folder:/data/mine", out_dir="runs/audit-mine")
    spec = noisylab.resolve_spec("folder:/data/mine", epochs=20, audit=found)
    result = noisylab.train_run(spec, out="runs/mine")
    figures = noisylab.evaluate_run(result, "folder:/data/mine-test")

The names differ from the modules ``noisylab.audit``, ``noisylab.train`` and
``noisylab.evaluate``, which an import of those modules would put in their place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from noisylab.spec import RunSpec, resolve_spec

__all__ = ["RunSpec", "audit_labels", "evaluate_run", "resolve_spec", "train_run"]


def audit_labels(data, *, out_dir: str | os.PathLike, root: str | os.PathLike | None = None,
                 progress: bool = False, log: Callable[[str], None] = print, **options):
    """Audit the given labels of ``data`` (a source name or `noisylab.data.LabeledImages`):
    ``noisylab audit DATA --out OUT_DIR``. Returns its `noisylab.audit.AuditResult`
    (``diagnosis``, ``transition`` ``(K, K)`` with ``T[i, j] = P(given = j | true = i)``,
    ``suggested`` ``(N,)``, ...), to pass on as `resolve_spec`'s ``audit``. ``options``:
    `noisylab.audit.audit`'s (``folds``, ``epochs``, ``seed``, ...)."""
    from noisylab.audit import audit

    return audit(data, root=root, out_dir=out_dir, progress=progress, log=log, **options)


def train_run(spec: RunSpec, *, out: str | os.PathLike | None = None, resume: bool = False,
              root: str | os.PathLike | None = None, progress: bool = False,
              log: Callable[[str], None] = print):
    """Train the run ``spec`` describes (from `resolve_spec`) into the run folder ``out``:
    ``noisylab train``. Returns its `noisylab.train.TrainResult` (``out_dir``, ``best_epoch``,
    ``history``, one dict per epoch as in ``metrics.jsonl``)."""
    from noisylab.pipeline import run

    return run(spec, out=out, resume=resume, root=root, progress=progress, log=log)


def evaluate_run(run, data, *, root: str | os.PathLike | None = None, split: str = "train",
                 out_dir: str | os.PathLike | None = None, views: int = 1,
                 device: str = "cpu", addons: Sequence[str] = (), no_addons: Sequence[str] = (),
                 load_options: dict | None = None, progress: bool = False) -> dict:
    """Score a run's model on labelled images: ``noisylab evaluate RUN --data DATA``.

    Parameters
    ----------
    run : TrainResult, path or list of paths
        A `train_run` result, a run folder or checkpoint, or several (an ensemble).
    data : str or LabeledImages
        A source name (loaded with ``root``, ``split`` and ``load_options``) or images with
        their labels, taken as the truth.
    out_dir : path, optional
        Where the figures go (confusion matrix, reliability); none when not given.
    views : int
        Test-time augmentation: views averaged per image (``--tta``).
    addons, no_addons : sequence of str
        As ``--addon`` / ``--no-addon``: the prediction adjusters the run saved are applied
        (each reported beside the plain figure), those in ``addons`` required, those in
        ``no_addons`` left out.

    Returns
    -------
    dict
        `noisylab.evaluate.evaluate`'s figures: ``acc``, ``nll``, ``ece``, ``per_class``,
        ``confusion`` ``(K, K)``, ``adjusted`` for each prediction adjuster, and
        ``adjuster_files`` (``{name: path}`` of each adjuster's saved state).
    """
    from noisylab.addons import saved_adjusters
    from noisylab.evaluate import evaluate

    checkpoints = getattr(run, "out_dir", run)
    paths = list(checkpoints) if isinstance(checkpoints, (list, tuple)) else [checkpoints]
    adjusters = saved_adjusters(paths, use=addons, off=no_addons)  # before the data is loaded
    if isinstance(data, str):
        from noisylab.data import load

        data = load(data, root=root, split=split, progress=progress, **(load_options or {}))
    figures = evaluate(checkpoints, data, out_dir=out_dir, views=views, device=device,
                       adjusters=[a for a, _ in adjusters], without=no_addons)
    return {**figures, "adjuster_files": {a.name: str(p) for a, p in adjusters}}
