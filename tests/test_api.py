"""The Python API exported from `noisylab`: audit, a run specification, train, evaluate."""

from __future__ import annotations

import json
import subprocess
import sys

import noisylab


def test_import_noisylab_stays_light():
    code = "import sys, noisylab; print('torch' in sys.modules, 'noisylab.data' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_audit_spec_train_evaluate_on_the_bundled_digits(tmp_path):
    quiet = {"log": lambda line: None}
    found = noisylab.audit_labels("digits", out_dir=tmp_path / "audit", epochs=1, **quiet)
    assert isinstance(found, noisylab.AuditResult)
    assert found.transition.shape == (10, 10)

    # How --loss auto takes an audit's result is tests/test_spec.py's; one epoch of cross-fitting
    # need not reach a verdict, so the loss is named here.
    spec = noisylab.resolve_spec("digits", loss="ce", epochs=1, batch_size=32, **quiet)
    assert isinstance(spec, noisylab.RunSpec)

    result = noisylab.train_run(spec, out=tmp_path / "run", **quiet)
    assert isinstance(result, noisylab.TrainResult) and len(result.history) == 1
    saved = json.loads((tmp_path / "run" / "spec.json").read_text())
    assert noisylab.RunSpec.from_dict(saved) == spec

    figures = noisylab.evaluate_run(result, noisylab.load("digits", progress=False))
    assert 0 <= figures["acc"] <= 1 and figures["n"] == 1797
    assert figures == noisylab.evaluate_run(tmp_path / "run", "digits")
