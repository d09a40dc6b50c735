"""Out-of-sample estimates of P(given label | image) by cross-fitting a fast CNN.

The noise estimators need, for every image, what a model that never saw that image's label
predicts its *given* label to be. Two families of models of P(given | x) are fitted:

``"free"``
    ``q = softmax(f(x))``, trained with cross-entropy on the given labels. Right when labels are
    mostly right (clean, symmetric, pair-flip, a permutation).
``"complementary"``
    ``q = (1 - p) / (K - 1)`` with ``p = softmax(f(x))``, trained with the SCL-NL loss (Chou et
    al. 2020), i.e. maximum likelihood of the given labels under "the label is a class the image
    is not". Right when labels point *away* from the truth.

Plain cross-entropy can in principle learn a complementary q too, but it learns it far too
slowly: on mnistTask3 a 2-epoch model reached 21% on "the true class is the least likely
label", where the complementary family reaches 83% after one epoch. So a short probe fits both
on a subsample and compares their held-out log-likelihoods of the given labels. The
complementary family's predictions are a constrained part of the free family's (no label above
``1 / (K - 1)``), so it is kept unless the free family is clearly better (by more than two
standard errors of the per-image difference); that family is cross-fitted on all folds.

Each fold's model starts from a *warm start*: during its first epochs it also fits, with
cross-entropy, the class each training image's pixel-space neighbours vote for by their given
labels where the vote is clear (`noisylab.noise.neighbour_vote`; neighbours from the training
part only, so held-out labels stay unread). Learning from complementary labels alone is slowest
at the start, and the vote gives those epochs ordinary labels. It trains in bfloat16 where the
CPU computes it natively; its backbone predicts the held-out fold in bfloat16 too, its head in
float32. The probe's two fits, and the folds, run side by side in threads
(`noisylab.parallel`), each model drawing its random numbers from its own seed.

Each held-out prediction is then *stacked* with two nearest-neighbour estimates of the same
quantity: the frequency of each given label among the image's ``k`` nearest neighbours within
the held-out fold (the image itself excluded), in the fold model's feature space (among at
most `SEARCH_POOL` of the fold's images) and in a PCA of the raw pixels. The mixture weights
are the ones (on a grid) under which the held-out given labels are most likely. None of the
three reads the image's own label. On mnistTask3 the stack chose weights (0.9, 0.1, 0.0).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch

from noisylab import distributed
from noisylab.losses import make_loss
from noisylab.models import build_model, with_own_dropout
from noisylab.neighbours import (
    label_counts,
    nearest_neighbours,
    neighbour_label_frequency,
    pixel_features,
    smoothed_frequency,
    voted_classes,
)
from noisylab.parallel import map_in_threads
from noisylab.train import fastest_precision, one_cycle, predict_logits, train_one_epoch

FAMILIES = {"free": "ce", "complementary": "scl-nl"}

#: The architecture (`noisylab.models.ARCHITECTURES`) of the probe's and the folds' models.
MODEL = "tiny-pool-first"

#: Held while a fit seeds torch's global generator and draws its initial weights from it.
_SEEDING = threading.Lock()


@dataclass(frozen=True)
class ProbeResult:
    """Held-out mean NLL of the given labels under each family, and the chosen family."""

    nll: dict[str, float]
    prior_nll: float
    family: str


def fit_model(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, family: str,
              epochs: int, arch: str = MODEL, batch_size: int = 256, lr: float = 5e-3,
              augment: bool = True, seed: int = 0, progress: bool = True,
              precision: str | None = None, warm_start: torch.Tensor | None = None,
              warm_start_epochs: int = 0, desc: str = "") -> torch.nn.Module:
    """A model of one family fitted on ``images`` ``(N, 1, 28, 28)`` and given ``labels`` ``(N,)``.

    ``precision`` is that of the training forward pass (`noisylab.train.autocast_dtype`;
    default `noisylab.train.fastest_precision`); predictions are made in float32.
    ``warm_start`` ``(N,)`` (a class, or -1) is also fitted with cross-entropy during the first
    ``warm_start_epochs`` epochs. Every random draw comes from ``seed``, none later from torch's
    global generator, so fits may run side by side in threads (`noisylab.parallel`).
    """
    precision = precision or fastest_precision(images.device)
    with _SEEDING:  # fits side by side in threads share torch's global generator
        torch.manual_seed(seed)
        model = build_model(arch, num_classes)
        # the masks continue the stream the weights were drawn from, not restart it
        dropout_seed = int(torch.randint(2**62, ()))
    model = with_own_dropout(model, torch.Generator().manual_seed(dropout_seed))
    model = model.to(images.device, memory_format=torch.channels_last)
    loss_fn = make_loss(FAMILIES[family], num_classes=num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    batch_size = min(batch_size, len(images))
    steps = max(1, len(images) // batch_size)
    schedule = one_cycle(optimizer, lr, epochs * steps)
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(seed * 7919 + epoch)
        train_one_epoch(model, loss_fn, optimizer, schedule, images, labels, generator=gen,
                        batch_size=batch_size, augment=augment, progress=progress,
                        precision=precision, desc=f"{desc} epoch {epoch + 1}/{epochs}",
                        warm_start=warm_start if epoch < warm_start_epochs else None)
    return model.eval()


def given_label_probs(model: torch.nn.Module, images: torch.Tensor, *, family: str) -> np.ndarray:
    """The model's ``P(given | x)`` ``(N, K)`` under its family."""
    p = predict_logits(model, images).softmax(1).double().cpu().numpy()
    return _family_probs(p, family)


