"""Neighbour votes: the torch-free vote, the counts behind it, and the warm start they make."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import blobs, crash_then_resume, timeless
from test_train import FAST, K, complementary, quiet

from noisylab.errors import NoisylabError
from noisylab.neighbours import neighbour_label_counts, warm_start_labels
from noisylab.noise import neighbour_vote
from noisylab.train import TrainConfig, train, train_one_epoch


def test_ordinary_labels_vote_for_the_most_named_class():
    counts = [[1, 7, 2], [4, 4, 2], [0, 0, 10]]
    labels, clear = neighbour_vote(counts, [0, 0, 0], kind="ordinary", min_margin=4)
    assert labels.tolist() == [1, 0, 2]  # a tie goes to the lower class
    assert clear.tolist() == [True, False, True]


def test_complementary_labels_vote_for_the_least_named_class_the_own_label_allows():
    # Row 0: class 2 is named least. Row 1: class 0 is named least but is the own label, so
    # the vote goes to the least named of the others. Row 2: a 1-label lead is not clear.
    counts = [[5, 6, 0, 7], [0, 5, 9, 1], [3, 2, 3, 3]]
    labels, clear = neighbour_vote(counts, [0, 0, 0], kind="complementary", min_margin=4)
    assert labels.tolist() == [2, 3, 1]
    assert clear.tolist() == [True, True, False]


@pytest.mark.parametrize("counts, given, kind, match", [
    ([[1, 2]], [0], "pairwise", "kind"),
    ([1, 2], [0], "ordinary", r"\(N, K\)"),
    ([[1, -2]], [0], "ordinary", "non-negative"),
    ([[1, 2]], [0, 1], "ordinary", "2 entries for 1 rows"),
    ([[1, 2]], [2], "ordinary", "class indices"),
])
def test_bad_votes_are_clear_errors(counts, given, kind, match):
    with pytest.raises(NoisylabError, match=match):
        neighbour_vote(counts, given, kind=kind)


def test_counts_never_include_the_sample_and_sum_to_k():
    features = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    counts = neighbour_label_counts(features, np.array([0, 0, 1, 1]), 2, k=1)
    # Each point's one neighbour is its twin, whose label matches; never itself.
    assert counts.tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]]
    assert neighbour_label_counts(features, np.array([0, 1, 0, 1]), 2, k=10).sum(1).tolist() \
        == [3, 3, 3, 3]


def test_warm_start_labels_recover_the_true_class_from_complementary_labels():
    clean = blobs(800, seed=0)
    noisy = complementary(clean, seed=0)
    voted = warm_start_labels(noisy.images, noisy.labels, K, kind="complementary", k=40,
                              min_margin=3)
    clear = voted >= 0
    assert clear.float().mean() > 0.5
    assert (voted[clear] == clean.labels[clear]).float().mean() > 0.95
    assert not (voted[clear] == noisy.labels[clear]).any()  # never the ruled-out class
    # Read as ordinary labels, the same neighbours vote for what the labels say, not the truth.
    as_ordinary = warm_start_labels(noisy.images, noisy.labels, K, kind="ordinary", k=40,
                                    min_margin=0)
    assert (as_ordinary == clean.labels).float().mean() < 0.5


def test_warm_start_adds_a_cross_entropy_only_where_a_class_was_voted():
    data = blobs(64, seed=0)

    def one_epoch(warm_start):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, K))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        loss = train_one_epoch(model, torch.nn.CrossEntropyLoss(), opt, sched, data.images,
                               data.labels, generator=torch.Generator().manual_seed(0),
                               batch_size=16, augment=False, warm_start=warm_start,
                               progress=False)
        return loss, model[1].weight.detach().clone()

    plain_loss, plain = one_epoch(None)
    none_loss, none = one_epoch(torch.full((64,), -1))
    some_loss, some = one_epoch((data.labels + 1) % K)
    assert none_loss == plain_loss and torch.equal(none, plain)
    assert some_loss > plain_loss and not torch.equal(some, plain)


def test_warm_start_epochs_are_checked_and_a_resumed_run_matches(tmp_path):
    with pytest.raises(NoisylabError, match="--warm-start-epochs"):
        TrainConfig(**dict(FAST, warm_start_epochs=4))
    data = complementary(blobs(300, seed=0), seed=0)
    cfg = TrainConfig(**dict(FAST, loss="scl-nl", augment=True, warm_start_epochs=2))
    messages = []
    full = train(data, cfg, out_dir=tmp_path / "full", progress=False, log=messages.append)
    assert any(m.startswith("warm start: the neighbours' labels vote clearly for") for m in messages)
    resumed = crash_then_resume(data, cfg, tmp_path / "cut")
    assert timeless(resumed.history) == timeless(full.history)
    off = train(data, TrainConfig(**dict(FAST, loss="scl-nl", augment=True)),
                out_dir=tmp_path / "off", progress=False, log=quiet)
    assert off.history[0]["train_loss"] != full.history[0]["train_loss"]


def test_neighbours_among_a_pool_are_drawn_from_it_and_never_the_sample_itself():
    from noisylab.neighbours import neighbour_label_counts

    feats = torch.tensor([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 6) + 0.01 * torch.randn(12, 2)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    pool = np.array([0, 1, 3, 6, 7])  # samples 0 and 1 labelled 0, sample 3 labelled 1
    counts = neighbour_label_counts(feats, labels, 3, k=2, among=pool)
    assert np.allclose(counts.sum(1), 2)
    assert counts[0].tolist() == [1, 1, 0]  # sample 0 sees 1 and 3, not itself
    assert counts[2].tolist() == [2, 0, 0] or counts[2].tolist() == [1, 1, 0]
    assert counts[8, 2] == 2  # the other cluster's pool members


def test_nearest_neighbours_do_not_depend_on_how_many_rows_are_searched_at_once():
    from noisylab.neighbours import nearest_neighbours

    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(103, 6, generator=gen)
    pool = np.sort(np.random.default_rng(0).choice(103, 40, replace=False))
    for among in (None, pool):
        whole = nearest_neighbours(feats, k=9, batch_size=103, among=among)
        for rows in (1, 10, 64):  # 103 rows: blocks that do not divide it leave a short last one
            assert torch.equal(nearest_neighbours(feats, k=9, batch_size=rows, among=among),
                               whole)
        assert not (whole == torch.arange(103)[:, None]).any()


def test_nearest_neighbours_are_sorted_so_one_search_serves_every_smaller_k():
    from noisylab.neighbours import label_counts, nearest_neighbours

    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(200, 8, generator=gen)
    labels = np.arange(200) % 5
    near = nearest_neighbours(feats, k=20)
    assert near.shape == (200, 20)
    assert not (near == torch.arange(200)[:, None]).any()  # never the sample itself
    for k in (1, 7, 20):
        assert torch.equal(near[:, :k].sort(1).values,
                           nearest_neighbours(feats, k=k).sort(1).values)
        assert np.array_equal(label_counts(near[:, :k], labels, 5),
                              neighbour_label_counts(feats, labels, 5, k=k))
    unit = torch.nn.functional.normalize(feats, dim=1)
    sims = (unit[:, None, :] * unit[near]).sum(-1)  # (200, 20), nearest first
    assert (sims[:, :-1] >= sims[:, 1:] - 1e-6).all()


@pytest.mark.parametrize("folds", [2, 3])
def test_cross_fit_neighbours_within_parts_equal_a_search_of_each_part(folds):
    from noisylab.crossfit import FoldNeighbours
    from noisylab.neighbours import nearest_neighbours

    gen = torch.Generator().manual_seed(1)
    pixels = torch.randn(90, 6, generator=gen)
    assignment = np.random.default_rng(0).permutation(np.arange(90) % folds)
    near = FoldNeighbours(pixels, assignment, k=5, dtype=torch.float32, parts=list(range(folds)))
    assert near.needed_by(near.parts, folds) == list(range(folds))
    for fold in range(folds):
        held = np.flatnonzero(assignment == fold)
        fit = np.flatnonzero(assignment != fold)
        assert torch.equal(near.within(fold), nearest_neighbours(pixels[held], k=5))
        assert torch.equal(near.of_training_part(fold, folds),
                           nearest_neighbours(pixels[fit], k=5))
