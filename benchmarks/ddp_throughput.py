"""Training images per second with 1, 2, ... data-parallel processes (torchrun + DDP).

For each process count N, starts ``torchrun --standalone --nproc-per-node N`` on this script's
worker, which times `noisylab.train.train_one_epoch` over the same global batches as one
process would take (the model in DistributedDataParallel, each rank on its part of every
global batch, `noisylab.distributed` rules for threads and sharding). Images per second are
those of the whole job: global batch size times steps over the slowest rank's seconds. Each
count runs ``--rounds`` timed epochs after a warm-up one and keeps its best.

    python benchmarks/ddp_throughput.py [--root ../shared/data] [--arch cnn-s]
                                        [--batch-size 128] [--steps 60] [--rounds 2]
                                        [--procs 1 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch


def worker(args) -> None:
    """One rank: train ``--steps`` global batches ``--rounds`` times; rank 0 prints one JSON line."""
    from noisylab import distributed
    from noisylab.data import load
    from noisylab.losses import make_loss
    from noisylab.models import build_model
    from noisylab.train import one_cycle, train_one_epoch

    device = distributed.setup(torch.device(args.device), batch_size=args.batch_size)
    if device.type == "cpu":
        torch.set_num_threads(distributed.threads_per_process())
    data = load("mnist", root=args.root, split="train", progress=False)
    n = args.steps * args.batch_size
    images, labels = data.images[:n].to(device), data.labels[:n].to(device)
    torch.manual_seed(0)
    model = build_model(args.arch, 10).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    schedule = one_cycle(optimizer, 1e-3, (args.rounds + 1) * args.steps)
    loss_fn = make_loss("ce", num_classes=10).to(device)
    trained = distributed.wrap(model)
    best = 0.0
    for round_ in range(args.rounds + 1):  # the first one warms up
        gen = torch.Generator().manual_seed(round_)
        distributed.barrier()
        start = time.perf_counter()
        train_one_epoch(trained, loss_fn, optimizer, schedule, images, labels, generator=gen,
                        batch_size=args.batch_size, augment=True, precision="fp32",
                        progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        distributed.barrier()  # the job's time is its slowest rank's
        if round_:
            best = max(best, n / (time.perf_counter() - start))
    if distributed.is_writer():
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        print(json.dumps({"processes": distributed.place().world_size, "images_per_second": best,
                          "threads": torch.get_num_threads(), "device": where,
                          "backend": distributed.backend_for(device)}))


def launch(args, procs: int) -> dict:
    """The worker under ``torchrun --nproc-per-node procs``; its JSON line."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(procs), __file__, "--worker", "--root", args.root,
               "--arch", args.arch, "--batch-size", str(args.batch_size), "--steps",
               str(args.steps), "--rounds", str(args.rounds), "--device", args.device]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        sys.exit(f"{procs} processes failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--arch", default="cnn-s")
    ap.add_argument("--batch-size", type=int, default=128, help="The global batch.")
    ap.add_argument("--steps", type=int, default=60, help="Timed optimiser steps a round.")
    ap.add_argument("--rounds", type=int, default=2, help="Timed rounds (best kept).")
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    results = [launch(args, n) for n in args.procs]
    first = results[0]
    print(f"model {args.arch}, global batch {args.batch_size}, {args.steps} steps a round, best "
          f"of {args.rounds}, device {first['device']}, float32, augmented")
    print("processes  threads each  backend  images/s  vs first")
    for r in results:
        print(f"{r['processes']:>9}  {r['threads']:>12}  {r['backend']:>7}  "
              f"{r['images_per_second']:>8.0f}  {r['images_per_second'] / first['images_per_second']:>7.2f}x")


if __name__ == "__main__":
    main()