def _family_probs(p: np.ndarray, family: str) -> np.ndarray:
    return p if family == "free" else (1.0 - p) / (p.shape[1] - 1)


#: Weights (fold model, its feature neighbours, pixel neighbours) tried when stacking.
WEIGHT_GRID = tuple((a / 10, b / 10, (10 - a - b) / 10) for a in range(11) for b in range(11 - a))


def stack(estimates: list[np.ndarray], labels: np.ndarray) -> tuple[tuple[float, ...], np.ndarray]:
    """The mixture of three estimates of ``P(given | x)`` under which ``labels`` are most likely.

    Parameters
    ----------
    estimates : list of 3 ndarray ``(N, K)``
        Out-of-sample (or leave-one-out) estimates for the same samples.
    labels : ndarray ``(N,)``
        Their given labels.

    Returns
    -------
    weights : tuple of 3 float
        The chosen point of `WEIGHT_GRID`.
    probs : ndarray ``(N, K)``
    """
    rows = np.arange(len(labels))
    at_label = np.stack([e[rows, labels] for e in estimates], axis=1)  # (N, 3)
    scores = [-np.mean(np.log(np.clip(at_label @ np.array(w), 1e-12, None))) for w in WEIGHT_GRID]
    weights = WEIGHT_GRID[int(np.argmin(scores))]
    return weights, sum(w * e for w, e in zip(weights, estimates, strict=True))


