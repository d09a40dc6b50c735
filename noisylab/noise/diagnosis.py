"""Say what kind of label noise a dataset has, how sure we are, and what to do about it.

:func:`diagnose` estimates ``T[i, j] = P(given = j | true = i)`` from out-of-sample
``pred_probs`` (see :func:`noisylab.noise.estimate_transition`) and classifies it;
:func:`diagnose_matrix` classifies a matrix you already have (say the exact one from trusted
labels, to measure an audit).

Kinds
-----
``"unrelated"``      the given labels carry no detectable information about the images
                     (a G-test of independence cannot reject at level ``alpha``).
``"permutation"``    whole classes were renamed: each moved true class is given mostly one
                     other label. Only visible with a reference (see below).
``"complementary"``  every class keeps its label less often than chance (``T[i, i] < 1 / K``):
                     the given label names a class the image is *not*.
``"clean"``          overall noise rate ``P(given != true)`` at most ``clean_tol``.
``"symmetric"``      the diagonal dominates and the wrong labels are spread evenly over the
                     other classes (uniformity test on the off-diagonal counts).
``"asymmetric"``     the diagonal dominates but the wrong labels favour some classes.

Two truths the diagnosis respects
---------------------------------
Without a reference (a model trained on clean data, or a few trusted labels), a renaming of
whole classes is indistinguishable from clean labels: the given labels are perfectly
consistent with the images either way. So a consistent dataset diagnosed without a reference is
reported as ``"clean"`` with ``decided=False`` and ``candidates=("clean", "permutation")``.
Symmetric versus asymmetric is decided by the uniformity test, not by eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import chdtrc

from noisylab.errors import NoisylabError
from noisylab.noise._validation import check_alpha, check_option, check_rate, check_transition
from noisylab.noise.transition import (
    REGIMES,
    IndependenceTest,
    TransitionEstimate,
    _g_test,
    estimate_transition,
)

__all__ = [
    "KINDS",
    "RECOMMENDED_LOSS",
    "Diagnosis",
    "UniformityTest",
    "diagnose",
    "diagnose_estimate",
    "diagnose_matrix",
    "uniformity_test",
]

#: Every kind :func:`diagnose` can report.
KINDS = ("clean", "symmetric", "asymmetric", "permutation", "complementary", "unrelated")

#: What to train with, by kind (names of ``noisylab.losses.LOSSES`` where one applies).
#: Biased complementary labels get ``"fwd"`` (forward correction with the estimated matrix)
#: instead of ``"scl-nl"``, which assumes the uniform case.
RECOMMENDED_LOSS = {
    "clean": "ce",
    "symmetric": "gce",
    "asymmetric": "forward",
    "permutation": "relabel",
    "complementary": "scl-nl",
    "unrelated": "none",
}


@dataclass(frozen=True)
class UniformityTest:
    """Is the off-diagonal (wrong-label) mass of each row spread evenly over the other classes?

    Attributes
    ----------
    statistic : float
        Pearson chi-square summed over rows: for row ``i`` the counts ``C[i, j]``, ``j != i``,
        against their mean. NaN when no counts were given.
    pvalue : float
        Under uniformity the statistic is chi-square with ``dof`` degrees of freedom. NaN
        without counts, 1.0 when there is nothing to test (``K == 2`` or no wrong labels).
    dof : int
        ``K - 2`` per row tested (rows with fewer than ``K - 1`` wrong labels are skipped).
    distance : float
        Effect size: total-variation distance of each row's off-diagonal distribution from
        uniform, averaged with weights by wrong-label mass; 0 is uniform, ``1 - 1/(K-1)`` is all
        wrong labels on one class.
    noise_floor : float
        The ``distance`` expected from sampling noise alone if the wrong labels were exactly
        uniform, given the counts (normal approximation; 0 without counts). When it exceeds
        ``tol`` the test cannot resolve departures of size ``tol``: low power.
    tol : float
        Largest ``distance`` still called uniform when the test rejects.
    uniform : bool
        The decision: uniform unless the test rejects at ``alpha`` *and* ``distance`` exceeds
        ``tol`` (a detectable but tiny departure still counts as uniform).
    """

    statistic: float
    pvalue: float
    dof: int
    distance: float
    noise_floor: float
    tol: float
    uniform: bool

    @property
    def low_power(self) -> bool:
        """Called uniform, but too few wrong labels to resolve a departure of size ``tol``."""
        return bool(self.uniform and self.noise_floor > self.tol)


def _off_diagonal(T: np.ndarray) -> np.ndarray:
    K = T.shape[0]
    return T[~np.eye(K, dtype=bool)].reshape(K, K - 1)


def uniformity_test(
    T: object,
    counts: object = None,
    *,
    alpha: float = 0.001,
    tol: float = 0.1,
) -> UniformityTest:
    """Test whether the wrong labels of each true class are spread uniformly.

    Parameters
    ----------
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    counts : array-like, shape ``(K, K)``, optional
        Counts (or posterior-weighted counts) behind ``T``; needed for the chi-square p-value.
    alpha : float, default 0.001
        Significance level.
    tol : float, default 0.1
        Largest ``distance`` still called uniform when the test rejects.
    """
    T = check_transition(T)
    alpha = check_alpha(alpha)
    tol = check_rate(tol, "uniform_tol")
    K = T.shape[0]
    off_T = _off_diagonal(T)
    mass = off_T.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = np.where(mass[:, None] > 0, off_T / np.where(mass > 0, mass, 1.0)[:, None], 0.0)
    tv = 0.5 * np.abs(shape - 1.0 / (K - 1)).sum(axis=1)
    if counts is not None:
        C = np.asarray(counts, dtype=np.float64)
        if C.shape != (K, K):
            raise NoisylabError(f"counts must have shape ({K}, {K}), got {C.shape}")
        weights = _off_diagonal(C).sum(axis=1)
    else:
        C, weights = None, mass
    distance = float(np.sum(weights * tv) / np.sum(weights)) if np.sum(weights) > 0 else 0.0
    if K == 2 or np.sum(weights) <= 0:
        return UniformityTest(0.0, 1.0, 0, 0.0, 0.0, tol, True)
    if C is None:
        nan = float("nan")
        return UniformityTest(nan, nan, 0, distance, 0.0, tol, distance <= tol)
    off_C = _off_diagonal(C)
    n_off = off_C.sum(axis=1)
    # E[TV] of a multinomial sample of n from the uniform over m = K - 1 cells, per row
    m = K - 1
    with np.errstate(divide="ignore"):
        floor_i = 0.5 * m * np.sqrt(2.0 / np.pi) * np.sqrt((1.0 / m) * (1.0 - 1.0 / m) / n_off)
    floor_i = np.where(n_off > 0, np.minimum(floor_i, 1.0 - 1.0 / m), 0.0)
    noise_floor = float(np.sum(n_off * floor_i) / np.sum(n_off))
    rows = n_off >= K - 1  # at least one expected wrong label per cell
    if not np.any(rows):
        return UniformityTest(0.0, 1.0, 0, distance, noise_floor, tol, True)
    expected = n_off[rows, None] / (K - 1)
    stat = float(np.sum((off_C[rows] - expected) ** 2 / expected))
    dof = int(np.count_nonzero(rows) * (K - 2))
    pvalue = float(chdtrc(dof, stat))
    uniform = not (pvalue < alpha and distance > tol)
    return UniformityTest(stat, pvalue, dof, distance, noise_floor, tol, uniform)


@dataclass(frozen=True, eq=False)
class Diagnosis:
    """What kind of label noise, how much, how sure, and what to do.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    noise_rate : float
        Overall ``P(given != true) = 1 - sum_i class_prior[i] T[i, i]``.
    keep_rate : np.ndarray, shape ``(K,)``
        ``T[i, i]``: how often true class ``i`` keeps its label.
    mapping : np.ndarray of int, shape ``(K,)``, or None
        For a permutation: ``mapping[j]`` is the true class of samples given label ``j``.
    uniformity : UniformityTest
        Is the wrong-label mass spread evenly (symmetric vs asymmetric; uniform vs biased
        complementary)?
    confidence : float
        Heuristic in [0, 1]: the weakest margin among the decisions that led to ``kind``
        (independence p-value, regime, clean tolerance, uniformity, permutation strength);
        at most 0.5 when undecided.
    decided : bool
        False when the evidence cannot separate ``candidates``.
    candidates : tuple of str
        The kinds the evidence cannot tell apart (just ``(kind,)`` when decided).
    summary : str
        One plain-language paragraph.
    recommended_loss : str
        A name from :data:`RECOMMENDED_LOSS` values (``"relabel"``: apply ``mapping``;
        ``"none"``: the labels cannot teach anything).
    transition_matrix : np.ndarray, shape ``(K, K)``
        The ``T`` diagnosed.
    class_prior : np.ndarray, shape ``(K,)``
        ``P(true = i)`` used for ``noise_rate``.
    regime : str
        ``"dominant"`` or ``"complementary"``: where the true class sits in ``pred_probs``.
    independence : IndependenceTest or None
        The test behind ``"unrelated"``.
    has_reference : bool
        Whether trusted evidence fixed which part of the data is which true class.
    """

    kind: str
    noise_rate: float
    keep_rate: np.ndarray
    mapping: np.ndarray | None
    uniformity: UniformityTest
    confidence: float
    decided: bool
    candidates: tuple[str, ...]
    summary: str
    recommended_loss: str
    transition_matrix: np.ndarray
    class_prior: np.ndarray
    regime: str
    independence: IndependenceTest | None
    has_reference: bool

    def to_dict(self) -> dict:
        """A JSON-ready dict (arrays become lists)."""
        ind = self.independence
        return {
            "kind": self.kind,
            "noise_rate": self.noise_rate,
            "keep_rate": self.keep_rate.tolist(),
            "mapping": None if self.mapping is None else self.mapping.tolist(),
            "uniformity": {
                "statistic": self.uniformity.statistic,
                "pvalue": self.uniformity.pvalue,
                "dof": self.uniformity.dof,
                "distance": self.uniformity.distance,
                "noise_floor": self.uniformity.noise_floor,
                "tol": self.uniformity.tol,
                "uniform": self.uniformity.uniform,
            },
            "confidence": self.confidence,
            "decided": self.decided,
            "candidates": list(self.candidates),
            "summary": self.summary,
            "recommended_loss": self.recommended_loss,
            "transition_matrix": self.transition_matrix.tolist(),
            "class_prior": self.class_prior.tolist(),
            "regime": self.regime,
            "independence": None
            if ind is None
            else {
                "statistic": ind.statistic,
                "pvalue": ind.pvalue,
                "dof": ind.dof,
                "mutual_information": ind.mutual_information,
            },
            "has_reference": self.has_reference,
        }


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _pvalue_margin(p: float, alpha: float) -> float:
    """How far a p-value sits from ``alpha``, in decades, mapped to [0, 1] (2 decades = 1)."""
    if not np.isfinite(p):
        return 0.5
    p = max(p, 1e-300)
    return _clip01(abs(np.log10(p) - np.log10(alpha)) / 2.0)


def _permutation_structure(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(sigma, moved, strength)`` if whole classes look renamed, else None.

    ``sigma`` maximises ``sum_i T[i, sigma[i]]``; a moved row ``i`` (``sigma[i] != i``) must put
    more than half its mass on ``sigma[i]`` and at least twice the next largest entry.
    """
    K = T.shape[0]
    _, sigma = linear_sum_assignment(-T)
    moved = sigma != np.arange(K)
    if not np.any(moved):
        return None
    top = T[np.arange(K), sigma]
    second = np.sort(np.where(np.eye(K, dtype=bool)[sigma], -1.0, T), axis=1)[:, -1]
    ok = (top > 0.5) & (top >= 2.0 * second)
    if not np.all(ok[moved]):
        return None
    strength = float(np.min((top[moved] - 0.5) / 0.5))
    return sigma, moved, strength


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x >= 0.001 or x == 0 else f"{100 * x:.2g}%"


