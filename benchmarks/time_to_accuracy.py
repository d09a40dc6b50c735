"""Wall-clock seconds from start until a model first reaches a target MNIST test accuracy.

(a) MNIST (standard train split) from scratch, ordinary labels;
(b) mnistTask3 (complementary labels) with the default complementary recipe.

The test accuracy is measured every quarter epoch *only to report* (as speed benchmarks do); the
clock is paused while it is measured, and nothing is chosen with it. The clock includes data
loading (warm cache) and model set-up.

    python benchmarks/time_to_accuracy.py [--root ../shared/data] [--which a,b] [--target 0.99]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from noisylab.losses import PseudoLabel, make_loss
from noisylab.metrics import accuracy
from noisylab.models import build_model
from noisylab.train import predict_logits, train_one_epoch

CASES = {
    # name: (data, loss, arch, epochs, lr, batch, augment, pseudo_label)
    "a": ("mnist", "ce", "lenet", 2, 4e-3, 128, False, 0.0),
    "b": ("mnistTask3", "scl-nl", "lenet", 6, 5e-3, 128, False, 1.0),
}


def run(case: str, root: str, target: float, limit: float, device: torch.device) -> dict:
    data_name, loss_name, arch, epochs, lr, bs, augment, pl = CASES[case]
    from noisylab.data import load

    clock = time.perf_counter()
    paused = 0.0
    train = load(data_name, root=root, progress=False)
    test = load("mnist", root=root, split="test", progress=False)
    x, y = train.images.to(device), train.labels.to(device)
    x_test, y_test = test.images.to(device), test.labels.numpy()
    torch.manual_seed(0)
    model = build_model(arch, 10).to(device, memory_format=torch.channels_last)
    loss_fn = make_loss(loss_name, num_classes=10)
    if pl:
        loss_fn = PseudoLabel(loss_fn, weight=pl)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    chunks = 4
    per_chunk = len(x) // chunks
    steps = per_chunk // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * chunks * steps,
                                                pct_start=0.25)
    history = []
    reached = None
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(epoch)
        order = torch.randperm(len(x), generator=gen).to(device)
        for c in range(chunks):
            part = order[c * per_chunk:(c + 1) * per_chunk]
            train_one_epoch(model, loss_fn, opt, sched, x[part], y[part], generator=gen,
                            batch_size=bs, augment=augment, progress=False)
            t_pause = time.perf_counter()
            acc = accuracy(predict_logits(model, x_test).cpu().numpy(), y_test)
            paused += time.perf_counter() - t_pause
            elapsed = time.perf_counter() - clock - paused
            history.append((epoch + (c + 1) / chunks, elapsed, acc))
            print(f"  ({case}) epoch {epoch + (c + 1) / chunks:5.2f}  {elapsed:6.1f}s  "
                  f"test acc {100 * acc:.2f}%", flush=True)
            if reached is None and acc >= target:
                reached = elapsed
            if reached is not None or elapsed > limit:
                return {"seconds": reached, "history": history}
    return {"seconds": reached, "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--which", default="a,b")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--limit", type=float, default=900.0, help="Give up after this many seconds.")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for case in args.which.split(","):
        r = run(case, args.root, args.target, args.limit, device)
        rows.append((case, r))
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{os.cpu_count()}"
    print(f"\ntime to {100 * args.target:.1f}% MNIST test accuracy ({name}):")
    for case, r in rows:
        data_name, loss_name, arch, epochs, lr, bs, augment, pl = CASES[case]
        what = f"{data_name} {loss_name}{' +pseudo-label' if pl else ''} {arch}"
        got = f"{r['seconds']:.1f} s" if r["seconds"] is not None else "not reached"
        best = max(h[2] for h in r["history"])
        print(f"  ({case}) {what:<40} {got:>12}   (best {100 * best:.2f}%)")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
