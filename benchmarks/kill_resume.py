"""`kill -9` in the middle of an epoch, then `--resume`: does the run end where an uninterrupted one does?

Runs ``noisylab train`` twice with the same seed on real data: once straight through, once
killed with SIGKILL part-way through an epoch and resumed with ``--resume``. Prints the
per-epoch figures of both and whether every deterministic figure (losses, validation and test
metrics; not the timings) is identical.

    python benchmarks/kill_resume.py [--data trainPart1-digits] [--epochs 6] [--kill-after 3.5]
        [--loss ce] [--distill-epochs 0]

With ``--distill-epochs N`` the run has N more epochs of distillation; a ``--kill-after`` beyond
``--epochs`` kills it inside that second phase.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMING = {"seconds", "images_per_second"}


def command(args, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "noisylab.cli", "train", "--data", args.data, "--root", args.root,
            "--loss", args.loss, "--epochs", str(args.epochs), "--distill-epochs",
            str(args.distill_epochs), "--seed", "0", "--out", str(out), *extra]


def epochs_done(out: Path) -> int:
    path = out / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def records(out: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="trainPart1-digits")
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--loss", default="ce")
    ap.add_argument("--distill-epochs", type=int, default=0)
    ap.add_argument("--kill-after", type=float, default=3.5,
                    help="Kill when this many epochs have passed (a fraction: mid-epoch).")
    args = ap.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        straight, killed = Path(tmp) / "straight", Path(tmp) / "killed"
        subprocess.run(command(args, straight), check=True, env=env, capture_output=True)
        timings = [json.loads(line)["seconds"]
                   for line in (straight / "metrics.jsonl").read_text().splitlines()]
        per_epoch = sum(timings) / len(timings)

        proc = subprocess.Popen(command(args, killed), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        whole = int(args.kill_after)
        while epochs_done(killed) < whole and proc.poll() is None:
            time.sleep(0.05)
        time.sleep((args.kill_after - whole) * per_epoch)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        at_kill = epochs_done(killed)
        print(f"killed with SIGKILL after {at_kill} complete epoch(s) (aiming mid-epoch "
              f"{args.kill_after}); exit code {proc.returncode}")
        resumed = subprocess.run(command(args, killed, "--resume"), env=env, capture_output=True,
                                 text=True)
        print(next((line for line in (resumed.stdout + resumed.stderr).splitlines()
                    if "resuming" in line), "(no resume line)"))
        a, b = records(straight), records(killed)
        val = next(k for k in a[0] if k.startswith("val_") and k != "val_mode")
        print(f"\nepoch | uninterrupted: train loss, {val} | killed+resumed: train loss, {val}")
        for ra, rb in zip(a, b, strict=False):
            print(f"{ra['epoch']:>5} | {ra['train_loss']:.6f}, {ra[val]:.4f} | "
                  f"{rb['train_loss']:.6f}, {rb[val]:.4f}")
        same = a == b
        print(f"\nall {len(a)} epochs' deterministic figures identical: {same}")
        sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
