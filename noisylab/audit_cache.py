"""``predictions.npz``: an audit's cross-fitted predictions, kept in its folder for the next audit.

The cross-fit is most of an audit's time (about three quarters of mnistTask3's on a 2-core CPU);
the ladder of noise models fitted to its predictions takes seconds. Answering ``verify.csv`` and
auditing again with ``--verified`` changes only the second part, so the audit keeps what the
cross-fit made beside its report and takes it back when nothing that made it has changed: the
same images, given labels and ids, folds, epochs, seed, model, training precision and
noisylab version. Anything else (a missing, damaged or foreign file) means predicting again.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from noisylab import __version__
from noisylab.crossfit import MODEL, CrossFit, ProbeResult
from noisylab.outputs import atomic_write_bytes

__all__ = ["FILE", "fingerprint", "load_predictions", "save_predictions"]

#: The file in the audit folder.
FILE = "predictions.npz"


def fingerprint(ds, *, folds: int, epochs: int, seed: int, precision: str = "fp32",
                model: str = MODEL) -> str:
    """A hex digest of everything the cross-fit's predictions depend on.

    Parameters
    ----------
    ds : noisylab.data.base.LabeledImages
        Images ``(N, 1, 28, 28)`` uint8 and their given labels ``(N,)``.
    folds, epochs, seed : int
        The cross-fit's settings (``epochs`` as resolved, not None).
    precision : str
        What the cross-fit trains in (``"bf16"`` or ``"fp32"``; the CPU decides).
    model : str
        The architecture the cross-fit trains (`noisylab.crossfit.MODEL`).
    """
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps({"version": __version__, "folds": folds, "epochs": epochs, "seed": seed,
                         "precision": precision, "model": model, "classes": list(ds.classes),
                         "shape": list(ds.images.shape)}).encode())
    h.update(np.ascontiguousarray(ds.images.numpy()).tobytes())
    h.update(np.ascontiguousarray(ds.labels.numpy(), dtype=np.int64).tobytes())
    h.update("\n".join(map(str, ds.ids)).encode())
    return h.hexdigest()


def save_predictions(out_dir: Path, key: str, probe: ProbeResult, fitted: CrossFit) -> Path:
    """Write ``out_dir/predictions.npz`` (written whole or not at all)."""
    buffer = io.BytesIO()
    meta = {"key": key, "family": probe.family, "nll": probe.nll, "prior_nll": probe.prior_nll,
            "weights": [list(w) for w in fitted.weights]}
    np.savez(buffer, probs=fitted.probs, meta=np.array(json.dumps(meta)))
    return atomic_write_bytes(Path(out_dir) / FILE, buffer.getvalue())


def load_predictions(out_dir: Path, key: str, n: int,
                     k: int) -> tuple[ProbeResult, CrossFit] | None:
    """The probe and cross-fit saved in ``out_dir`` under ``key``, or None.

    None when the file is missing, unreadable, made from other data or settings (another
    ``key``), or not ``(n, k)`` probabilities.
    """
    path = Path(out_dir) / FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            probs = saved["probs"]
        if meta.get("key") != key or probs.shape != (n, k) or not np.all(np.isfinite(probs)):
            return None
        probe = ProbeResult(nll=dict(meta["nll"]), prior_nll=float(meta["prior_nll"]),
                            family=str(meta["family"]))
        weights = [tuple(float(v) for v in w) for w in meta["weights"]]
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return probe, CrossFit(probs=probs, weights=weights)
