"""The allocator setting: freed blocks are reused instead of fresh pages from the kernel."""

import subprocess
import sys

import pytest

_CHURN = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from noisylab.allocator import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    blocks = [np.ones(2**19) for _ in range(3)]  # 4 MB each, written: their pages are touched
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str, env: dict | None = None) -> int:
    done = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True,
                          check=True, env=env)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_blocks_are_reused_instead_of_new_pages():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    churn, kept = _page_faults("default", env), _page_faults("keep", env)
    # 120 blocks of 4 MB are 123,000 pages. By default glibc gives much of the freed heap back
    # to the kernel each round; kept, the first round's 3,000 pages serve every later one
    assert churn > 20_000
    assert kept < churn / 10


def test_glibc_settings_the_user_made_are_left_alone(monkeypatch):
    from noisylab import allocator

    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert allocator.keep_freed_memory() is False
