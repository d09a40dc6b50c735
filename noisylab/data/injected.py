"""Sources with synthetic label noise injected: ``NAME+KIND``, e.g. ``digits+complementary``.

The images are those of ``NAME``; each label is redrawn from ``T[true, :]`` of a
`noisylab.noise.make_noise` matrix with a fixed seed, so the same name always gives the same
labels. This is how the demo and the benchmarks get data whose truth is known.

Kinds: ``complementary``, ``biased-complementary``, ``symmetric-R``, ``pairflip-R`` (R the
percentage of wrong labels, e.g. ``symmetric-20``), ``permutation``, ``unrelated``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import torch

from noisylab.errors import NoisylabError

#: The seed every injected corruption uses (its matrix and its draw).
SEED = 0

_KINDS = {"complementary": "complementary", "biased-complementary": "biased_complementary",
          "symmetric": "symmetric", "pairflip": "pair_flip", "permutation": "permutation",
          "unrelated": "unrelated"}
_RATED = ("symmetric", "pairflip")
KIND_HELP = ("NAME+KIND  NAME with synthetic noise: +complementary, +biased-complementary, "
             "+symmetric-20, +pairflip-30, +permutation, +unrelated")


def split_name(name: str) -> tuple[str, str | None]:
    """``"digits+symmetric-20"`` -> ``("digits", "symmetric-20")``; no suffix -> ``(name, None)``."""
    base, plus, suffix = name.rpartition("+")
    if not plus or not base or not re.fullmatch(r"[a-z-]+(-\d+)?", suffix):
        return name, None
    return base, suffix


def parse_kind(suffix: str) -> tuple[str, float | None]:
    """``"symmetric-20"`` -> ``("symmetric", 0.2)``: the `make_noise` kind and rate."""
    m = re.fullmatch(r"([a-z-]+?)(?:-(\d+))?", suffix)
    kind, percent = (m.group(1), m.group(2)) if m else (suffix, None)
    if kind not in _KINDS:
        raise NoisylabError(f"unknown injected noise {suffix!r}; use one of: "
                            + ", ".join(k + ("-R" if k in _RATED else "") for k in _KINDS))
    if (kind in _RATED) != (percent is not None):
        raise NoisylabError(f"injected noise {suffix!r}: "
                            + (f"say the rate, e.g. +{kind}-20 for 20% wrong labels"
                               if kind in _RATED else f"{kind} takes no rate"))
    rate = int(percent) / 100 if percent is not None else None
    if rate is not None and not 0 < rate < 1:
        raise NoisylabError(f"injected noise {suffix!r}: the rate must be between 1 and 99 percent")
    return _KINDS[kind], rate


def inject(data, suffix: str):
    """``data`` (LabeledImages) with its labels redrawn through the named noise.

    The clean labels are not kept: the result is what a user with noisy labels has. The
    matrix used is in ``meta["injected_transition"]``, for measuring.
    """
    from noisylab.noise import corrupt, make_noise

    kind, rate = parse_kind(suffix)
    T = make_noise(kind, len(data.classes), rate=rate, seed=SEED)
    given, _ = corrupt(data.labels.numpy(), T, seed=SEED)
    return replace(data, labels=torch.from_numpy(given).long(),
                   source=f"{data.source}; labels corrupted with injected {suffix} noise (seed {SEED})",
                   meta={**data.meta, "injected": suffix, "injected_transition": T.tolist()})
