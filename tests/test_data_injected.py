"""Injected-noise sources: ``NAME+KIND`` redraws the labels of NAME through a known matrix."""

import numpy as np
import pytest

from noisylab.data import load
from noisylab.data.injected import parse_kind, split_name
from noisylab.errors import NoisylabError
from noisylab.noise import transition_from_labels


@pytest.mark.parametrize("name, expected", [
    ("digits+complementary", ("digits", "complementary")),
    ("mnist+symmetric-20", ("mnist", "symmetric-20")),
    ("digits", ("digits", None)),
    ("folder:/data/a+b/c", ("folder:/data/a+b/c", None)),
])
def test_split_name(name, expected):
    assert split_name(name) == expected


def test_parse_kind_rates_and_errors():
    assert parse_kind("pairflip-45") == ("pair_flip", 0.45)
    assert parse_kind("biased-complementary") == ("biased_complementary", None)
    for bad in ("symmetric", "complementary-5", "unknown", "symmetric-0"):
        with pytest.raises(NoisylabError):
            parse_kind(bad)


def test_complementary_digits_never_keep_the_true_label_and_are_reproducible():
    clean = load("digits")
    noisy = load("digits+complementary")
    again = load("digits+complementary")
    true, given = clean.labels.numpy(), noisy.labels.numpy()
    assert not np.any(true == given)
    assert np.array_equal(given, again.labels.numpy())
    assert np.array_equal(noisy.images.numpy(), clean.images.numpy())
    T = transition_from_labels(true, given, 10)
    off = T[~np.eye(10, dtype=bool)]
    assert off.min() > 0.05 and off.max() < 0.2  # roughly uniform over the 9 other classes
    assert noisy.meta["injected"] == "complementary"


def test_symmetric_rate_is_respected():
    clean, noisy = load("digits"), load("digits+symmetric-30")
    wrong = np.mean(clean.labels.numpy() != noisy.labels.numpy())
    assert 0.25 < wrong < 0.35


def test_unknown_base_name_is_one_clear_error():
    with pytest.raises(NoisylabError, match="unknown dataset"):
        load("nosuch+complementary")
