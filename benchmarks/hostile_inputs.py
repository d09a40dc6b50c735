"""Hostile inputs through the noisylab command line: does each one fail safely?

Builds about fifty hostile inputs in a temporary folder, on tiny synthetic data (96 PNGs of
28x28 pixels), runs each through the command line in its own process with a timeout, and
classifies it:

handled      what is due happened: a refusal (exit code not 0, exactly one ``error:`` line,
             which is the last line, and no traceback), a named skip (exit 0 and a
             ``warning:`` line naming the skipped file), or success for an input that must work;
             and in every case the user's files are byte for byte as they were, and nothing was
             created where a refused command may create nothing.
NOT handled  a traceback, a hang (past the timeout), exit 0 where a refusal is due, several
             error lines or text after one, a user's file changed or gone, a folder created by
             a refused command, or slow work (a cross-fit) begun before a refusal.

It prints one row per case and ends with ``N handled, M not handled``; its exit code is 1 when
any case is not handled.

    python benchmarks/hostile_inputs.py                # every case (a few minutes on 2 cores)
    python benchmarks/hostile_inputs.py --fast         # the quick subset tests/ runs
    python benchmarks/hostile_inputs.py --only resume  # the cases whose name holds "resume"
    python benchmarks/hostile_inputs.py --keep /tmp/h  # build in /tmp/h and keep it

A read-only folder and a full disk are simulated inside the noisylab process (`FAULTS`): each
write below the folder fails with the error number the kernel gives (EACCES, ENOSPC), so the
cases behave the same for root, whom file modes do not stop, and need no small disk to fill.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: Run in the noisylab process before the command: each write below a folder fails. Arguments:
#: the fault (``read-only``, ``full``, or ``full:TEXT``: only paths holding TEXT), the folder,
#: then the command line.
FAULTS = r'''
import builtins, errno, io, os, sys
fault, root = sys.argv[1], os.path.realpath(sys.argv[2])
code = errno.EACCES if fault == "read-only" else errno.ENOSPC
only = fault.partition(":")[2]

def hit(p):
    try:
        p = os.path.realpath(os.fsdecode(p))
    except TypeError:
        return False
    return (p == root or p.startswith(root + os.sep)) and only in p

def guard(real, writes):
    def call(p, *a, **k):
        if writes(*a, **k) and hit(p):
            raise OSError(code, os.strerror(code), os.fsdecode(p))
        return real(p, *a, **k)
    return call

os.open = guard(os.open, lambda flags=0, *a, **k: flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
io.open = builtins.open = guard(io.open, lambda mode="r", *a, **k: any(c in mode for c in "wax+"))
if fault == "read-only":
    os.mkdir = guard(os.mkdir, lambda *a, **k: True)
sys.argv = ["noisylab", *sys.argv[3:]]
from noisylab.cli import main
main()
'''

#: The training options of every run the cases make: small and quick.
TRAIN = ["--loss", "ce", "--arch", "lenet", "--batch-size", "32", "--no-augment"]
USER_NOTE = b"the user's own notes: noisylab must never touch them\n"


@dataclass
class Plan:
    """One hostile input, ready to run.

    ``expect``: ``refuse``, ``skip`` (a warning naming ``names``), ``succeed``, or
    ``refuse or succeed``. ``protect``: files or folders whose bytes must stay as they are.
    ``absent``: paths that must not exist afterwards. ``present``: paths that must. ``before``:
    words that must not be printed (work that should not start before a refusal). ``fault``:
    ``(fault, folder)`` for `FAULTS`.
    """

    args: list
    expect: str = "refuse"
    protect: list = field(default_factory=list)
    absent: list = field(default_factory=list)
    present: list = field(default_factory=list)
    names: str = ""
    before: tuple = ()
    fault: tuple | None = None
    timeout: float = 180


@dataclass
class Case:
    """A named hostile input of one ``kind``; ``build(work)`` makes its files and its `Plan`.
    ``fast``: in the subset tests/ run. ``awaits``: the work it needs when not handled yet."""

    name: str
    kind: str
    build: Callable
    fast: bool = False
    awaits: str = ""


@dataclass
class Outcome:
    case: Case
    handled: bool
    said: str
    seconds: float


class SetupError(Exception):
    """A case's inputs could not be built as meant (said in its row, counted not handled)."""


