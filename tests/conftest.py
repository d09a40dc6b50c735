"""Shared fixtures: where the real data is, and a skip marker when it is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def real_data_root() -> Path | None:
    """The real data folder (``NOISYLAB_DATA`` or ``../shared/data``), or None when absent."""
    candidates = [os.environ.get("NOISYLAB_DATA"), str(REPO.parent / "shared" / "data")]
    for c in candidates:
        if c and (Path(c) / "mnistTask3.zip").exists():
            return Path(c).resolve()
    return None


@pytest.fixture
def real_root() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("real data not found (set NOISYLAB_DATA or put it at ../shared/data)")
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own decode cache unless it asks for the real one."""
    if os.environ.get("NOISYLAB_TEST_SHARED_CACHE"):
        return
    monkeypatch.setenv("NOISYLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
