"""Does a character's size on the page tell lower from upper case in trainPart1?

Cropping a photo to its ink and fitting it to 20 px (MNIST style) throws away the size of the
character, which is what tells ``c`` from ``C`` when the shapes match. This measures how much
that size is worth, in two steps:

1. Size alone: for each look-alike pair (c/C, o/O, s/S, ...), a logistic regression on the log
   height and log width of the ink box (in original pixels; every page is 1200x900), 5-fold
   cross-validated: the share of the pair's images whose case the size gets right (0.5 is a
   coin toss).
2. ``--fusion``: a glyph model (the task-1 recipe's cnn-m on ``fit`` images, on the task-1
   folds) scored on its held-out folds, then fused with a per-class Gaussian likelihood of the
   log box size fitted on the training folds: ``log p(class | glyph) + lam * log p(size | class)``
   (naive Bayes: the fitted glyph carries no size, so the two are close to independent given the
   class). Prints the cross-validated accuracy for each ``lam``, and the glyph model's
   case-insensitive accuracy (the ceiling a perfect case decision could reach).

Both steps are also run on the size *relative to the writer*: the photos are named
``imgCCC-WWW.png``, where ``WWW`` numbers the person who wrote it (Chars74K's 55 writers each wrote
every character), and a writer's own other characters tell how large that hand writes. The
feature is the log box minus the median log box of the same writer's other images (in
``--fusion``, of the writer's images in the training folds only, which is what a model could
store). It needs the writer's number at test time; the add-ons of `noisylab.addons.writers`
are the recipe's use of it.

    python benchmarks/case_by_size.py [--root ../shared/data] [--fusion] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

PAIRS = "cosuvwxzmkpyjt"
"""Letters whose lower and upper case share a shape, more or less (the first nine closely)."""


def ink_boxes(root: Path, ids) -> np.ndarray:
    """``(N, 2)`` ink box (height, width) in original pixels of the photos named ``ids``."""
    from noisylab.data.archive import Archive
    from noisylab.data.preprocess import ink_box_size
    from noisylab.data.trainpart1 import locate

    with Archive(locate(root, "train")) as archive:
        by_name = {rel.rsplit("/", 1)[-1]: rel for rel in archive.files}
        return np.array([ink_box_size(archive.read(by_name[i]), name=i)[:2] for i in ids])


def writer_of(ids) -> np.ndarray:
    """``(N,)`` writer number of each photo, from its name ``imgCCC-WWW.png``."""
    from noisylab.errors import NoisylabError

    found = [re.fullmatch(r"img\d+-(\d+)\.png", i) for i in ids]
    if not all(found):
        bad = next(i for i, m in zip(ids, found, strict=True) if not m)
        raise NoisylabError(f"photo {bad!r} is not named imgCCC-WWW.png; the writer is unknown")
    return np.array([int(m.group(1)) for m in found])


def relative_to_writer(log_box: np.ndarray, writers: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(N, 2)`` log box minus the median log box of the same writer's reference images.

    ``reference`` is a boolean ``(N,)`` mask of the images a writer's median may use; an image
    never counts in its own median. A writer with no other reference image gets the median of
    all reference images.
    """
    out = np.empty_like(log_box)
    everyone = np.median(log_box[reference], 0)
    for i, w in enumerate(writers):
        mine = reference & (writers == w)
        mine[i] = False
        out[i] = log_box[i] - (np.median(log_box[mine], 0) if mine.any() else everyone)
    return out


def size_alone(log_box: np.ndarray, labels: np.ndarray, classes) -> dict[str, float]:
    """Cross-validated case accuracy of a logistic regression on the log box, per pair."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for ch in PAIRS:
        lo, up = labels == index[ch], labels == index[ch.upper()]
        x = np.vstack([log_box[lo], log_box[up]])
        y = np.r_[np.zeros(lo.sum()), np.ones(up.sum())]
        out[f"{ch}/{ch.upper()}"] = float(cross_val_score(LogisticRegression(), x, y, cv=5).mean())
    return out


def size_loglik(train_box, train_y, test_box, num_classes: int) -> np.ndarray:
    """``(M, K)`` log density of each test box under each class's 2-D Gaussian of log box size."""
    out = np.zeros((len(test_box), num_classes))
    for c in range(num_classes):
        f = train_box[train_y == c]
        cov = np.cov(f.T) + 1e-3 * np.eye(2)
        d = test_box - f.mean(0)
        out[:, c] = (-0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
                     - 0.5 * np.log(np.linalg.det(cov)))
    return out