# --- the workspace -----------------------------------------------------------------------------


class Work:
    """The temporary folder the cases build in, with data and a finished run made once."""

    def __init__(self, root: Path, timeout: float):
        self.root, self.timeout = root, timeout
        self._cache: dict[str, object] = {}
        self.env = {**os.environ, "NOISYLAB_RUNS": str(root / "runs"),
                    "NOISYLAB_DATA": str(root / "no-data"),
                    "NOISYLAB_CACHE": str(root / "cache"), "PYTHONUNBUFFERED": "1"}

    def path(self, name: str) -> Path:
        return self.root / name

    def once(self, key: str, make: Callable):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def shapes(self, name: str = "shapes", seed: int = 0) -> str:
        """``folder:PATH`` of 4 classes x 24 PNGs: class c is a bright square in quadrant c."""
        return self.once(f"data-{name}", lambda: f"folder:{make_shapes(self.path(name), seed)}")

    def user_folder(self, name: str) -> Path:
        folder = self.path(name)
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_bytes(USER_NOTE)
        return folder

    def base_run(self) -> Path:
        """A finished 2-epoch run on `shapes`, made once; cases copy it."""
        def make():
            out = self.path("base-run")
            self.cli(["train", "--data", self.shapes(), *TRAIN, "--epochs", "2", "--out", out],
                     must_work=True)
            return out
        return self.once("base-run", make)

    def copy_run(self, name: str) -> Path:
        return Path(shutil.copytree(self.base_run(), self.path(name), symlinks=True))

    def cli(self, args: list, *, must_work: bool = False) -> subprocess.CompletedProcess:
        """Run a command to build a case (not classified)."""
        done = subprocess.run([sys.executable, "-m", "noisylab", *map(str, args)],
                              cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=self.timeout)
        if must_work and done.returncode != 0:
            raise SetupError(f"setup command failed: {' '.join(map(str, args))}: "
                             f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
        return done


def make_shapes(root: Path, seed: int, per_class: int = 24) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate("wxyz"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            im = rng.integers(0, 40, (28, 28)).astype(np.uint8)
            r, q = divmod(c, 2)
            im[2 + 14 * r:12 + 14 * r, 2 + 14 * q:12 + 14 * q] = 255
            Image.fromarray(im).save(root / name / f"{i:03d}.png")
    return root


def png_bytes(width: int = 28, height: int = 28) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its pixel data is one tiny row)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + chunk(b"IEND", b""))


# --- running and judging -----------------------------------------------------------------------


def snapshot(path: Path) -> dict:
    """``{relative name: bytes}`` of a file or of every file below a folder."""
    if path.is_file():
        return {"": path.read_bytes()}
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
                if p.is_file() and not p.is_symlink()}
    return {}


def damage(path: Path, was: dict) -> str:
    """What happened to the protected ``path`` since its snapshot ``was`` ('' when nothing)."""
    now = snapshot(path)

    def named(name: str) -> str:
        return f"{path.name}/{name}" if name else path.name

    lost = [name for name in was if name not in now]
    changed = [name for name in was if name in now and now[name] != was[name]]
    added = [name for name in now if name not in was]
    if lost:
        return f"file lost: {named(lost[0])}"
    if changed:
        return f"file changed: {named(changed[0])}"
    if added:
        return f"wrote into {path.name}: {added[0]}"
    return ""


def command(plan: Plan) -> list[str]:
    args = [str(a) for a in plan.args]
    if plan.fault:
        return [sys.executable, "-c", FAULTS, plan.fault[0], str(plan.fault[1]), *args]
    return [sys.executable, "-m", "noisylab", *args]


