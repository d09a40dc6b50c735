"""Torch-free estimators of label noise: transition matrices, structure diagnosis, label issues.

One meaning everywhere: ``T[i, j] = P(given = j | true = i)`` (rows are true classes, columns
given labels, rows sum to 1). ``pred_probs`` ``(N, K)`` are out-of-sample predicted
probabilities of a model trained on the *given* labels, i.e. estimates of
``P(given | x) = T^T p(true | x)``; ``reference_probs`` ``(N, K)`` are a trusted reference
model's ``p(true | x)``.

>>> from noisylab.noise import NoiseEstimator                       # doctest: +SKIP
>>> est = NoiseEstimator().fit(pred_probs, given_labels)            # doctest: +SKIP
>>> print(est.diagnosis_.summary)                                   # doctest: +SKIP

Only numpy, scipy and scikit-learn are imported here (cleanlab lazily, by
:func:`cleanlab_report`); importing this package never imports torch.
"""

from noisylab.noise.cleanlab_view import cleanlab_assumption_holds, cleanlab_report
from noisylab.noise.diagnosis import (
    KINDS,
    RECOMMENDED_LOSS,
    Diagnosis,
    Reading,
    diagnose,
    diagnose_estimate,
    diagnose_matrix,
    estimate_and_diagnose,
    reading_posterior,
    with_verified,
)
from noisylab.noise.estimator import NoiseEstimator
from noisylab.noise.intervals import Intervals, bootstrap
from noisylab.noise.issues import LabelIssues, label_issues, label_issues_from_posterior
from noisylab.noise.ladder import FittedModel, Ladder, fit_ladder
from noisylab.noise.neighbours import LABEL_KINDS, neighbour_vote
from noisylab.noise.synthetic import (
    NOISE_KINDS,
    clean,
    complementary,
    corrupt,
    make_noise,
    pair_flip,
    permutation,
    simulate_pred_probs,
    symmetric,
    unrelated,
)
from noisylab.noise.transition import (
    REGIMES,
    IndependenceTest,
    TransitionEstimate,
    count_matrix,
    estimate_transition,
    estimate_transition_matrix,
    independence_test,
    save_transition,
    transition_from_labels,
    transition_from_reference,
    true_class_probs,
)
from noisylab.noise.verify import choose_to_verify, labels_needed, weigh_readings

__all__ = [
    "KINDS",
    "LABEL_KINDS",
    "NOISE_KINDS",
    "RECOMMENDED_LOSS",
    "REGIMES",
    "Diagnosis",
    "FittedModel",
    "IndependenceTest",
    "Intervals",
    "LabelIssues",
    "Ladder",
    "NoiseEstimator",
    "Reading",
    "TransitionEstimate",
    "bootstrap",
    "choose_to_verify",
    "clean",
    "cleanlab_assumption_holds",
    "cleanlab_report",
    "complementary",
    "corrupt",
    "count_matrix",
    "diagnose",
    "diagnose_estimate",
    "diagnose_matrix",
    "estimate_transition",
    "estimate_and_diagnose",
    "estimate_transition_matrix",
    "fit_ladder",
    "independence_test",
    "label_issues",
    "label_issues_from_posterior",
    "labels_needed",
    "make_noise",
    "neighbour_vote",
    "pair_flip",
    "permutation",
    "reading_posterior",
    "save_transition",
    "simulate_pred_probs",
    "symmetric",
    "transition_from_labels",
    "transition_from_reference",
    "true_class_probs",
    "unrelated",
    "weigh_readings",
    "with_verified",
]
