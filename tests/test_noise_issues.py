"""Per-sample label issues and the scikit-learn-style NoiseEstimator."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from noisylab.errors import NoisylabError
from noisylab.noise import (
    Diagnosis,
    LabelIssues,
    NoiseEstimator,
    complementary,
    corrupt,
    estimate_transition,
    label_issues,
    label_issues_from_posterior,
    simulate_pred_probs,
    symmetric,
)

K = 10


@pytest.fixture(scope="module")
def complementary_data():
    y = np.random.default_rng(0).integers(0, K, 6000)
    g, _ = corrupt(y, complementary(K), seed=1)
    Q, _ = simulate_pred_probs(y, complementary(K), accuracy=0.97, seed=2)
    return y, g, Q


def test_issues_from_a_posterior():
    R = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    issues = label_issues_from_posterior(R, [0, 0, 1])
    assert issues.suggested_label.tolist() == [0, 1, 0]
    assert np.allclose(issues.label_quality, [0.9, 0.2, 0.4])
    assert issues.is_issue.tolist() == [False, True, True]
    assert len(issues) == 3 and issues.n_issues == 2


def test_rows_and_csv():
    issues = label_issues_from_posterior(np.array([[0.9, 0.1], [0.2, 0.8]]), [0, 0])
    rows = issues.to_rows(class_names=["cat", "dog"])
    assert rows[1] == {
        "index": 1,
        "given_label": "cat",
        "suggested_label": "dog",
        "label_quality": pytest.approx(0.2),
        "is_issue": True,
    }
    assert len(issues.to_rows(only_issues=True)) == 1
    back = list(csv.DictReader(io.StringIO(issues.to_csv())))
    assert back[0]["suggested_label"] == "0" and back[1]["is_issue"] == "True"
    with pytest.raises(NoisylabError, match="class_names"):
        issues.to_rows(class_names=["cat"])


def test_complementary_issues_suggest_the_argmin(complementary_data):
    y, g, Q = complementary_data
    issues = label_issues(Q, g)
    # the given label is almost never the true one, so almost every sample is an issue
    assert issues.is_issue.mean() > 0.99
    assert (issues.suggested_label == y).mean() >= 0.96
    # the suggestion mostly agrees with the argmin of P(given | x)
    assert (issues.suggested_label == Q.argmin(1)).mean() > 0.95
    assert issues.label_quality.max() <= 1 and np.median(issues.label_quality) < 0.01


def test_issues_reuse_an_estimate(complementary_data):
    y, g, Q = complementary_data
    est = estimate_transition(Q, g)
    a = label_issues(Q, g, estimate=est)
    assert np.array_equal(a.suggested_label, est.posterior.argmax(1))
    with pytest.raises(NoisylabError, match="samples"):
        label_issues(Q[:10], g[:10], estimate=est)


def test_estimator_follows_sklearn_conventions(complementary_data):
    y, g, Q = complementary_data
    est = NoiseEstimator(regime="auto")
    assert not hasattr(est, "transition_matrix_")
    assert est.fit(Q, g) is est
    assert est.transition_matrix_.shape == (K, K)
    assert isinstance(est.diagnosis_, Diagnosis) and est.diagnosis_.kind == "complementary"
    assert isinstance(est.issues_, LabelIssues)
    assert est.suggested_labels_.shape == est.label_quality_.shape == (6000,)
    assert np.isclose(est.class_prior_.sum(), 1) and est.regime_ == "complementary"
    assert (est.suggested_labels_ == y).mean() >= 0.96
    # get_params / set_params / reconstruct
    params = est.get_params()
    assert params["regime"] == "auto" and NoiseEstimator(**params).get_params() == params
    assert est.set_params(alpha=0.05) is est and est.alpha == 0.05
    assert "alpha=0.05" in repr(est)
    with pytest.raises(NoisylabError, match="no option 'beta'"):
        est.set_params(beta=1)
    # the fitted posterior reproduces on the same samples
    assert np.allclose(est.posterior(Q[:50], g[:50]).argmax(1), est.posterior_[:50].argmax(1))


def test_estimator_errors():
    with pytest.raises(NoisylabError, match="not fitted"):
        NoiseEstimator().posterior(np.full((2, 2), 0.5), [0, 1])
    y = np.arange(200) % 3
    g, _ = corrupt(y, symmetric(3, 0.2), seed=0)
    Q, _ = simulate_pred_probs(y, symmetric(3, 0.2), seed=0)
    with pytest.raises(NoisylabError, match="regime='max' is not valid: choose one of"):
        NoiseEstimator(regime="max").fit(Q, g)
    with pytest.raises(NoisylabError, match="alpha"):
        NoiseEstimator(alpha=2).fit(Q, g)


def test_benchmark_smoke():
    from noisylab.noise.benchmark import format_table, run

    rows = run(n=2000, seeds=1, with_cleanlab=False, only=["uniform complementary", "clean"])
    assert [r["case"] for r in rows] == ["clean", "uniform complementary"]
    assert rows[1]["kinds"] == {"complementary": 1}
    table = format_table(rows, seeds=1, with_cleanlab=False)
    assert table.count("\n") == 3 and "| uniform complementary |" in table