def glyph_log_probs(ds, fold: np.ndarray, epochs: int, work: Path) -> np.ndarray:
    """``(N, K)`` held-out log-probabilities of the task-1 recipe's model, one fit per fold."""
    import torch

    from noisylab.models import load_model
    from noisylab.train import TrainConfig, predict_logits, train

    out = np.zeros((len(fold), len(ds.classes)), np.float32)
    for k in range(fold.max() + 1):
        run = work / f"fold{k + 1}"
        config = TrainConfig(arch="cnn-m", epochs=epochs, batch_size=64, lr=3e-3, seed=0)
        train(ds.subset(fold != k), config, out_dir=run, progress=False, log=lambda s: None)
        model, _ = load_model(run / "best")
        held = np.flatnonzero(fold == k)
        out[held] = torch.log_softmax(predict_logits(model, ds.images[held]), 1).cpu().numpy()
        print(f"  fold {k + 1}: glyph accuracy {np.mean(out[held].argmax(1) == ds.labels.numpy()[held]):.4f}",
              flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("NOISYLAB_DATA", "../shared/data"))
    ap.add_argument("--fusion", action="store_true", help="Also train the glyph model (5 folds).")
    ap.add_argument("--epochs", type=int, default=30, help="Epochs per fold for --fusion.")
    args = ap.parse_args()
    from noisylab.data import load
    from noisylab.pipeline import stratified_folds

    root = Path(args.root)
    start = time.perf_counter()
    ds = load("trainPart1", root=root, progress=False, preprocess="fit")
    labels = ds.labels.numpy()
    log_box = np.log(ink_boxes(root, ds.ids))
    print(f"ink boxes of {len(labels)} photos measured in {time.perf_counter() - start:.0f} s")
    writers = writer_of(ds.ids)
    relative = relative_to_writer(log_box, writers, np.ones(len(labels), bool))
    print("\ncase told by the ink box's size alone (5-fold CV, logistic regression on log h, log w)")
    print(f"  pair  on the page  relative to the writer ({len(np.unique(writers))} writers)")
    on_page = size_alone(log_box, labels, ds.classes)
    by_writer = size_alone(relative, labels, ds.classes)
    for pair in on_page:
        print(f"  {pair}  {on_page[pair]:.3f}        {by_writer[pair]:.3f}")
    print(f"  mean  {np.mean(list(on_page.values())):.3f}        "
          f"{np.mean(list(by_writer.values())):.3f}")
    if not args.fusion:
        return
    fold = stratified_folds(labels, 5, 0)  # the task-1 experiment's folds (cv_seed 0)
    print(f"\nglyph model: cnn-m on 'fit' images, {args.epochs} epochs a fold")
    with tempfile.TemporaryDirectory() as tmp:
        log_p = glyph_log_probs(ds, fold, args.epochs, Path(tmp))
    k = len(ds.classes)
    log_size = np.zeros_like(log_p, dtype=np.float64)
    log_writer_size = np.zeros_like(log_size)
    for f in range(5):
        train_folds, held = fold != f, fold == f
        log_size[held] = size_loglik(log_box[train_folds], labels[train_folds], log_box[held], k)
        rel = relative_to_writer(log_box, writers, train_folds)
        log_writer_size[held] = size_loglik(rel[train_folds], labels[train_folds], rel[held], k)
    lower = np.array([c.lower() for c in ds.classes])
    glyph = log_p.argmax(1)
    print(f"  glyph alone: {np.mean(glyph == labels):.4f}  (case-insensitive "
          f"{np.mean(lower[glyph] == lower[labels]):.4f}; case errors "
          f"{int(np.sum((glyph != labels) & (lower[glyph] == lower[labels])))} of "
          f"{int(np.sum(glyph != labels))})")
    for lam in (0.25, 0.5, 1.0):
        print(f"  glyph + {lam:g} x size: {np.mean((log_p + lam * log_size).argmax(1) == labels):.4f}"
              f"   glyph + {lam:g} x size relative to the writer: "
              f"{np.mean((log_p + lam * log_writer_size).argmax(1) == labels):.4f}")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    from noisylab.errors import NoisylabError

    try:
        main()
    except NoisylabError as err:  # e.g. no trainPart1 under --root: one line, not a traceback
        raise SystemExit(f"error: {err}") from None