def nll_each(q: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Negative log-likelihood ``(N,)`` of each of ``labels`` ``(N,)`` under ``q`` ``(N, K)``,
    in nats."""
    return -np.log(np.clip(q[np.arange(len(labels)), labels], 1e-12, None))


def choose_family(nll: dict[str, np.ndarray]) -> str:
    """``"free"`` if it predicts the held-out labels clearly better, else ``"complementary"``.

    ``nll`` holds each family's per-image held-out NLL ``(N,)``. Clearly: the mean paired
    difference exceeds two of its standard errors. Complementary predictions are a constrained
    part of the free ones, so between two families that fit equally well it is the simpler.
    """
    d = nll["complementary"] - nll["free"]
    se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else 0.0
    return "free" if d.mean() > 2.0 * se else "complementary"


def probe_family(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
                 subsample: int = 20000, epochs: int | None = None, seed: int = 0,
                 precision: str | None = None, progress: bool = True) -> ProbeResult:
    """Fit both families briefly on a subsample; keep the one that predicts held-out labels
    best (`choose_family`).

    ``epochs`` defaults to about 16k image-passes (1 epoch of a 20k subsample; more on small data);
    ``precision`` is the fits' (`fit_model`).
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    pick = rng.permutation(n)[: min(n, subsample)]
    cut = int(0.8 * len(pick))
    fit_idx, held_idx = torch.from_numpy(pick[:cut]), pick[cut:]
    held_labels = labels[held_idx].cpu().numpy()
    epochs = epochs or max(1, math.ceil(16_000 / max(cut, 1)))

    def held_out_nll(family: str) -> np.ndarray:
        model = fit_model(images[fit_idx], labels[fit_idx], num_classes, family=family,
                          epochs=epochs, augment=False, seed=seed, progress=progress,
                          precision=precision, desc=f"probe {family}")
        return nll_each(given_label_probs(model, images[held_idx], family=family), held_labels)

    each = dict(zip(FAMILIES, map_in_threads(held_out_nll, FAMILIES), strict=True))
    prior = np.bincount(labels[fit_idx].cpu().numpy(), minlength=num_classes) / cut
    prior_nll = float(-np.mean(np.log(np.clip(prior[held_labels], 1e-12, None))))
    return ProbeResult(nll={f: float(v.mean()) for f, v in each.items()}, prior_nll=prior_nll,
                       family=choose_family(each))


@dataclass(frozen=True)
class CrossFit:
    """Out-of-sample ``probs`` ``(N, K)`` of the given labels, and each fold's stacking weights."""

    probs: np.ndarray
    weights: list[tuple[float, float, float]]


def cross_fit(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, family: str,
              folds: int = 2, epochs: int = 4, seed: int = 0, neighbours: int = 30,
              warm_start_epochs: int | None = None, precision: str | None = None,
              progress: bool = True, on_fold=None,
              near: FoldNeighbours | None = None) -> CrossFit:
    """Out-of-sample ``P(given | x)``: each fold predicted by a model fitted on the rest.

    Parameters
    ----------
    images : Tensor ``(N, 1, 28, 28)`` uint8
    labels : Tensor ``(N,)`` int64
        The given labels (the only labels read).
    family : {"free", "complementary"}
    folds : int
        Number of folds (each model sees ``(folds - 1) / folds`` of the data).
    epochs : int
        Passes over each fold's training part.
    neighbours : int
        ``k`` of the nearest-neighbour estimates stacked with the model (see the module notes).
    warm_start_epochs : int, optional
        Epochs that also fit the class each training image's pixel-space neighbours in the
        training part vote for by their given labels, where the vote is clear
        (`noisylab.noise.neighbour_vote`): the held-out labels are never read. Default: all
        but the last, at most 2.
    precision : str, optional
        Of the training forward pass and of the neighbour searches (default
        `noisylab.train.fastest_precision`: bfloat16 where the hardware computes it).
    on_fold : callable, optional
        Called with ``(fold_index, folds)`` after each fold (for a progress line), from the
        thread that fitted it: the folds run side by side (`noisylab.parallel`).
    near : FoldNeighbours, optional
        `fold_neighbours` of these images with the same ``folds``, ``seed`` and ``neighbours``
        (default: searched here).
    """
    n = len(labels)
    given = labels.cpu().numpy()
    precision = precision or fastest_precision(images.device)
    if warm_start_epochs is None:
        warm_start_epochs = min(2, epochs - 1)
    q = np.zeros((n, num_classes))
    weights = np.zeros((folds, 3))
    if near is None:
        near = fold_neighbours(images, folds=folds, seed=seed, k=neighbours, precision=precision)
    assignment, parts = near.assignment, near.parts

    def fit_fold(k: int) -> tuple[tuple[float, ...], np.ndarray]:
        held = np.flatnonzero(assignment == k)
        fit = torch.from_numpy(np.flatnonzero(assignment != k))
        vote = (_vote(near.of_training_part(k, folds), given[fit.numpy()], num_classes, family)
                if warm_start_epochs else None)
        model = fit_model(images[fit], labels[fit], num_classes, family=family, epochs=epochs,
                          seed=seed + k, progress=progress, precision=precision,
                          warm_start=vote, warm_start_epochs=warm_start_epochs,
                          desc=f"fold {k + 1}/{folds}")
        feats, logits = predict_logits(model, images[held], with_features=True,
                                       precision=precision)
        pixel_counts = label_counts(near.within(k)[:, :neighbours], given[held], num_classes)
        estimates = [_family_probs(logits.softmax(1).double().numpy(), family),
                     neighbour_label_frequency(feats, given[held], num_classes, k=neighbours,
                                               dtype=near.dtype,
                                               among=_pool(len(held), seed + k)),
                     smoothed_frequency(pixel_counts)]
        fold_weights, probs = stack(estimates, given[held])
        if on_fold:
            on_fold(k, folds)
        return fold_weights, probs

    # The folds side by side: each model's draws come from its own seed (`fit_model`).
    for k, (fold_weights, probs) in zip(parts, map_in_threads(fit_fold, parts), strict=True):
        weights[k], q[assignment == k] = fold_weights, probs
    # Each rank filled its own folds' rows, so their sum over the ranks holds every fold's.
    q, weights = distributed.sum_over_ranks(q), distributed.sum_over_ranks(weights)
    return CrossFit(probs=q, weights=[tuple(float(v) for v in w) for w in weights])


#: Pixel-space neighbours whose given labels vote for a training image's warm-start class.
VOTERS = 100

#: Neighbours are looked for among at most this many images of a part (a seeded random subset):
#: a search costs the square of the part's size, and past it the nearest few move little.
SEARCH_POOL = 10_000


def _pool(n: int, seed: int) -> np.ndarray | None:
    """Sorted positions ``(SEARCH_POOL,)`` of ``n`` images to search among, seeded (None: all)."""
    if n <= SEARCH_POOL:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, SEARCH_POOL, replace=False))


