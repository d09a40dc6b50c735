"""Data-parallel training under torchrun: two CPU processes (gloo) on synthetic data.

The launches go through ``torchrun`` (``python -m torch.distributed.run --standalone``), as a
user starts them, with this file as the worker script (``python tests/test_distributed.py
train|cli ...``). Every launch has a timeout, and so has every collective
(``NOISYLAB_DIST_TIMEOUT``), so a broken run fails the test instead of hanging it.

The comparison with one process uses a model without batch norm (``plain-test``, registered
here): on a CPU each rank normalises with the statistics of its own half of the global batch
(torch's SyncBatchNorm runs only on GPUs), so a model with batch norm takes slightly different
steps from one process that sees the whole batch. Everything else is the same computation, so
the weights agree to float tolerance. A lenet (with batch norm) run checks the rest: identical
weights on both ranks, one set of files, the CLI end to end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAUNCH_TIMEOUT = 240  # seconds for a whole torchrun launch (two fresh interpreters + training)
ARCH = "plain-test"


class Plain(nn.Module):
    """A small CNN without batch norm: its steps do not depend on how a batch is split."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 5, stride=2), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(8 * 12 * 12, 32), nn.ReLU())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


def _register_plain(architectures: dict) -> None:
    architectures[ARCH] = (lambda k, *_args, **_kwargs: Plain(k), "test model without batch norm")


def _config(arch: str, epochs: int = 2):
    from noisylab.train import TrainConfig

    return TrainConfig(arch=arch, epochs=epochs, batch_size=32, lr=5e-3, augment=True,
                       device="cpu", seed=0)


def _data():
    sys.path.insert(0, str(HERE))
    from synthetic import blobs

    return blobs(300, seed=0), blobs(100, seed=1)


# ------------------------------------------------------------------------- worker side


def _cross_fit() -> dict:
    """The audit's cross-fit of blobs in 2 folds: out-of-sample probabilities, stacking
    weights, and the folds this process fitted."""
    from noisylab.crossfit import cross_fit

    data, _ = _data()
    done: list = []
    fitted = cross_fit(data.images, data.labels, 4, family="free", folds=2, epochs=1,
                       progress=False, on_fold=lambda k, _n: done.append(k))
    return {"probs": torch.from_numpy(fitted.probs), "weights": fitted.weights, "folds": done}


def _record_steps(out: list):
    """Patch the loop's schedule factory so that every optimiser step appends the weights."""
    import noisylab.train as loop

    real = loop.one_cycle

    def one_cycle(optimizer, max_lr, total_steps):
        params = [p for g in optimizer.param_groups for p in g["params"]]
        optimizer.register_step_post_hook(lambda *_: out.append(
            torch.cat([p.detach().flatten().clone() for p in params])))
        return real(optimizer, max_lr, total_steps)

    loop.one_cycle = one_cycle


def _fail_at_epoch(rank: int, epoch: int, how: str) -> None:
    """Make rank ``rank`` stop at the start of epoch ``epoch``: ``raise`` a NoisylabError,
    ``kill`` itself (SIGKILL, as a lost machine) or ``hang`` (alive, never answering)."""
    import noisylab.train as loop
    from noisylab.distributed import place
    from noisylab.errors import NoisylabError

    if place().rank != rank:
        return
    real, calls = loop.train_one_epoch, []

    def train_one_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "hang":
                time.sleep(3600)
            raise NoisylabError(f"injected failure at epoch {epoch}")
        return real(*args, **kwargs)

    loop.train_one_epoch = train_one_epoch