def diagnose_matrix(
    T: object,
    *,
    counts: object = None,
    class_prior: object = None,
    has_reference: bool = True,
    independence: IndependenceTest | None = None,
    regime: str | None = None,
    regime_scores: dict | None = None,
    alpha: float = 0.001,
    clean_tol: float = 0.02,
    uniform_tol: float = 0.1,
    estimated: bool = False,
) -> Diagnosis:
    """Classify a transition matrix.

    Parameters
    ----------
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    counts : array-like, shape ``(K, K)``, optional
        Counts behind ``T`` (true x given). Enables the chi-square uniformity test and, when
        ``independence`` is None, a G-test of independence on them (valid for trusted labels).
    class_prior : array-like, shape ``(K,)``, optional
        ``P(true = i)``; defaults to the row sums of ``counts``, else uniform.
    has_reference : bool, default True
        Whether ``T``'s rows are tied to true classes by trusted evidence (true labels or a
        reference model). Without it, clean and permuted labels cannot be told apart.
    independence : IndependenceTest, optional
        A test of whether the labels relate to the images at all.
    regime : {"dominant", "complementary"}, optional
        Reported as is; inferred from the kind when None.
    regime_scores : dict, optional
        Mutual information of each regime's partition (from :func:`estimate_transition`); a
        near tie makes the diagnosis undecided.
    alpha : float, default 0.001
        Significance level of the independence and uniformity tests. Strict by default: with
        tens of thousands of samples any relation worth acting on has a far smaller p-value,
        while a false "related" on unrelated labels turns noise into a confident-looking matrix.
    clean_tol : float, default 0.02
        Largest overall noise rate still called clean. When ``T`` was estimated from model
        predictions, small noise rates are upper bounds: the model's confident mistakes count as
        label errors. On clean simulated labels a 97%-accurate model gave estimates of 0.2-0.9%
        and a 93%-accurate one 0.9-3% (the high ends with overconfident models).
    uniform_tol : float, default 0.1
        Largest uniformity ``distance`` still called uniform when the test rejects.
    estimated : bool, default False
        Whether ``T`` was estimated from model predictions (the summary then says that small
        noise rates are upper bounds).
    """
    T = check_transition(T)
    K = T.shape[0]
    alpha = check_alpha(alpha)
    clean_tol = check_rate(clean_tol, "clean_tol")
    C = None
    if counts is not None:
        C = np.asarray(counts, dtype=np.float64)
        if C.shape != (K, K) or not np.all(np.isfinite(C)) or C.min() < 0:
            raise NoisylabError(f"counts must be nonnegative with shape ({K}, {K})")
    if class_prior is not None:
        prior = np.asarray(class_prior, dtype=np.float64)
        if prior.shape != (K,) or prior.min() < 0 or prior.sum() <= 0:
            raise NoisylabError(f"class_prior must be {K} nonnegative numbers with a positive sum")
        prior = prior / prior.sum()
    elif C is not None and C.sum() > 0:
        prior = C.sum(axis=1) / C.sum()
    else:
        prior = np.full(K, 1.0 / K)
    if independence is None and C is not None and C.sum() > 0:
        independence = _g_test(C)

    keep = np.diag(T).copy()
    noise_rate = float(1.0 - prior @ keep)
    unif = uniformity_test(T, C, alpha=alpha, tol=uniform_tol)
    mapping = None
    candidates: tuple[str, ...]
    factors: list[float] = []
    related_margin = 1.0
    if independence is not None:
        related_margin = _pvalue_margin(independence.pvalue, alpha)

    perm = _permutation_structure(T)
    if independence is not None and independence.pvalue >= alpha:
        kind = "unrelated"
        factors.append(related_margin)
        spread = float(np.max(0.5 * np.abs(T - prior @ T).sum(axis=1)))
        decided = spread < 0.1 or independence.pvalue >= 0.5
        candidates = (kind,) if decided else (kind, "symmetric")
    elif perm is not None:
        kind = "permutation"
        sigma, moved, strength = perm
        mapping = np.empty(K, dtype=np.int64)
        mapping[sigma] = np.arange(K)
        factors += [related_margin, strength]
        decided = bool(has_reference)
        candidates = (kind,) if decided else (kind, "asymmetric")
    elif np.all(keep < 1.0 / K):
        kind = "complementary"
        factors += [related_margin, _clip01(1.0 - K * float(keep.max()))]
        decided = bool(np.all(keep < 0.5 / K))
        candidates = (kind,) if decided else (kind, "symmetric" if unif.uniform else "asymmetric")
    elif noise_rate <= clean_tol:
        kind = "clean"
        factors += [related_margin, _clip01(1.0 - noise_rate / max(clean_tol, 1e-12))]
        decided = bool(has_reference)
        candidates = (kind,) if decided else ("clean", "permutation")
    else:
        kind = "symmetric" if unif.uniform and np.all(keep >= 1.0 / K) else "asymmetric"
        factors += [related_margin, _clip01(noise_rate / max(clean_tol, 1e-12) - 1.0)]
        if kind == "symmetric":
            decided = not unif.low_power
            factors.append(
                max(
                    _pvalue_margin(unif.pvalue, alpha) if unif.pvalue >= alpha else 0.0,
                    _clip01(1.0 - unif.distance / max(uniform_tol, 1e-12)),
                )
            )
        else:
            decided = True
            if np.all(keep >= 1.0 / K):
                factors.append(
                    min(
                        _pvalue_margin(unif.pvalue, alpha),
                        _clip01(unif.distance / max(uniform_tol, 1e-12) - 1.0),
                    )
                )
        candidates = (kind,) if decided else ("symmetric", "asymmetric")

    if regime is None:
        regime = "complementary" if kind == "complementary" else "dominant"
    if regime_scores and K > 2 and kind != "unrelated":
        chosen = regime_scores.get(regime, 0.0)
        other = regime_scores.get("complementary" if regime == "dominant" else "dominant", 0.0)
        ratio = other / chosen if chosen > 0 else 1.0
        factors.append(_clip01(1.0 - ratio))
        if ratio > 0.9:
            decided = False
            # The other regime's reading of the labels: on small data the regime can be
            # complementary while one keep rate reaches 1/K, making the kind asymmetric.
            alt = "asymmetric" if kind == "complementary" else "complementary"
            if alt not in candidates:
                candidates = (*candidates, alt)

    confidence = float(min(factors)) if factors else 1.0
    if not decided:
        confidence = min(confidence, 0.5)
    loss = RECOMMENDED_LOSS[kind]
    if kind == "complementary" and not unif.uniform:
        loss = "fwd"
    if kind == "permutation" and not has_reference:
        loss = "forward"
    summary = _summary(
        kind=kind,
        T=T,
        prior=prior,
        keep=keep,
        noise_rate=noise_rate,
        unif=unif,
        mapping=mapping,
        decided=decided,
        candidates=candidates,
        has_reference=has_reference,
        independence=independence,
        loss=loss,
        alpha=alpha,
    )
    if estimated and kind in ("clean", "symmetric", "asymmetric") and noise_rate < 0.1:
        summary += (
            " Small noise rates estimated from a model are upper bounds: its confident mistakes "
            "count as label errors."
        )
    return Diagnosis(
        kind=kind,
        noise_rate=noise_rate,
        keep_rate=keep,
        mapping=mapping,
        uniformity=unif,
        confidence=confidence,
        decided=bool(decided),
        candidates=tuple(candidates),
        summary=summary,
        recommended_loss=loss,
        transition_matrix=T,
        class_prior=prior,
        regime=regime,
        independence=independence,
        has_reference=bool(has_reference),
    )