def fold_neighbours(images: torch.Tensor, *, folds: int = 2, seed: int = 0, k: int = 30,
                    precision: str | None = None) -> FoldNeighbours:
    """The images' cross-fitting folds and their pixel-space neighbour searches, done.

    Parameters
    ----------
    images : Tensor ``(N, 1, 28, 28)`` uint8
    folds, seed : int
        As given to `cross_fit` (they fix each image's fold).
    k : int
        `cross_fit`'s ``neighbours``; at least `VOTERS` are searched.
    precision : str, optional
        Of the similarity products (default `noisylab.train.fastest_precision`).
    """
    assignment = np.random.default_rng(seed).permutation(np.arange(len(images)) % folds)
    precision = precision or fastest_precision(images.device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    near = FoldNeighbours(pixel_features(images, seed=seed), assignment, k=max(VOTERS, k),
                          dtype=dtype, parts=list(distributed.my_parts(folds)))
    map_in_threads(near.within, near.needed_by(near.parts, folds))  # side by side
    return near


class FoldNeighbours:
    """Pixel-space nearest neighbours within parts of the data, each part searched once.

    ``assignment`` ``(N,)`` is each image's fold; ``parts`` the folds this process fits (all
    of them, but under torchrun). The held-out pixel estimate of fold ``k`` needs neighbours
    within fold ``k``; the vote of fold ``k``'s model needs them within its training part,
    which with two folds is the other fold: the same search, so two folds cost two searches
    rather than four.
    """

    def __init__(self, pixels: torch.Tensor, assignment: np.ndarray, *, k: int,
                 dtype: torch.dtype, parts: list[int]):
        self.pixels, self.assignment, self.k, self.dtype = pixels, assignment, k, dtype
        self.parts = parts
        self._within: dict[int, torch.Tensor] = {}

    def _search(self, rows: np.ndarray) -> torch.Tensor:
        """``(len(rows), k)`` neighbours of ``rows`` among themselves, as positions in ``rows``."""
        return nearest_neighbours(self.pixels[torch.from_numpy(rows)], k=self.k, dtype=self.dtype)

    def within(self, fold: int) -> torch.Tensor:
        """Neighbours of fold ``fold``'s images among that fold, nearest first."""
        if fold not in self._within:
            self._within[fold] = self._search(np.flatnonzero(self.assignment == fold))
        return self._within[fold]

    def needed_by(self, parts: list[int], folds: int) -> list[int]:
        """The folds whose `within` search the fits of ``parts`` read (both, with two folds)."""
        return sorted(set(parts) | ({1 - k for k in parts} if folds == 2 else set()))

    def of_training_part(self, fold: int, folds: int) -> torch.Tensor:
        """Neighbours of the images outside fold ``fold`` among themselves, nearest first."""
        if folds == 2:
            return self.within(1 - fold)
        return self._search(np.flatnonzero(self.assignment != fold))


def _vote(neighbours: torch.Tensor, given: np.ndarray, num_classes: int,
          family: str) -> torch.Tensor:
    """The class each image's `VOTERS` nearest ``neighbours`` ``(N, >= VOTERS)`` (positions in
    ``given`` ``(N,)``) vote for by their given labels, or -1 where unclear ``(N,)``."""
    counts = label_counts(neighbours[:, :VOTERS], given, num_classes)
    kind = "complementary" if family == "complementary" else "ordinary"
    return voted_classes(counts, given, kind=kind)


def default_epochs(n: int) -> int:
    """Epochs for a 2-fold cross-fit of ``n`` images: 3, or enough for 40k image-passes a fold.

    Time grows with ``n`` from about 27k images on. Measured on mnistTask3 (30k images a fold,
    augmented, the folds side by side on a 2-core CPU): 3 epochs, the first 2 warm-started from
    the neighbours' vote, give suggested labels 97.76% right and T within 0.00069 of the truth
    (``tiny-pool-first`` in float32); with the ``tiny`` model in bfloat16, 4 epochs gained
    0.2 points over 3 (97.91% against 97.69%) in a third more time.
    """
    return max(3, min(60, math.ceil(40_000 / max(n // 2, 1))))
