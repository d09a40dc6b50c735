"""cleanlab's own reading of the same predictions, and whether its assumption holds."""

from __future__ import annotations

import numpy as np

from noisylab.noise import (
    cleanlab_assumption_holds,
    cleanlab_report,
    complementary,
    corrupt,
    pair_flip,
    simulate_pred_probs,
    symmetric,
)


def test_assumption_holds_only_for_a_dominant_diagonal():
    ok, sentence = cleanlab_assumption_holds(symmetric(10, 0.4))
    assert ok and "holds" in sentence
    ok, sentence = cleanlab_assumption_holds(complementary(10))
    assert not ok and "complementary" in sentence
    ok, sentence = cleanlab_assumption_holds(pair_flip(5, 0.6))
    assert not ok and "5 of 5" in sentence


def test_cleanlab_is_fooled_by_complementary_labels():
    K = 10
    y = np.random.default_rng(0).integers(0, K, 4000)
    g, _ = corrupt(y, complementary(K), seed=1)
    Q, _ = simulate_pred_probs(y, complementary(K), seed=2)
    report = cleanlab_report(Q, g, health_summary=True)
    # cleanlab sees labels that look independent of the images: ~ (K-1)/K noise
    assert 0.8 < report["noise_rate"] < 0.95
    assert report["overall_label_health_score"] < 0.2
    assert report["transition_matrix"].shape == (K, K)
    assert np.allclose(report["transition_matrix"].sum(1), 1)
    assert report["n_label_issues"] > 0
    assert len(report["classes_by_label_quality"]) == K
