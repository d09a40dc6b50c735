"""``noisylab.noise`` must stay torch-free (and import cleanlab only when asked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_noise_does_not_import_torch():
    code = (
        "import sys, noisylab.noise; "
        "assert 'torch' not in sys.modules, 'noisylab.noise imported torch'; "
        "assert 'cleanlab' not in sys.modules, 'noisylab.noise imported cleanlab eagerly'; "
        "print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_public_api_is_listed():
    import noisylab.noise as nn

    for name in nn.__all__:
        assert hasattr(nn, name), name