def _summary(
    *,
    kind: str,
    T: np.ndarray,
    prior: np.ndarray,
    keep: np.ndarray,
    noise_rate: float,
    unif: UniformityTest,
    mapping: np.ndarray | None,
    decided: bool,
    candidates: tuple[str, ...],
    has_reference: bool,
    independence: IndependenceTest | None,
    loss: str,
    alpha: float,
) -> str:
    K = T.shape[0]
    spread = (
        f"spread evenly over the other {K - 1} classes"
        + (f" (uniformity test p = {unif.pvalue:.2g})" if np.isfinite(unif.pvalue) else "")
        if unif.uniform
        else f"concentrated on some classes (uniformity distance {unif.distance:.2f}"
        + (f", p = {unif.pvalue:.2g})" if np.isfinite(unif.pvalue) else ")")
    )
    need_ref = (
        "A reference (a model trained on clean data, or a few trusted labels) is needed to tell "
        "which class is which."
    )
    if kind == "unrelated":
        p = independence.pvalue if independence is not None else float("nan")
        text = (
            "The given labels look unrelated to the images: which label a sample got is "
            f"statistically independent of what the model sees in it (G-test p = {p:.2g} >= "
            f"{alpha:g}), so every true class has about the same label distribution. No loss can "
            "learn the classes from these labels; get trusted labels instead."
        )
        if not decided:
            text += " With this few samples a weak relation cannot be ruled out."
        return text
    if kind == "permutation":
        assert mapping is not None
        moved = [(j, int(mapping[j])) for j in range(K) if mapping[j] != j]
        pairs = ", ".join(f"{j}->{i}" for j, i in moved[:12]) + (" ..." if len(moved) > 12 else "")
        residual = float(
            1.0 - sum(prior[int(mapping[j])] * T[int(mapping[j]), j] for j in range(K))
        )
        text = (
            f"Whole classes were renamed: {len(moved)} of {K} given labels consistently name "
            f"another class (given label -> true class: {pairs}). Relabelling with this mapping "
            f"fixes them; {_pct(residual)} of labels stay wrong after it."
        )
        if not has_reference:
            text += (
                " Without a reference this cannot be told apart from heavy asymmetric noise. "
                + need_ref
            )
        return text
    if kind == "complementary":
        sub = "uniform" if unif.uniform else "biased"
        text = (
            f"The labels are {sub} complementary: a sample's given label is almost never its true "
            f"class (keep rate {_pct(float(prior @ keep))} on average, at most {_pct(float(keep.max()))}; "
            f"{_pct(noise_rate)} of labels are wrong) and the wrong label is {spread}. The true "
            "class is where the model's predicted probability of the given labels is lowest. "
            "Methods that assume most labels are right (cleanlab's confident learning) "
            "misread such data; "
        )
        text += (
            "train with a complementary-label loss ('scl-nl') or on the suggested labels."
            if unif.uniform
            else "train with forward correction for complementary labels ('fwd') using the "
            "estimated matrix, or on the suggested labels."
        )
        if not decided:
            text += " The keep rates are close to chance for some classes, so this is tentative."
        return text
    if kind == "clean":
        text = (
            f"The labels look clean: an estimated {_pct(noise_rate)} are wrong. Train with "
            "ordinary cross-entropy ('ce')."
        )
        if not decided:
            text += (
                " But a renaming of whole classes (a permutation) would look exactly the same "
                "from the given labels alone. " + need_ref
            )
        return text
    worst = int(np.argmin(keep))
    text = (
        f"The labels are {kind}ally noisy: {_pct(noise_rate)} are wrong overall (keep rates "
        f"{_pct(float(keep.min()))} for class {worst} to {_pct(float(keep.max()))}), and the wrong "
        f"labels are {spread}. "
    )
    if kind == "symmetric":
        text += "A noise-robust loss such as generalized cross-entropy ('gce') suits this."
        if not decided:
            text += " The uniformity test has little power at this sample size, so asymmetric noise is not ruled out."
    else:
        i, j = np.unravel_index(np.argmax(np.where(np.eye(K, dtype=bool), -1.0, T)), T.shape)
        text += (
            f"The largest flip is true {i} -> given {j} ({_pct(float(T[i, j]))} of class {i}). "
            "Forward correction with the estimated matrix ('forward') suits this."
        )
    if not decided and "complementary" in candidates:
        text += (" The evidence barely prefers this to complementary labels (each naming a class "
                 "the sample is not), so this is tentative.")
    if not has_reference:
        text += " Without a reference, a consistent renaming of whole classes cannot be ruled out."
    return text


