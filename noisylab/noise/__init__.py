"""Torch-free estimators of label noise: transition matrices, structure diagnosis, label issues.

One meaning everywhere: ``T[i, j] = P(given = j | true = i)`` (rows are true classes, columns
given labels, rows sum to 1).
"""

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
from noisylab.noise.transition import count_matrix, transition_from_labels

__all__ = [
    "NOISE_KINDS",
    "clean",
    "complementary",
    "corrupt",
    "count_matrix",
    "make_noise",
    "pair_flip",
    "permutation",
    "simulate_pred_probs",
    "symmetric",
    "transition_from_labels",
    "unrelated",
]
