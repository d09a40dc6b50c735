"""Nearest neighbours of images, and what their given labels say before any model is trained.

Neighbours are taken by cosine similarity, in a model's feature space or in a PCA of the raw
pixels (label-free, so usable before training). The audit stacks the frequency of each given
label among a sample's neighbours with its cross-fitted models (`noisylab.crossfit`); training
can start from the class those labels vote for (`warm_start_labels`, the vote itself in the
torch-free `noisylab.noise.neighbour_vote`).
"""

from __future__ import annotations

import numpy as np
import torch

from noisylab.noise import neighbour_vote


@torch.no_grad()
def pixel_features(images: torch.Tensor, *, dims: int = 40, seed: int = 0) -> torch.Tensor:
    """The first ``dims`` principal components of the raw pixels ``(N, 1, 28, 28)`` -> ``(N, dims)``.

    Label-free: a representation in which near-duplicate images are neighbours before any model
    is trained. The global random state is left as it was (training that calls this must
    stay reproducible on resume).
    """
    x = images.flatten(1).float().div_(255)
    x -= x.mean(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # pca_lowrank is randomised
        _, _, v = torch.pca_lowrank(x, q=min(dims, *x.shape), center=False)
    return x @ v


#: Similarities computed at once in a search: a block of about 16 MB in float32, so that one
#: buffer, written over block after block, serves the whole search. A fresh block per batch of
#: rows (hundreds of MB) cost as much time in the kernel's zeroing of new pages as in the
#: products themselves.
BLOCK = 4_000_000


@torch.no_grad()
def nearest_neighbours(features: torch.Tensor, *, k: int, batch_size: int | None = None,
                       dtype: torch.dtype = torch.float32,
                       among: np.ndarray | None = None) -> torch.Tensor:
    """Each sample's ``k`` nearest neighbours by cosine similarity, nearest first.

    Parameters
    ----------
    features : Tensor ``(N, D)``
        Cosine similarity in this space defines the neighbours.
    k : int
        Neighbours per sample (at most ``N - 1``, or ``M - 1`` with ``among``).
    batch_size : int, optional
        Samples whose similarities are computed at once (default: `BLOCK` similarities).
    dtype : torch.dtype
        Of the similarity products: ``torch.bfloat16`` is faster where the CPU computes it
        natively, at the price of ties among the nearly equally similar.
    among : ndarray of int ``(M,)``, optional
        Look for neighbours among these samples only (a subsample makes the search cheaper).

    Returns
    -------
    Tensor ``(N, k)`` int64
        Indices into ``features``; a sample is never its own neighbour. The first ``j``
        columns are the ``j`` nearest, so one search serves every smaller ``k``.
    """
    n = len(features)
    among = np.arange(n) if among is None else np.asarray(among)
    k = min(k, len(among) - 1)
    unit = torch.nn.functional.normalize(features.float(), dim=1).to(dtype)
    pool_index = torch.from_numpy(among)
    pool_t = unit[pool_index].T.contiguous()
    slot = np.full(n, -1)
    slot[among] = np.arange(len(among))  # where each sample sits in the pool, if it does
    rows = max(1, min(n, batch_size or BLOCK // len(among)))
    sim_block = torch.empty(rows, len(among), dtype=dtype)
    top_values = torch.empty(rows, k, dtype=dtype)
    top = torch.empty(rows, k, dtype=torch.int64)
    out = torch.empty(n, k, dtype=torch.int64)
    for i in range(0, n, rows):
        b = min(rows, n - i)
        sim = torch.mm(unit[i:i + b], pool_t, out=sim_block[:b])
        own = torch.from_numpy(slot[i:i + b])
        mine = torch.nonzero(own >= 0).flatten()
        sim[mine, own[mine]] = -2.0  # never one's own neighbour
        torch.topk(sim, k, dim=1, out=(top_values[:b], top[:b]))
        out[i:i + b] = pool_index[top[:b]]
    return out


def label_counts(neighbours: torch.Tensor, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many of each row's ``neighbours`` ``(N, k)`` (indices into ``labels`` ``(N,)``)
    carry each given label: ``(N, K)`` float64, rows summing to ``k``."""
    onehot = torch.nn.functional.one_hot(torch.as_tensor(labels), num_classes).float()
    return onehot[neighbours].sum(1).double().numpy()


def neighbour_label_counts(features: torch.Tensor, labels: np.ndarray, num_classes: int, *,
                           k: int = 30, batch_size: int | None = None,
                           dtype: torch.dtype = torch.float32,
                           among: np.ndarray | None = None) -> np.ndarray:
    """How many of each sample's ``k`` nearest neighbours carry each given label.

    Parameters
    ----------
    features : Tensor ``(N, D)``
    labels : ndarray ``(N,)``
        Given labels. A sample is never its own neighbour.
    k, batch_size, dtype, among
        As `nearest_neighbours`.

    Returns
    -------
    ndarray ``(N, K)`` of float64
        Counts; each row sums to ``min(k, N - 1)`` (``min(k, M - 1)`` with ``among``).
    """
    near = nearest_neighbours(features, k=k, batch_size=batch_size, dtype=dtype, among=among)
    return label_counts(near, labels, num_classes)


def smoothed_frequency(counts: np.ndarray, prior_count: float = 0.5) -> np.ndarray:
    """Label counts ``(N, K)`` as frequencies ``(count + prior_count) / (k + K * prior_count)``;
    rows sum to 1, and ``prior_count`` keeps every label's probability above 0."""
    return (counts + prior_count) / (counts.sum(1, keepdims=True) + counts.shape[1] * prior_count)


def neighbour_label_frequency(features: torch.Tensor, labels: np.ndarray, num_classes: int, *,
                              k: int = 30, prior_count: float = 0.5, batch_size: int | None = None,
                              dtype: torch.dtype = torch.float32,
                              among: np.ndarray | None = None) -> np.ndarray:
    """`neighbour_label_counts` smoothed into frequencies.

    Returns
    -------
    ndarray ``(N, K)``
        ``(count + prior_count) / (k + K * prior_count)``; rows sum to 1, and ``prior_count``
        keeps every label's probability above 0.
    """
    counts = neighbour_label_counts(features, labels, num_classes, k=k, batch_size=batch_size,
                                    dtype=dtype, among=among)
    return smoothed_frequency(counts, prior_count)


def warm_start_labels(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
                      kind: str, k: int = 100, min_margin: float = 4.0,
                      seed: int = 0) -> torch.Tensor:
    """The class an image's pixel-space neighbours vote for, where the vote is clear.

    Parameters
    ----------
    images : Tensor ``(N, 1, 28, 28)`` uint8
    labels : Tensor ``(N,)`` int64
        Given labels (the only labels read).
    kind : {"ordinary", "complementary"}
        How the given labels are read (`noisylab.noise.neighbour_vote`).
    k : int
        Neighbours per image, in a 40-component PCA of the pixels.
    min_margin : float
        Labels by which the winner must lead for the vote to count.

    Returns
    -------
    Tensor ``(N,)`` int64, on the CPU
        The voted class, or -1 where the vote is not clear.
    """
    given = labels.cpu().numpy()
    counts = neighbour_label_counts(pixel_features(images.cpu(), seed=seed), given, num_classes,
                                    k=k)
    return voted_classes(counts, given, kind=kind, min_margin=min_margin)


def voted_classes(counts: np.ndarray, given: np.ndarray, *, kind: str,
                  min_margin: float = 4.0) -> torch.Tensor:
    """The class neighbour label ``counts`` ``(N, K)`` vote for
    (`noisylab.noise.neighbour_vote`), or -1 where the vote is not clear: ``(N,)`` int64, the
    warm-start targets `noisylab.train.train_one_epoch` takes."""
    voted, clear = neighbour_vote(counts, given, kind=kind, min_margin=min_margin)
    return torch.from_numpy(np.where(clear, voted, -1))