def diagnose_estimate(
    estimate: TransitionEstimate,
    *,
    alpha: float = 0.001,
    clean_tol: float = 0.02,
    uniform_tol: float = 0.1,
) -> Diagnosis:
    """Classify the result of :func:`noisylab.noise.estimate_transition`."""
    if not isinstance(estimate, TransitionEstimate):
        raise NoisylabError("diagnose_estimate needs a TransitionEstimate from estimate_transition")
    return diagnose_matrix(
        estimate.matrix,
        counts=estimate.counts,
        class_prior=estimate.class_prior,
        has_reference=estimate.has_reference,
        independence=estimate.independence,
        regime=estimate.regime,
        regime_scores=estimate.regime_scores,
        alpha=alpha,
        clean_tol=clean_tol,
        uniform_tol=uniform_tol,
        estimated=True,
    )


def diagnose(
    pred_probs: object,
    given_labels: object,
    *,
    reference_probs: object = None,
    regime: str = "auto",
    alpha: float = 0.001,
    clean_tol: float = 0.02,
    uniform_tol: float = 0.1,
    refine: bool = True,
) -> Diagnosis:
    """Estimate the label noise from out-of-sample predictions and say what kind it is.

    Parameters
    ----------
    pred_probs : array-like, shape ``(N, K)``
        Out-of-sample ``P(given | x)`` from a model trained on the given labels.
    given_labels : array-like of int, shape ``(N,)``
        The given labels.
    reference_probs : array-like, shape ``(N, K)``, optional
        ``p(true | x)`` from a trusted reference model; needed to detect renamed classes.
    regime : {"auto", "dominant", "complementary"}, default "auto"
        See :func:`noisylab.noise.estimate_transition`.
    alpha, clean_tol, uniform_tol
        See :func:`diagnose_matrix`.
    refine : bool, default True
        EM refinement of the estimate (see :func:`noisylab.noise.estimate_transition`).

    Returns
    -------
    Diagnosis
    """
    check_option(regime, "regime", REGIMES)
    est = estimate_transition(
        pred_probs,
        given_labels,
        reference_probs=reference_probs,
        regime=regime,
        refine=refine,
        alpha=alpha,
    )
    return diagnose_estimate(est, alpha=alpha, clean_tol=clean_tol, uniform_tol=uniform_tol)