def execute(plan: Plan, work: Work) -> tuple[int | None, str]:
    """Exit code (None: killed at the timeout) and everything printed."""
    proc = subprocess.Popen(command(plan), cwd=work.root, env=work.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=min(plan.timeout, work.timeout))
        return proc.returncode, out.decode("utf-8", "backslashreplace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # with any worker processes it started
        out, _ = proc.communicate()
        return None, out.decode("utf-8", "backslashreplace")


def judge(plan: Plan, code: int | None, text: str, before: dict) -> tuple[bool, str]:
    """Whether the outcome is the one due, and what to say about it."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    if code is None:
        return False, "hang: killed at the timeout"
    if "Traceback (most recent call last)" in text:
        return False, f"traceback: {last}"
    for path, was in before.items():
        harm = damage(path, was)
        if harm:
            return False, harm
    for path in plan.absent:
        if path.exists() or path.is_symlink():
            return False, f"created {path.name} although refused"
    for word in plan.before:
        if word in text:
            return False, f"'{word}' ran before the refusal"
    errors = [ln for ln in lines if ln.lower().startswith("error:")]
    refused = code != 0 and len(errors) == 1 and last == errors[0].strip()
    if plan.expect in ("refuse", "refuse or succeed") and refused:
        return True, errors[0]
    if plan.expect in ("succeed", "refuse or succeed") and code == 0:
        gone = [p.name for p in plan.present if not p.exists()]
        return (False, f"exit 0 but no {gone[0]}") if gone else (True, "exit 0")
    if plan.expect == "skip":
        named = [ln for ln in lines if ln.startswith("warning:") and plan.names in ln]
        if code == 0 and named:
            return True, named[0]
        return False, f"exit {code}, no warning naming {plan.names}: {last}"
    if code == 0:
        return False, f"exit 0 where a refusal is due: {last}"
    return False, f"exit {code}, {len(errors)} error line(s), last line: {last}"


def run_case(case: Case, work: Work) -> Outcome:
    started = time.perf_counter()
    try:
        plan = case.build(work)
    except (SetupError, subprocess.TimeoutExpired, OSError) as err:
        return Outcome(case, False, f"setup failed: {err}", time.perf_counter() - started)
    before = {Path(p): snapshot(Path(p)) for p in plan.protect}
    code, text = execute(plan, work)
    handled, said = judge(plan, code, text, before)
    return Outcome(case, handled, said, time.perf_counter() - started)


# --- the cases: data loss ------------------------------------------------------------------------


def _demo_user_folder(w: Work) -> Plan:
    f = w.user_folder("demo-user")
    return Plan(["demo", "--out", f, "--epochs", "1"], protect=[f], before=("pretraining",))


def _demo_own_folder_with_user_file(w: Work) -> Plan:
    f = w.path("demo-own")
    f.mkdir()
    (f / ".noisylab").write_text(json.dumps({"kind": "demo", "noisylab": "0.1.0"}))
    (f / "report.md").write_text("an earlier demo's report")
    (f / "my-analysis.csv").write_bytes(USER_NOTE)
    return Plan(["demo", "--out", f, "--epochs", "1"], protect=[f / "my-analysis.csv"],
                before=("pretraining",))


def _train_user_folder(w: Work) -> Plan:
    f = w.user_folder("train-user")
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", f],
                protect=[f], before=("training lenet",))


def _train_users_best_json(w: Work) -> Plan:
    f = w.path("train-best-json")
    f.mkdir()
    (f / "best.json").write_bytes(b'{"my": "best results, not a checkpoint"}')
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", f],
                protect=[f], before=("training lenet",))


def _train_over_audit(w: Work) -> Plan:
    f = w.path("an-audit")
    f.mkdir()
    for name in ("audit.json", "report.md", "transition.json"):
        (f / name).write_text("{}")
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", f],
                protect=[f], before=("training lenet",))


def _audit_user_folder(w: Work) -> Plan:
    f = w.user_folder("audit-user")
    return Plan(["audit", w.shapes(), "--out", f, "--epochs", "1"], protect=[f],
                before=("cross-fit",))


def _audit_over_run(w: Work) -> Plan:
    run = w.copy_run("audit-over-run")
    return Plan(["audit", w.shapes(), "--out", run, "--epochs", "1"], protect=[run],
                before=("cross-fit",))


def _evaluate_user_folder(w: Work) -> Plan:
    f = w.user_folder("evaluate-user")
    return Plan(["evaluate", w.base_run(), "--data", w.shapes(), "--out", f], protect=[f])


def _evaluate_over_run(w: Work) -> Plan:
    run = w.copy_run("evaluate-over-run")
    return Plan(["evaluate", run, "--data", w.shapes(), "--out", run], protect=[run])


def experiment_file(w: Work, name: str, **cells) -> Path:
    settings = {"data": w.shapes(), "loss": "ce", "arch": "lenet", "epochs": 1,
                "batch_size": 32, "augment": False, **cells}
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
    path = w.path(f"{name}.toml")
    path.write_text(f'name = "{name}"\n\n[cells]\n{body}\n')
    return path


def _run_user_folder(w: Work) -> Plan:
    exp = experiment_file(w, "exp-user")
    f = w.user_folder("exp-root/exp-user")
    return Plan(["run", exp, "--out", w.path("exp-root")], protect=[f], before=("training",))


def _run_changed_settings(w: Work) -> Plan:
    exp = experiment_file(w, "exp-changed")
    w.cli(["run", exp, "--out", w.path("exp-out")], must_work=True)
    experiment_file(w, "exp-changed", epochs=2)
    folder = w.path("exp-out") / "exp-changed"
    return Plan(["run", exp, "--out", w.path("exp-out")],
                protect=[folder / "experiment.toml", folder / "experiment.json"])


# --- resume mismatches and dead ends ---------------------------------------------------------------


def _resume_with(name: str, *changed: str) -> Callable[[Work], Plan]:
    def build(w: Work) -> Plan:
        run = w.copy_run(f"resume-{name}")
        args = ["train", "--data", w.shapes(), *TRAIN, "--epochs", "2", "--out", run, "--resume"]
        for flag, value in zip(changed[::2], changed[1::2], strict=True):
            if flag in args:
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
        if name == "data":
            args[args.index("--data") + 1] = w.shapes("other-shapes", seed=1)
        return Plan(args, protect=[run], before=("epoch   3",))
    return build


def _resume_same(w: Work) -> Plan:
    run = w.copy_run("resume-same")
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "2", "--out", run,
                 "--resume"], expect="succeed")


def _resume_user_folder(w: Work) -> Plan:
    f = w.user_folder("resume-user")
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", f, "--resume"],
                protect=[f])


def _killed_before_checkpoint(w: Work, name: str) -> Path:
    """A run killed with SIGKILL once its folder exists, before its first checkpoint."""
    out = w.path(name)
    args = ["train", "--data", "digits", *TRAIN, "--batch-size", "4", "--epochs", "1",
            "--out", out]
    proc = subprocess.Popen([sys.executable, "-m", "noisylab", *args], cwd=w.root, env=w.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + w.timeout
    while not out.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if not out.exists() or list(out.glob("*.safetensors")):
        raise SetupError("the run was not caught between its folder and its first checkpoint")
    return out


def _killed_then_rerun(w: Work) -> Plan:
    out = _killed_before_checkpoint(w, "killed-rerun")
    return Plan(["train", "--data", "digits", *TRAIN, "--epochs", "1", "--out", out],
                expect="succeed", present=[out / "best.json"])


def _killed_then_resume(w: Work) -> Plan:
    out = _killed_before_checkpoint(w, "killed-resume")
    return Plan(["train", "--data", "digits", *TRAIN, "--epochs", "1", "--out", out,
                 "--resume"], expect="refuse or succeed")


def _failed_then_rerun(w: Work) -> Plan:
    out = w.path("failed-rerun")
    w.cli(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--lr", "1e30",
           "--out", out])
    if not out.exists() or list(out.glob("*.safetensors")):
        raise SetupError("the failing run left no folder, or a checkpoint")
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", out],
                expect="succeed", present=[out / "best.json"])


# --- odd files -------------------------------------------------------------------------------------


def _odd(name: str, make: Callable[[Path], str], *, expect: str = "skip", strict: bool = False,
         zipped: bool = False) -> Callable[[Work], Plan]:
    """``data info`` of the shapes with one odd file, made by ``make(class folder)``, which
    returns the name the skip warning must show."""
    def build(w: Work) -> Plan:
        source = root = make_shapes(w.path(f"odd-{name}"), 0, per_class=6)
        if zipped:
            source = root.with_suffix(".zip")
            with zipfile.ZipFile(source, "w") as z:
                for p in sorted(root.rglob("*.png")):
                    z.write(p, str(p.relative_to(root)))
        shown = make(source if zipped else root / "w")
        return Plan(["data", "info", f"folder:{source}", *(["--strict"] if strict else [])],
                    expect=expect, names=shown, timeout=60)
    return build


def _bomb(folder: Path) -> str:
    (folder / "bomb.png").write_bytes(png_bytes(100_000, 100_000))
    return "bomb.png"


def _bad_crc_member(archive: Path) -> str:
    data = png_bytes()
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as z:
        z.writestr("w/bad-crc.png", data)
    raw = bytearray(archive.read_bytes())
    at = raw.rfind(data)  # the member's stored bytes: flip one, the CRC no longer matches
    raw[at + len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(raw))
    return "bad-crc.png"


def _huge_member(archive: Path) -> str:
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("w/huge.png", "w", force_zip64=True) as f:
            block = b"\x00" * 2**20
            for _ in range(65):  # 65 MiB that deflate to about 65 KB
                f.write(block)
    return "huge.png"


def _zip_slip(archive: Path) -> str:
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("../escaped.png", png_bytes())
    return "escaped.png"


def _dangling(folder: Path) -> str:
    (folder / "gone.png").symlink_to(folder / "nowhere.png")
    return "gone.png"


def _not_utf8(folder: Path) -> str:
    with open(os.fsencode(folder) + b"/caf\xe9.png", "wb") as f:
        f.write(png_bytes())
    return "caf\\xe9.png"


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "x.png")
    return "x.png"


def _truncated(folder: Path) -> str:
    (folder / "cut.png").write_bytes((folder / "000.png").read_bytes()[:40])
    return "cut.png"


def _text_as_png(folder: Path) -> str:
    (folder / "notes.png").write_text("not an image")
    return "notes.png"


def _empty_class(folder: Path) -> str:
    (folder.parent / "v").mkdir()
    return ""


# --- filesystem ------------------------------------------------------------------------------------


def _below_file(command: str) -> Callable[[Work], Plan]:
    def build(w: Work) -> Plan:
        blocker = w.path(f"{command}-blocker")
        blocker.write_bytes(USER_NOTE)
        out = blocker / "sub"
        return Plan(_out_command(w, command, out), protect=[blocker], before=("cross-fit",))
    return build


def _out_command(w: Work, command: str, out: Path) -> list:
    if command == "train":
        return ["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", out]
    if command == "audit":
        return ["audit", w.shapes(), "--epochs", "1", "--out", out]
    if command == "evaluate":
        return ["evaluate", w.base_run(), "--data", w.shapes(), "--out", out]
    if command == "show":
        return ["data", "show", w.shapes(), "--out", out / "grid.png"]
    raise ValueError(command)


def _faulty(command: str, fault: str) -> Callable[[Work], Plan]:
    def build(w: Work) -> Plan:
        folder = w.path(f"{command}-{fault.replace(':', '-')}")
        folder.mkdir()
        (folder / "notes.txt").write_bytes(USER_NOTE)
        return Plan(_out_command(w, command, folder / "out"), fault=(fault, folder),
                    protect=[folder / "notes.txt"], before=("cross-fit",))
    return build


def _full_during_training(w: Work) -> Plan:
    folder = w.path("train-full-later")
    folder.mkdir()
    out = folder / "out"
    return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "3", "--out", out],
                fault=("full:epoch-002", folder), present=[out / "epoch-001.json"])


# --- late checks -------------------------------------------------------------------------------------


def _audit_with(*extra: str, make: Callable[[Path], None] | None = None) -> Callable:
    def build(w: Work) -> Plan:
        if make:
            make(w.root)
        out = w.path(f"audit{'-'.join(extra)}".replace("/", "_"))
        return Plan(["audit", w.shapes(), "--out", out, *extra], absent=[out],
                    before=("cross-fit", "probe"))
    return build


def _garbage_pt(root: Path) -> None:
    (root / "x.pt").write_bytes(b"\x80\x04\x95 a pickle, never to be loaded")


def _corrupt_gz(root: Path) -> None:
    labels = (2049).to_bytes(4, "big") + (96).to_bytes(4, "big") + bytes(96)
    data = gzip.compress(labels)
    (root / "corrupt.gz").write_bytes(data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:])


def _train_with(*extra: str) -> Callable[[Work], Plan]:
    def build(w: Work) -> Plan:
        out = w.path("train" + "".join(extra).replace("/", "_"))
        if "x.pt" in extra:
            _garbage_pt(w.root)
        return Plan(["train", "--data", w.shapes(), *TRAIN, "--epochs", "1", "--out", out,
                     *extra], absent=[out], before=("training lenet",))
    return build


def _toml(name: str, text: bytes, *, dry_run: bool = True) -> Callable[[Work], Plan]:
    def build(w: Work) -> Plan:
        path = w.path(f"{name}.toml")
        path.write_bytes(text.replace(b"DATA", w.shapes().encode()))
        return Plan(["run", path, "--out", w.path(f"{name}-out"),
                     *(["--dry-run"] if dry_run else [])], absent=[w.path(f"{name}-out")])
    return build


def _evaluate_garbage(w: Work) -> Plan:
    _garbage_pt(w.root)
    return Plan(["evaluate", w.root / "x.pt", "--data", w.shapes(), "--out", w.path("ev-x")],
                absent=[w.path("ev-x")])


CELLS_TOML = b'name = "NAME"\n[cells]\ndata = "DATA"\nloss = "ce"\narch = "lenet"\nepochs = 1\n'

CASES = [
    # data loss
    Case("demo --out a user's folder", "data loss", _demo_user_folder, fast=True),
    Case("demo --out its own folder holding a user's file", "data loss",
         _demo_own_folder_with_user_file),
    Case("train --out a user's folder", "data loss", _train_user_folder),
    Case("train --out a folder holding a user's best.json", "data loss", _train_users_best_json),
    Case("train --out an audit's folder", "data loss", _train_over_audit),
    Case("audit --out a user's folder", "data loss", _audit_user_folder, fast=True),
    Case("audit --out a run folder", "data loss", _audit_over_run),
    Case("evaluate --out a user's folder", "data loss", _evaluate_user_folder),
    Case("evaluate --out the run folder itself", "data loss", _evaluate_over_run),
    Case("run: the experiment's folder is a user's", "data loss", _run_user_folder),
    Case("run again with changed settings keeps the saved files", "data loss",
         _run_changed_settings),
    # resume mismatches and dead ends
    Case("resume with another --seed", "resume", _resume_with("seed", "--seed", "1")),
    Case("resume with another --batch-size", "resume",
         _resume_with("batch", "--batch-size", "16")),
    Case("resume with another --lr", "resume", _resume_with("lr", "--lr", "0.5")),
    Case("resume with another --epochs", "resume", _resume_with("epochs", "--epochs", "3")),
    Case("resume with another --arch", "resume", _resume_with("arch", "--arch", "cnn-s")),
    Case("resume with other data", "resume", _resume_with("data")),
    Case("resume with the same settings (control)", "resume", _resume_same),
    Case("resume in a user's folder", "resume", _resume_user_folder),
    Case("killed before its first checkpoint, run again", "dead end", _killed_then_rerun),
    Case("killed before its first checkpoint, --resume", "dead end", _killed_then_resume),
    Case("failed before its first checkpoint, run again", "dead end", _failed_then_rerun),
    # odd files
    Case("image header claiming 100000x100000", "odd file", _odd("bomb", _bomb), fast=True),
    Case("image header claiming 100000x100000, --strict", "odd file",
         _odd("bomb-strict", _bomb, expect="refuse", strict=True)),
    Case("zip member with a bad CRC", "odd file", _odd("crc", _bad_crc_member, zipped=True)),
    Case("zip member of 65 MiB", "odd file", _odd("huge", _huge_member, zipped=True)),
    Case("zip member named ../escaped.png", "odd file",
         _odd("slip", _zip_slip, zipped=True, expect="refuse")),
    Case("link to nothing", "odd file", _odd("dangling", _dangling)),
    Case("file name that is not UTF-8", "odd file", _odd("utf8", _not_utf8)),
    Case("named pipe called x.png", "odd file", _odd("fifo", _fifo), fast=True),
    Case("truncated PNG", "odd file", _odd("truncated", _truncated)),
    Case("text file called notes.png", "odd file", _odd("text", _text_as_png)),
    Case("empty class folder", "odd file", _odd("empty", _empty_class, expect="refuse")),
    # filesystem
    Case("train --out below a regular file", "filesystem", _below_file("train")),
    Case("audit --out below a regular file", "filesystem", _below_file("audit"), fast=True),
    Case("evaluate --out below a regular file", "filesystem", _below_file("evaluate")),
    Case("data show --out below a regular file", "filesystem", _below_file("show")),
    Case("train --out in a read-only folder", "filesystem", _faulty("train", "read-only")),
    Case("audit --out in a read-only folder", "filesystem", _faulty("audit", "read-only")),
    Case("evaluate --out in a read-only folder", "filesystem", _faulty("evaluate", "read-only")),
    Case("data show --out in a read-only folder", "filesystem", _faulty("show", "read-only")),
    Case("train --out on a full disk", "filesystem", _faulty("train", "full")),
    Case("audit --out on a full disk", "filesystem", _faulty("audit", "full")),
    Case("disk full at epoch 2 keeps epoch 1", "filesystem", _full_during_training),
    # late checks
    Case("audit --reference x.pt (not a checkpoint)", "late check",
         _audit_with("--reference", "x.pt", make=_garbage_pt), fast=True),
    Case("audit --trusted corrupt.gz", "late check",
         _audit_with("--trusted", "corrupt.gz", make=_corrupt_gz), fast=True),
    Case("audit --seed -1", "late check", _audit_with("--seed", "-1"), fast=True),
    Case("audit --epochs -1", "late check", _audit_with("--epochs", "-1")),
    Case("audit --folds 1", "late check", _audit_with("--folds", "1")),
    Case("train --seed -1", "late check", _train_with("--seed", "-1"), fast=True),
    Case("train --seed 2**32", "late check", _train_with("--seed", str(2**32))),
    Case("train --lr -1", "late check", _train_with("--lr", "-1")),
    Case("train --epochs 0", "late check", _train_with("--epochs", "0")),
    Case("train --init x.pt (not a checkpoint)", "late check", _train_with("--init", "x.pt")),
    Case("evaluate x.pt (not a checkpoint)", "late check", _evaluate_garbage),
    Case("run: TOML with bytes that are not UTF-8", "late check",
         _toml("latin1", b'name = "caf\xe9"\n[cells]\ndata = "DATA"\n'), fast=True),
    Case("run: TOML that is not TOML", "late check", _toml("broken", b"name = [unclosed\n")),
    Case("run --dry-run with a negative lr", "late check",
         _toml("neg-lr", CELLS_TOML.replace(b"NAME", b"neg-lr") + b"lr = -0.1\n")),
    Case("run --dry-run with seed -1", "late check",
         _toml("neg-seed", CELLS_TOML.replace(b"NAME", b"neg-seed") + b"seeds = [-1]\n")),
    Case("run with batch_size 0", "late check",
         _toml("zero-batch", CELLS_TOML.replace(b"NAME", b"zero-batch") + b"batch_size = 0\n",
               dry_run=False)),
]


# --- report --------------------------------------------------------------------------------------


def report(outcomes: list[Outcome]) -> str:
    rows = [f"{'case':<56} {'kind':<11} {'verdict':<12} {'s':>5}  what happened"]
    for o in outcomes:
        said = " ".join(o.said.split())
        rows.append(f"{o.case.name[:56]:<56} {o.case.kind:<11} "
                    f"{'handled' if o.handled else 'NOT handled':<12} {o.seconds:5.1f}  "
                    f"{said[:110]}")
    handled = sum(o.handled for o in outcomes)
    rows.append(f"{handled} handled, {len(outcomes) - handled} not handled")
    return "\n".join(rows)


def select(fast: bool = False, only: str | None = None) -> list[Case]:
    return [c for c in CASES if (not fast or c.fast) and (only is None or only in c.name)]


def run_all(cases: list[Case], root: Path, *, timeout: float = 180,
            progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    work = Work(root, timeout)
    outcomes = []
    for case in cases:
        outcomes.append(run_case(case, work))
        if progress:
            progress(outcomes[-1])
    return outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="only the quick subset tests/ runs")
    ap.add_argument("--only", default=None, help="only cases whose name holds this text")
    ap.add_argument("--timeout", type=float, default=180, help="seconds a case may take")
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep it")
    args = ap.parse_args()
    cases = select(args.fast, args.only)
    with tempfile.TemporaryDirectory(prefix="noisylab-hostile-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        outcomes = run_all(cases, root.resolve(), timeout=args.timeout,
                           progress=lambda o: print(f"  {'ok ' if o.handled else 'NOT'} "
                                                    f"{o.case.name}", file=sys.stderr))
    print(report(outcomes))
    sys.exit(0 if all(o.handled for o in outcomes) else 1)


if __name__ == "__main__":
    main()
