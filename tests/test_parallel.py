"""Jobs side by side in threads: results in order, errors handed back, fits reproducible."""

import subprocess
import sys
import textwrap
import time

import pytest
import torch

from noisylab.crossfit import fit_model
from noisylab.models import GeneratorDropout, build_model, with_own_dropout
from noisylab.parallel import map_in_threads


def test_results_come_back_in_order_and_the_thread_setting_is_restored():
    before = torch.get_num_threads()
    seen = []

    def square(x):
        seen.append(torch.get_num_threads())
        return x * x

    assert map_in_threads(square, range(7), threads=2) == [x * x for x in range(7)]
    assert set(seen) == {1}  # two workers share two threads
    assert torch.get_num_threads() == before
    assert map_in_threads(square, [3], threads=4) == [9]  # one job runs in this thread


def test_an_error_in_a_job_reaches_the_caller():
    def fail_on_two(x):
        if x == 2:
            raise ValueError("two")
        return x

    with pytest.raises(ValueError, match="two"):
        map_in_threads(fail_on_two, range(4), threads=2)


def test_dropout_draws_from_its_own_generator():
    model = with_own_dropout(build_model("tiny", 3), torch.Generator().manual_seed(0))
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout | GeneratorDropout)]
    assert drops and all(isinstance(m, GeneratorDropout) for m in drops)
    x = torch.ones(4, 1000)
    a = GeneratorDropout(0.5, torch.Generator().manual_seed(1)).train()(x)
    torch.manual_seed(123)  # the global generator does not matter
    b = GeneratorDropout(0.5, torch.Generator().manual_seed(1)).train()(x)
    assert torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(GeneratorDropout(0.5, torch.Generator()).eval()(x), x)


def test_fits_side_by_side_equal_fits_one_after_another():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (192, 1, 28, 28), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 3, (192,), generator=gen)

    def fit(seed):
        model = fit_model(images, labels, 3, family="free", epochs=1, batch_size=64, seed=seed,
                          progress=False, precision="fp32")
        return model.state_dict()

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = [fit(s) for s in (0, 1)]
    finally:
        torch.set_num_threads(before)
    together = map_in_threads(fit, (0, 1), threads=2)
    for a, b in zip(alone, together, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(alone[0]["head.weight"], alone[1]["head.weight"])


def test_an_interrupt_with_jobs_still_running_exits_at_once_with_one_line():
    # torch aborts ("terminate called without an active exception") if the interpreter shuts
    # down under a thread that is training
    script = textwrap.dedent("""
        import threading, time, click, torch
        from noisylab.cli import _Group
        from noisylab.crossfit import fit_model

        @click.group(cls=_Group)
        def group():
            pass

        @group.command()
        def work():
            x = torch.randint(0, 256, (4096, 1, 28, 28), dtype=torch.uint8)
            y = torch.randint(0, 3, (4096,))
            threading.Thread(target=fit_model, args=(x, y, 3), daemon=True,
                             kwargs=dict(family="free", epochs=50, progress=False)).start()
            time.sleep(2)
            raise KeyboardInterrupt

        group(["work"])
    """)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 130
    assert done.stderr.strip() == "interrupted; files already written are kept"
    assert time.perf_counter() - started < 30  # the sleeping thread was not waited for
