"""Plain-language sentences for a :class:`noisylab.noise.Diagnosis` (class names as indices)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["describe", "summary"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x >= 0.001 or x == 0 else f"{100 * x:.2g}%"


def _largest_flip(T: np.ndarray) -> tuple[int, int, float]:
    off = np.where(np.eye(len(T), dtype=bool), -1.0, T)
    i, j = np.unravel_index(np.argmax(off), T.shape)
    return int(i), int(j), float(T[i, j])


def describe(reading, K: int, resolution: float = 0.0) -> str:
    """One or two sentences on what a :class:`noisylab.noise.Reading` says about the labels."""
    kind, T, keep = reading.kind, reading.transition_matrix, reading.keep_rate
    i, j, t = _largest_flip(T)
    wrong = _pct(reading.noise_rate)
    if kind == "clean":
        return (f"the labels look clean: an estimated {wrong} are wrong, no more than the "
                f"predictions themselves get wrong ({_pct(resolution)})")
    if kind == "permutation":
        perm = reading.params.get("perm", list(range(K)))
        moved = [(i, int(p)) for i, p in enumerate(perm) if p != i]
        pairs = ", ".join(f"{a}->{b}" for a, b in moved[:12]) + (" ..." if len(moved) > 12 else "")
        return (f"whole classes were renamed: {len(moved)} of {K} classes are consistently given "
                f"another label (true class -> given label: {pairs}); relabelling fixes them")
    if kind == "symmetric":
        return f"{wrong} of the labels are wrong, spread evenly over the other {K - 1} classes"
    if kind == "pair-flip":
        return (f"{wrong} of the labels are wrong, each class's wrong labels going mostly to one "
                f"other class (the largest: true {i} given {j}, {_pct(t)} of class {i})")
    if kind == "complementary":
        return (f"each label names a class the image is not (keep rate {_pct(float(keep.mean()))}"
                f"), drawn evenly from the other {K - 1} classes")
    if kind == "biased-complementary":
        return (f"each label names a class the image is not (keep rate {_pct(float(keep.mean()))}"
                f"), drawn unevenly (the most often: true {i} given {j}, {_pct(t)} of class {i})")
    if kind == "asymmetric":
        return (f"{wrong} of the labels are wrong in no simpler pattern (keep rates "
                f"{_pct(float(keep.min()))} to {_pct(float(keep.max()))}; the largest flip: true "
                f"{i} given {j}, {_pct(t)} of class {i})")
    return ("the labels carry no information about the images: every class gets about the same "
            "mix of labels")


def _loss_sentence(loss: str | None) -> str:
    if loss is None:
        return "No loss is recommended: the open readings call for different ones."
    if loss == "relabel":
        return "Relabel with the mapping, then train with ordinary cross-entropy ('ce')."
    return f"Train with '{loss}'."


def _kept_open(reading, diag) -> str:
    """Why an improbable evenly spread reading (symmetric, or uniform complementary) stays open
    (`noisylab.noise.ladder`: the unevenness the others read is within what the predictions' own
    mistakes could make)."""
    best = max(r.probability for r in diag.readings)
    looks = {"symmetric": "piled onto single classes",
             "complementary": "spread unevenly over the wrong classes"}.get(reading.kind)
    if looks is None or reading.probability * 20 >= best:
        return ""
    if diag.confusion > diag.resolution:
        return (f", which the predictions' own mistakes (they take a class for one other class "
                f"up to {_pct(diag.confusion)} of the time) could make look {looks}")
    return (f", which the predictions' own mistakes (they get {_pct(diag.resolution)} wrong) "
            f"could make look {looks}")


def summary(diag) -> str:
    """One paragraph: the finding, the evidence for it, what is open, what to do."""
    K = len(diag.keep_rate)
    first = diag.readings[0]
    if diag.kind == "unrelated":
        text = ("The labels carry no information about the images: every class gets about the "
                "same mix of labels, so no loss can learn the classes from them.")
    elif diag.decided:
        text = describe(first, K, diag.resolution).capitalize() + ". " \
            + _loss_sentence(diag.recommended_loss)
    elif diag.kind == "clean" and set(diag.candidates) == {"clean", "permutation"}:
        text = (describe(first, K, diag.resolution).capitalize() + ". But a renaming of whole "
                "classes (a permutation) would look exactly the same from the given labels "
                "alone. " + _loss_sentence(diag.recommended_loss))
    else:
        parts = [f"read as {r.kind} (probability {r.probability:.2f}), "
                 f"{describe(r, K, diag.resolution)}{_kept_open(r, diag)}" for r in diag.readings]
        text = ("The labels can be read in more than one way that explains them about equally "
                "well: " + "; or ".join(parts) + ". " + _loss_sentence(diag.recommended_loss))
    if diag.verified:
        text += " " + _verified_sentence(diag)
    elif diag.runner_up is not None and diag.log_odds is not None and diag.decided:
        odds = diag.log_odds / math.log(10)
        text += (f" Of the noise models fitted to the labels, '{diag.model}' is the simplest "
                 f"that is not clearly worse than the best; the best model of another kind, "
                 f"'{diag.runner_up}', gives labels it was not fitted on 10^{odds:.0f} times "
                 f"less likelihood."
                 if odds < 300 else
                 f" Of the noise models fitted to the labels, '{diag.model}' is the simplest "
                 f"that is not clearly worse than the best; every model of another kind is far "
                 f"worse (the best of them, '{diag.runner_up}', by e^{diag.log_odds:.0f} on "
                 f"labels it was not fitted on).")
    if diag.what_decides:
        text += " " + diag.what_decides
    return text


def _verified_sentence(diag) -> str:
    """How the verified labels agree with the suggested classes, and how they weigh the
    readings (none to weigh when the audit had left only one open)."""
    v = diag.verified
    text = (f"{v['n']} verified labels: the suggested true class agrees with {v['agree']} of "
            f"them ({v['expected_agree']:.1f} expected from the audit's own probabilities)")
    ll = v["log_likelihoods"]
    best = max(ll.values())
    others = [f"'{k}' {math.exp(min(best - x, 700)):.3g} times less" for k, x in ll.items()
              if k != diag.kind]
    if not others:
        return text + "; no other reading was open for them to weigh."
    return text + "; under them " + "; ".join(others) + f" likely than '{diag.kind}'."