def _worker(argv: list[str]) -> None:
    """``train OUT ARCH [--resume] [--fail RANK EPOCH HOW]`` trains on blobs and saves each
    rank's per-step weights beside OUT; ``cli [--fail RANK EPOCH HOW] -- ARGS`` runs the CLI."""
    from noisylab.models import ARCHITECTURES

    _register_plain(ARCHITECTURES)
    if "--fail" in argv:
        i = argv.index("--fail")
        _fail_at_epoch(int(argv[i + 1]), int(argv[i + 2]), argv[i + 3])
        del argv[i:i + 4]
    if argv[0] == "cli":
        from noisylab.cli import cli

        cli(argv[argv.index("--") + 1:], prog_name="noisylab")
        return
    if argv[0] == "crossfit":
        from noisylab.distributed import place, setup

        setup(torch.device("cpu"))
        torch.save(_cross_fit(), f"{argv[1]}.rank{place().rank}.pt")
        return
    from noisylab.distributed import place
    from noisylab.train import train

    _, out, arch, *rest = argv
    steps: list = []
    _record_steps(steps)
    train_set, test_set = _data()
    train(train_set, _config(arch), out_dir=out, test_set=test_set, resume="--resume" in rest,
          progress=False, log=print)
    torch.save(torch.stack(steps), f"{out}.steps-rank{place().rank}.pt")


# ------------------------------------------------------------------------- test side


def _torchrun(*args: str, cwd: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "NOISYLAB_DIST_TIMEOUT": str(timeout), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "--monitor-interval", "0.5", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT)


def _worker_run(out: Path, arch: str, *extra: str) -> subprocess.CompletedProcess:
    return _torchrun(str(HERE / "test_distributed.py"), "train", str(out), arch, *extra,
                     cwd=out.parent)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _weights(run: Path, stem: str = "last") -> dict:
    from noisylab.checkpoints import load_checkpoint

    return load_checkpoint(run / stem).state_dict


def _files(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir())


@pytest.fixture(scope="module")
def plain_runs(tmp_path_factory):
    """The same 2-epoch run of the batch-norm-free model: two ranks, and one process."""
    from noisylab.models import ARCHITECTURES
    from noisylab.train import train

    root = tmp_path_factory.mktemp("ddp")
    _ok(_worker_run(root / "two", ARCH))
    steps: list = []
    saved = dict(ARCHITECTURES)
    import noisylab.train as loop

    real = loop.one_cycle
    try:
        _register_plain(ARCHITECTURES)
        _record_steps(steps)
        train_set, test_set = _data()
        one = train(train_set, _config(ARCH), out_dir=root / "one", test_set=test_set,
                    progress=False, log=lambda _m: None)
    finally:
        loop.one_cycle = real
        ARCHITECTURES.clear()
        ARCHITECTURES.update(saved)
    return root, torch.stack(steps), one


def test_ranks_hold_identical_weights_after_every_step(plain_runs):
    root, _, _ = plain_runs
    rank0 = torch.load(root / "two.steps-rank0.pt")
    rank1 = torch.load(root / "two.steps-rank1.pt")
    assert len(rank0) == 2 * (270 // 32)  # 270 training images after the validation split
    assert torch.equal(rank0, rank1)


def test_two_ranks_take_the_steps_of_one_process(plain_runs):
    root, one_steps, _ = plain_runs
    two_steps = torch.load(root / "two.steps-rank0.pt")
    assert two_steps.shape == one_steps.shape
    torch.testing.assert_close(two_steps, one_steps, rtol=1e-4, atol=1e-5)
    one, two = _weights(root / "one"), _weights(root / "two")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)


