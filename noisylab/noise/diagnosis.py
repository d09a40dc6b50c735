"""Say what kind of label noise a dataset has, how sure we are, and what to do about it.

:func:`diagnose` estimates ``T[i, j] = P(given = j | true = i)`` from out-of-sample
``pred_probs`` (:func:`noisylab.noise.estimate_transition`), fits the ladder of noise models to
the given labels (:mod:`noisylab.noise.ladder`), and reports the simplest model that is not
clearly worse than the best, its probability, the runner-up and the evidence between them.
:func:`diagnose_matrix` does the same for counts of (true, given) pairs you already have, say
from trusted labels, to measure an audit.

Kinds
-----
``"clean"``                 no label noise beyond what the predictions themselves get wrong.
``"permutation"``           whole classes renamed (only a reference can show it).
``"symmetric"``             wrong labels spread evenly over the other classes.
``"pair-flip"``             each class's wrong labels go to one other class.
``"complementary"``         the given label is a class the image is *not*, drawn evenly.
``"biased-complementary"``  the same, drawn unevenly.
``"asymmetric"``            mostly right, wrong labels in no simpler pattern.
``"unrelated"``             the labels carry no information about the images.

What the labels cannot tell
---------------------------
Without a reference (a model trained on clean data, or verified labels) a renaming of whole
classes explains the given labels exactly as well as the classes as named, so clean labels and a
permutation cannot be told apart, and neither can the two readings of a free matrix: "mostly
right with asymmetric noise" and "biased complementary". The diagnosis then lists both as
``candidates``, gives each :class:`Reading` (its ``T``, noise rate and loss), recommends a loss
only where the readings agree on it (or where one loss contains the others', `COVERS`), and says
what would decide (``what_decides``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noisylab.errors import NoisylabError
from noisylab.noise._validation import check_option, check_transition
from noisylab.noise.intervals import Intervals, bootstrap
from noisylab.noise.ladder import Ladder, fit_ladder, heldout_power, pseudo_bma
from noisylab.noise.transition import REGIMES, TransitionEstimate, estimate_transition

__all__ = ["KINDS", "RECOMMENDED_LOSS", "Diagnosis", "Reading", "diagnose", "diagnose_estimate",
           "diagnose_matrix", "ladder_of", "posterior_under", "reading_posterior", "with_verified"]

#: Every kind :func:`diagnose` can report.
KINDS = ("clean", "permutation", "symmetric", "pair-flip", "complementary",
         "biased-complementary", "asymmetric", "unrelated")

#: What to train with, by kind (names of ``noisylab.losses.LOSSES``; ``"relabel"``: apply the
#: mapping; None: these labels cannot teach the classes).
RECOMMENDED_LOSS = {
    "clean": "ce",
    "permutation": "relabel",
    "symmetric": "gce",
    "pair-flip": "forward",
    "complementary": "scl-nl",
    "biased-complementary": "fwd",
    "asymmetric": "forward",
    "unrelated": None,
}


@dataclass(frozen=True, eq=False)
class Reading:
    """One way of reading the labels: a kind, its best model, and what it implies.

    Attributes
    ----------
    kind : str
    model : str
        The ladder model behind it.
    probability : float
        Posterior probability of the kind.
    transition_matrix : ndarray ``(K, K)``
        ``T`` as this reading estimates it (rows true classes, columns given labels).
    class_prior : ndarray ``(K,)``
    keep_rate : ndarray ``(K,)``
    noise_rate : float
    naming : ndarray of int ``(K,)``
        True class of each cluster of images under this reading.
    recommended_loss : str or None
    params : dict
        The model's parameters (rates, partners, permutation).
    """

    kind: str
    model: str
    probability: float
    transition_matrix: np.ndarray
    class_prior: np.ndarray
    keep_rate: np.ndarray
    noise_rate: float
    naming: np.ndarray
    recommended_loss: str | None
    params: dict

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"kind": self.kind, "model": self.model, "probability": self.probability,
                "transition_matrix": self.transition_matrix.tolist(),
                "class_prior": self.class_prior.tolist(), "keep_rate": self.keep_rate.tolist(),
                "noise_rate": self.noise_rate, "naming": self.naming.tolist(),
                "recommended_loss": self.recommended_loss, "params": _plain(self.params)}


@dataclass(frozen=True, eq=False)
class Diagnosis:
    """What kind of label noise, how much, how sure, and what to do.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`: the selected model's kind.
    decided : bool
        False when the labels cannot tell ``candidates`` apart.
    candidates : tuple of str
        The kinds not clearly worse than the best (just ``(kind,)`` when decided).
    confidence : float
        Probability that the truth is among ``candidates``: the posterior probability of the
        ladder, bagged over bootstrap replicates when they were run.
    kind_probabilities : dict of str to float
        Posterior probability of each kind.
    readings : tuple of Reading
        One per candidate (the selected first); ``readings[0]`` gives the fields below.
    transition_matrix : ndarray ``(K, K)``
    class_prior : ndarray ``(K,)``
    keep_rate : ndarray ``(K,)``
    noise_rate : float
    mapping : ndarray of int ``(K,)`` or None
        For a permutation: ``mapping[j]`` is the true class of samples given label ``j``.
    model : str
        The selected ladder model; ``runner_up`` the best model of another kind and
        ``log_odds`` the evidence between them (nats): the difference of their held-out
        log-likelihoods (of their log evidence under exact counts).
    models : list of dict
        Every model: name, kind, reading, log-likelihood, parameters, log evidence, held-out
        log-likelihood (NaN under exact counts), probability.
    recommended_loss : str or None
        A loss name, ``"relabel"``, or None (nothing the evidence can justify).
    what_decides : str
        What would settle an undecided diagnosis ("" when decided).
    summary : str
        One plain-language paragraph.
    has_reference : bool
    regime : str
        The partition the predictions were clustered by (``"dominant"``/``"complementary"``).
    resolution : float
        Noise rates at or below this read as clean (the predictions' expected error).
    intervals : Intervals or None
        Bootstrap intervals of the selected reading.
    verified : dict or None
        How verified labels weighed the readings: ``{"n", "log_likelihoods", "prior",
        "agree", "expected_agree"}``: how many of them the selected reading's suggested class
        matches, and how many it expected to (the sum of its posterior probabilities of its
        suggestions for those images).
    labels_needed : int or None
        Verified labels expected to reach 20 to 1 between the open readings
        (`noisylab.noise.labels_needed`).
    confusion : float
        How far the predictions take one class for a single other one
        (`noisylab.noise.ladder.largest_confusion`); a pile of wrong labels within it or
        within ``resolution`` keeps symmetric noise open.
    """

    kind: str
    decided: bool
    candidates: tuple
    confidence: float
    kind_probabilities: dict
    readings: tuple
    transition_matrix: np.ndarray
    class_prior: np.ndarray
    keep_rate: np.ndarray
    noise_rate: float
    mapping: np.ndarray | None
    model: str
    runner_up: str | None
    log_odds: float | None
    models: list
    recommended_loss: str | None
    what_decides: str
    summary: str
    has_reference: bool
    regime: str
    resolution: float
    intervals: Intervals | None = None
    verified: dict | None = None
    labels_needed: int | None = None
    confusion: float = 0.0

    def to_dict(self) -> dict:
        """A JSON-ready dict (arrays become lists)."""
        return {
            "kind": self.kind, "decided": self.decided, "candidates": list(self.candidates),
            "confidence": self.confidence,
            "confidence_meaning": "probability that the true kind is among the candidates",
            "kind_probabilities": self.kind_probabilities,
            "noise_rate": self.noise_rate, "keep_rate": self.keep_rate.tolist(),
            "transition_matrix": self.transition_matrix.tolist(),
            "class_prior": self.class_prior.tolist(),
            "mapping": None if self.mapping is None else self.mapping.tolist(),
            "model": self.model, "runner_up": self.runner_up, "log_odds": self.log_odds,
            "models": self.models, "readings": [r.to_dict() for r in self.readings],
            "recommended_loss": self.recommended_loss, "what_decides": self.what_decides,
            "summary": self.summary, "has_reference": self.has_reference, "regime": self.regime,
            "resolution": self.resolution,
            "intervals": None if self.intervals is None else self.intervals.to_dict(),
            "verified": self.verified, "labels_needed": self.labels_needed,
            "confusion": self.confusion,
        }


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return float(x) if isinstance(x, np.floating) else x


def _reading(ladder: Ladder, kind: str) -> Reading:
    m = ladder.best_of(kind)
    if m is None:  # the permutation a clean reading cannot rule out without a reference
        m = ladder.selected
    return Reading(kind=kind, model=m.name, probability=ladder.kind_probabilities.get(kind, 0.0),
                   transition_matrix=m.realised, class_prior=m.class_prior,
                   keep_rate=m.keep_rate, noise_rate=m.noise_rate, naming=m.naming,
                   recommended_loss=RECOMMENDED_LOSS[kind], params=m.params)


#: Losses that contain another as a special case: forward correction for complementary labels
#: with a uniform matrix is SCL-NL (plus a constant), so it serves either complementary reading.
COVERS = {"fwd": {"scl-nl"}}


def _recommend(ladder: Ladder, readings: tuple) -> str | None:
    """The loss every open reading agrees on, or one that contains the others' (a clean
    reading's unseen renaming aside)."""
    if ladder.decided:
        return readings[0].recommended_loss
    kinds = [r.kind for r in readings]
    if kinds[0] == "clean" and not ladder.has_reference:
        kinds = [k for k in kinds if k != "permutation"]
    losses = {RECOMMENDED_LOSS[k] for k in kinds}
    covering = [loss for loss in losses if losses - {loss} <= COVERS.get(loss, set())]
    return covering[0] if len(covering) == 1 else None


def from_ladder(ladder: Ladder, *, regime: str = "dominant",
                intervals: Intervals | None = None) -> Diagnosis:
    """The :class:`Diagnosis` of a fitted ladder (and its bootstrap intervals)."""
    readings = tuple(_reading(ladder, k) for k in ladder.candidates)
    first = readings[0]
    sel = ladder.selected
    mapping = None
    if first.kind == "permutation" and "perm" in sel.params:
        perm = np.asarray(sel.params["perm"])
        mapping = np.empty_like(perm)
        mapping[perm] = np.arange(len(perm))
    confidence = intervals.kind_probability if intervals is not None else ladder.confidence
    models = [{"name": m.name, "kind": m.kind, "reading": m.reading, "loglik": m.loglik,
               "parameters": m.dof, "log_evidence": m.log_evidence, "heldout": m.heldout,
               "probability": m.probability} for m in ladder.models]
    loss = _recommend(ladder, readings)
    runner = ladder.runner_up
    diag = Diagnosis(
        kind=first.kind, decided=ladder.decided, candidates=ladder.candidates,
        confidence=float(confidence), kind_probabilities=dict(ladder.kind_probabilities),
        readings=readings, transition_matrix=first.transition_matrix,
        class_prior=first.class_prior, keep_rate=first.keep_rate, noise_rate=first.noise_rate,
        mapping=mapping, model=sel.name, runner_up=None if runner is None else runner.name,
        log_odds=ladder.log_odds, models=models, recommended_loss=loss,
        what_decides=_what_decides(ladder, readings), summary="",
        has_reference=ladder.has_reference, regime=regime, resolution=ladder.resolution,
        intervals=intervals, confusion=ladder.confusion)
    from dataclasses import replace

    from noisylab.noise.wording import summary

    return replace(diag, summary=summary(diag))


def _what_decides(ladder: Ladder, readings: tuple) -> str:
    if ladder.decided:
        return ""
    kinds = [r.kind for r in readings]
    if ladder.has_reference:
        return ("More images, or verified labels of the images the readings disagree on "
                "(`noisylab audit --verify N`), would decide between " + ", ".join(kinds) + ".")
    return ("A reference model trained on clean data (`--reference`), or the true classes of a "
            "few images where the readings disagree (`noisylab audit --verify N` picks them, "
            "`--verified FILE` reads them back), would decide between " + " and ".join(kinds)
            + ".")


def diagnose_estimate(estimate: TransitionEstimate, *, bootstrap_replicates: int = 0,
                      seed: int = 0) -> Diagnosis:
    """Fit the ladder to the result of :func:`noisylab.noise.estimate_transition` and report.

    Parameters
    ----------
    estimate : TransitionEstimate
        Its ``true_probs`` are the clusters, its ``counts`` name them, its reference (if any)
        fixes the names.
    bootstrap_replicates : int
        Bootstrap replicates for intervals and the bagged probability (0: none).
    """
    if not isinstance(estimate, TransitionEstimate):
        raise NoisylabError("diagnose_estimate needs a TransitionEstimate from estimate_transition")
    ladder = ladder_of(estimate)
    intervals = _intervals(estimate, ladder, bootstrap_replicates, seed)
    return _with_labels_needed(from_ladder(ladder, regime=estimate.regime, intervals=intervals),
                               estimate)


def _with_labels_needed(diag: Diagnosis, estimate: TransitionEstimate) -> Diagnosis:
    """``diag`` saying how many verified labels should decide its open readings."""
    if diag.decided or len(diag.readings) < 2:
        return diag
    from dataclasses import replace

    from noisylab.noise.verify import labels_needed
    from noisylab.noise.wording import summary

    need = labels_needed([reading_posterior(estimate, diag, i) for i in range(len(diag.readings))])
    if need is None:
        diag = replace(diag, what_decides=_beyond_verified_labels(diag, estimate.has_reference))
    else:
        diag = replace(diag, labels_needed=need, what_decides=diag.what_decides.replace(
            "the true classes of a few images", f"the true classes of about {need} images"))
    return replace(diag, summary=summary(diag))


def _beyond_verified_labels(diag: Diagnosis, has_reference: bool) -> str:
    """What decides readings that even every image's verified label would leave open: they
    agree on nearly every image's true class and differ in how wrong labels spread."""
    better = "More images would" if has_reference else (
        "More images, or a reference model trained on clean data (`--reference`), would")
    return ("Verified labels would hardly tell " + " and ".join(r.kind for r in diag.readings)
            + " apart: the readings agree on nearly every image's true class and differ in how "
            "the wrong labels spread over the other classes, which single images barely show. "
            + better + " decide.")


def ladder_of(estimate: TransitionEstimate) -> Ladder:
    """The ladder of noise models fitted to an estimate's clusters and given labels.

    The models are compared on the clusters' probabilities raised to the power under which
    they best predict held-out labels (`noisylab.noise.ladder.heldout_power`); their matrices
    and the resolution below which noise reads as clean come from the estimate's own.
    """
    P = estimate.true_probs
    return fit_ladder(P, estimate.given, cluster_counts=estimate.counts, prefer=estimate.regime,
                      has_reference=estimate.has_reference,
                      compare_power=heldout_power(P, estimate.given),
                      resolution=float(np.mean(1.0 - P.max(1))))


def _intervals(estimate, ladder, replicates: int, seed: int, **which) -> Intervals | None:
    if not replicates:
        return None
    return bootstrap(estimate.true_probs, estimate.given, ladder, replicates=replicates,
                     seed=seed, **which)


def reading_posterior(estimate: TransitionEstimate, diag: Diagnosis, which: int = 0) -> np.ndarray:
    """``p(true | x, given)`` ``(N, K)`` of the samples of ``estimate`` under a reading of ``diag``."""
    return posterior_under(estimate.true_probs, estimate.given, diag.readings[which])


def posterior_under(P: np.ndarray, given: np.ndarray, reading: Reading) -> np.ndarray:
    """``p(true | x, given)`` ``(N, K)`` from cluster probabilities ``P`` under ``reading``."""
    Pc = np.empty_like(P)
    Pc[:, reading.naming] = P  # cluster c is class naming[c]
    R = Pc * reading.transition_matrix[:, given].T
    s = R.sum(1, keepdims=True)
    return np.where(s > 0, R / np.where(s > 0, s, 1.0), Pc)


def with_verified(diag: Diagnosis, estimate: TransitionEstimate, index: np.ndarray,
                  labels: np.ndarray, *, bootstrap_replicates: int = 0,
                  seed: int = 0) -> Diagnosis:
    """``diag`` with its open readings weighed by a person's labels of some images.

    Parameters
    ----------
    index : ndarray of int ``(M,)``
        The images whose true class a person gave.
    labels : ndarray of int ``(M,)``
        Those classes.
    """
    from dataclasses import replace

    from noisylab.noise.verify import weigh_readings
    from noisylab.noise.wording import summary

    posts = [reading_posterior(estimate, diag, i) for i in range(len(diag.readings))]
    prior = np.array([max(r.probability, 1e-12) for r in diag.readings])
    probs, ll = weigh_readings(posts, index, labels, prior / prior.sum())
    order = np.argsort(-probs, kind="stable")
    readings = tuple(replace(diag.readings[i], probability=float(probs[i])) for i in order)
    keep = [r for r in readings if r.probability * 20.0 >= readings[0].probability]
    first = readings[0]
    intervals = diag.intervals
    if first.model != diag.model or intervals is None:
        intervals = _intervals(estimate, ladder_of(estimate), bootstrap_replicates, seed,
                               model=first.model, kinds=(first.kind,))
    kinds = dict(diag.kind_probabilities)
    kinds.update({r.kind: r.probability for r in readings})
    decided = len(keep) == 1 and not (first.kind == "clean" and not diag.has_reference)
    new = replace(
        diag, kind=first.kind, decided=decided, candidates=tuple(r.kind for r in keep),
        confidence=float(sum(r.probability for r in keep)), kind_probabilities=kinds,
        readings=tuple(keep), transition_matrix=first.transition_matrix,
        class_prior=first.class_prior, keep_rate=first.keep_rate, noise_rate=first.noise_rate,
        model=first.model, intervals=intervals,
        recommended_loss=first.recommended_loss if decided else diag.recommended_loss,
        what_decides="" if decided else diag.what_decides,
        verified={"n": int(len(index)), "log_likelihoods": {r.kind: float(v) for r, v in
                                                           zip(diag.readings, ll, strict=True)},
                  "prior": {r.kind: r.probability for r in diag.readings},
                  "agree": int((posts[order[0]][index].argmax(1) == labels).sum()),
                  "expected_agree": float(posts[order[0]][index].max(1).sum())})
    return replace(new, summary=summary(new))


def diagnose_matrix(T: object, *, counts: object = None, n_per_class: int = 1000,
                    has_reference: bool = True) -> Diagnosis:
    """Classify a transition matrix, or counts of (true class, given label) pairs.

    Parameters
    ----------
    T : array-like ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    counts : array-like ``(K, K)``, optional
        The counts behind ``T`` (from trusted labels, say). Without them ``T`` is read as if each
        class had ``n_per_class`` samples.
    has_reference : bool
        Whether rows are tied to true classes by trusted evidence (true labels are).
    """
    T = check_transition(T)
    K = T.shape[0]
    C = T * n_per_class if counts is None else np.asarray(counts, dtype=np.float64)
    if C.shape != (K, K) or not np.all(np.isfinite(C)) or C.min() < 0:
        raise NoisylabError(f"counts must be nonnegative with shape ({K}, {K})")
    true, given = np.nonzero(C > 0)
    ladder = fit_ladder(np.eye(K)[true], given, weights=C[true, given],
                        cluster_counts=C, has_reference=has_reference, p_dof=0,
                        compare="evidence")
    return from_ladder(ladder)


def estimate_and_diagnose(pred_probs: object, given_labels: object, *,
                          reference_probs: object = None, regime: str = "auto",
                          refine: bool = True, alpha: float = 0.001, max_iter: int = 200,
                          tol: float = 1e-7, bootstrap_replicates: int = 0,
                          seed: int = 0) -> tuple[TransitionEstimate, Diagnosis]:
    """`noisylab.noise.estimate_transition`, then the ladder; ``(estimate, diagnosis)``.

    With ``regime="auto"`` and no reference the predictions are clustered both ways (each
    image's true class where its predicted given-label probability is highest, and where it
    is lowest) and the ladder is fitted to each clustering. The best model of each ladder that
    reads the clusters (by held-out likelihood and prior) stands for its clustering, and the
    two are weighed by `noisylab.noise.ladder.pseudo_bma`; the clustering with the larger
    weight is kept, and the probability of each kind is averaged over the two with their
    weights, so a clustering that predicts the labels nearly as well lowers the confidence in
    what the other says.
    """
    check_option(regime, "regime", REGIMES)
    ways = ["dominant", "complementary"] if regime == "auto" and reference_probs is None \
        else [regime]
    fits = []
    for way in ways:
        est = estimate_transition(pred_probs, given_labels, reference_probs=reference_probs,
                                  regime=way, refine=refine, alpha=alpha, max_iter=max_iter,
                                  tol=tol)
        fits.append((est, ladder_of(est)))
    weights = _clustering_weights([lad for _, lad in fits])
    est, ladder = fits[int(np.argmax(weights))]
    intervals = _intervals(est, ladder, bootstrap_replicates, seed)
    diag = _with_labels_needed(from_ladder(ladder, regime=est.regime, intervals=intervals), est)
    if len(fits) == 1:
        return est, diag
    kinds: dict = {}
    for w, (_, lad) in zip(weights, fits, strict=True):
        for k, p in lad.kind_probabilities.items():
            kinds[k] = kinds.get(k, 0.0) + float(w) * p
    from dataclasses import replace

    confidence = float(min(1.0, sum(kinds.get(k, 0.0) for k in diag.candidates)))
    return est, replace(diag, kind_probabilities=kinds, confidence=confidence)


def _clustering_weights(ladders: list) -> np.ndarray:
    """Pseudo-BMA+ weights ``(R,)`` of the ladders, each represented by its best model that
    reads the clusters.

    Models that ignore the predictions (labels unrelated to the images) are the same under
    every clustering and say nothing about which is right; and the best model, not all of
    them, so that a clustering does not gain weight by having many models that tie.
    """
    if len(ladders) == 1:
        return np.ones(1)

    def representative(lad):
        readers = [m for m in lad.models if m.name not in ("uniform", "unrelated")]
        return max(readers or lad.models, key=lambda m: m.heldout + m.log_prior)

    best = [representative(lad) for lad in ladders]
    L = np.stack([m.pointwise for m in best])
    return pseudo_bma(L, np.ones(L.shape[1]), np.array([m.log_prior for m in best]))


def diagnose(pred_probs: object, given_labels: object, *, reference_probs: object = None,
             regime: str = "auto", refine: bool = True, alpha: float = 0.001,
             bootstrap_replicates: int = 0, seed: int = 0) -> Diagnosis:
    """Estimate the label noise from out-of-sample predictions and say what kind it is.

    Parameters
    ----------
    pred_probs : array-like ``(N, K)``
        Out-of-sample ``P(given | x)`` from a model trained on the given labels.
    given_labels : array-like of int ``(N,)``
    reference_probs : array-like ``(N, K)``, optional
        ``p(true | x)`` from a trusted reference model: names the classes.
    regime, refine, alpha
        See :func:`noisylab.noise.estimate_transition`.
    bootstrap_replicates : int
        Bootstrap replicates for intervals and the bagged probability (0: none).
    """
    return estimate_and_diagnose(pred_probs, given_labels, reference_probs=reference_probs,
                                 regime=regime, refine=refine, alpha=alpha,
                                 bootstrap_replicates=bootstrap_replicates, seed=seed)[1]