def test_figures_are_those_of_one_process(plain_runs):
    root, _, one = plain_runs
    two = [json.loads(line) for line in (root / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in two] == [1, 2]
    for a, b in zip(one.history, two, strict=True):
        for key in ("train_loss", "val_noisy-accuracy", "val_se", "val_acc", "test_acc",
                    "test_nll", "test_ece"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
        assert (a["step"], a["best_so_far"]) == (b["step"], b["best_so_far"])


def test_one_set_of_files_is_written(plain_runs):
    root, _, _ = plain_runs
    assert _files(root / "two") == _files(root / "one")
    assert not [n for n in _files(root / "two") if n.endswith(".tmp")]  # none left half-written


def test_resume_after_one_rank_is_killed(plain_runs):
    root, _, _ = plain_runs
    run = root / "killed"
    crashed = _worker_run(run, ARCH, "--fail", "1", "2", "kill")
    assert crashed.returncode != 0
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    _ok(_worker_run(run, ARCH, "--resume"))
    whole, resumed = _weights(root / "two"), _weights(run)
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=0)
    assert _files(run) == _files(root / "two")


def test_batch_norm_model_stays_identical_across_ranks(tmp_path):
    _ok(_worker_run(tmp_path / "lenet", "lenet"))
    rank0 = torch.load(tmp_path / "lenet.steps-rank0.pt")
    assert torch.equal(rank0, torch.load(tmp_path / "lenet.steps-rank1.pt"))
    assert "features.1.running_mean" in _weights(tmp_path / "lenet")


def test_torchrun_m_noisylab_train_prints_once(tmp_path):
    proc = _ok(_torchrun("-m", "noisylab", "train", "--data", "digits", "--loss", "ce",
                         "--epochs", "1", "--device", "cpu", "--out", "run", cwd=tmp_path))
    assert proc.stdout.count("epoch   1/1") == 1
    assert proc.stdout.count("run folder: run") == 1
    assert [json.loads(x)["epoch"] for x in
            (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()] == [1]


def _cli_failing(tmp_path: Path, how: str, timeout: int = 60) -> tuple[int, list[str]]:
    """A 3-epoch CLI run whose rank 1 fails (``how``) at epoch 2: exit code and error lines."""
    proc = _torchrun(str(HERE / "test_distributed.py"), "cli", "--fail", "1", "2", how, "--",
                     "train", "--data", "digits", "--loss", "ce", "--epochs", "3",
                     "--device", "cpu", "--out", "run", cwd=tmp_path, timeout=timeout)
    lines = proc.stderr.splitlines()
    assert not any(line.startswith("[rank") for line in lines), proc.stderr[-3000:]  # tracebacks
    return proc.returncode, [line for line in lines if line.startswith("error:")]


def test_a_failing_rank_stops_the_job_with_one_line(tmp_path):
    code, errors = _cli_failing(tmp_path, "raise")
    assert code != 0
    assert errors[0] == "error: rank 1: injected failure at epoch 2"
    # rank 0, if it sees the loss before torchrun stops it, points to that line
    assert errors[1:] in ([], ["error: rank 0: another rank stopped (its own line says why); "
                               "stopping too"])


def test_a_stalled_rank_times_out_instead_of_hanging(tmp_path):
    code, errors = _cli_failing(tmp_path, "hang", timeout=10)
    assert code != 0
    assert errors == ["error: rank 0: the other ranks did not answer within 10 s "
                      "($NOISYLAB_DIST_TIMEOUT); stopping"]


def test_the_audit_folds_run_on_separate_ranks(tmp_path):
    _ok(_torchrun(str(HERE / "test_distributed.py"), "crossfit", str(tmp_path / "q"),
                  cwd=tmp_path))
    rank0, rank1 = (torch.load(tmp_path / f"q.rank{r}.pt") for r in (0, 1))
    assert (rank0["folds"], rank1["folds"]) == ([0], [1])
    assert torch.equal(rank0["probs"], rank1["probs"]) and rank0["weights"] == rank1["weights"]
    threads = torch.get_num_threads()
    try:  # one thread, as each of the two processes had: the same arithmetic
        torch.set_num_threads(1)
        one = _cross_fit()
    finally:
        torch.set_num_threads(threads)
    assert one["folds"] == [0, 1]
    torch.testing.assert_close(rank0["probs"], one["probs"], rtol=1e-6, atol=1e-9)
    assert rank0["weights"] == one["weights"]


def test_torchrun_m_noisylab_audit_writes_one_report(tmp_path):
    proc = _ok(_torchrun("-m", "noisylab", "audit", "digits", "--epochs", "1", "--out", "a",
                         cwd=tmp_path))
    assert proc.stdout.count("report: a/report.md") == 1
    assert proc.stderr.count("auditing digits") == 1
    assert json.loads((tmp_path / "a" / "audit.json").read_text())["transition"]["matrix"]


RUN_TOML = """name = "ddp"
[pretrain]
data = "digits"
loss = "ce"
arch = "lenet"
epochs = 1
[audit]
data = "digits"
epochs = 1
[cells]
data = "digits"
arch = "lenet"
device = "cpu"
epochs = 1
init = ["scratch", "pretrained"]
loss = "auto"
"""


def test_torchrun_m_noisylab_run_writes_one_experiment(tmp_path):
    (tmp_path / "ddp.toml").write_text(RUN_TOML)
    proc = _ok(_torchrun("-m", "noisylab", "run", "ddp.toml", "--out", "out", cwd=tmp_path))
    folder = tmp_path / "out" / "ddp"
    assert proc.stdout.count("all 4 steps of ddp done") == 1
    assert (folder / "report.md").exists() and (folder / "audit" / "audit.json").exists()
    cells = sorted(p.parent.name for p in folder.glob("*/cell.json"))
    assert cells == ["pretrain", "pretrained_s0", "scratch_s0"], cells
    for cell in cells:  # one set of files: every epoch recorded once
        assert len((folder / cell / "metrics.jsonl").read_text().splitlines()) == 1
    again = _ok(_torchrun("-m", "noisylab", "run", "ddp.toml", "--out", "out", cwd=tmp_path))
    assert again.stdout.count("skipped") == 3  # a second launch finds every cell done


def test_one_process_without_torchrun_is_unchanged(monkeypatch):
    from noisylab import distributed

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.place() == distributed.Place(0, 1, 0, 1)
    assert distributed.is_writer() and not distributed.is_distributed()
    assert distributed.setup(torch.device("cpu"), batch_size=7) == torch.device("cpu")
    model = nn.Linear(2, 2)
    assert distributed.wrap(model) is model
    assert distributed.batch_shard(model, 10) == slice(None)
    assert distributed.finish_epoch(model, 1.5) == 1.5


def test_threads_are_the_cores_shared_by_the_local_processes(monkeypatch):
    from noisylab import distributed

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.place() == distributed.Place(3, 4, 1, 2)
    assert distributed.threads_per_process() == max(1, cores // 2)
    assert not distributed.is_writer()


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "do not fit together"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": ""}, "MASTER_ADDR"),
    ({"WORLD_SIZE": "2", "RANK": "0", "NOISYLAB_DIST_TIMEOUT": "-1"}, "NOISYLAB_DIST_TIMEOUT"),
])
def test_a_bad_environment_is_one_clear_error(monkeypatch, env, message):
    from noisylab import distributed
    from noisylab.errors import NoisylabError

    monkeypatch.delenv("MASTER_PORT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(NoisylabError, match=message):
        distributed.timeout_seconds()
        distributed.setup(torch.device("cpu"))


def test_the_global_batch_must_split_evenly(monkeypatch):
    from noisylab import distributed
    from noisylab.errors import NoisylabError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(NoisylabError, match="--batch-size 33 does not split over 2"):
        distributed.setup(torch.device("cpu"), batch_size=33)


def test_only_train_audit_and_run_run_under_torchrun(monkeypatch):
    from noisylab import distributed
    from noisylab.errors import NoisylabError

    distributed.check_command("evaluate")  # one process: anything goes
    monkeypatch.setenv("WORLD_SIZE", "2")
    distributed.check_command("train")
    distributed.check_command("audit")
    distributed.check_command("run")
    with pytest.raises(NoisylabError, match="noisylab evaluate runs as one process"):
        distributed.check_command("evaluate")


def test_python_m_noisylab_is_the_cli():
    proc = subprocess.run([sys.executable, "-m", "noisylab", "--version"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.startswith("noisylab, version")


if __name__ == "__main__":
    _worker(sys.argv[1:])
