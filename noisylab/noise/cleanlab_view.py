"""What cleanlab itself says about the same predictions, to show beside noisylab's figures.

cleanlab's confident learning assumes the *dominant-diagonal* regime: for every class most
samples keep their label, so a sample's true class is near the top of ``pred_probs``. On
complementary labels that assumption fails and cleanlab's figures are wrong (for uniform
complementary MNIST it reports labels independent of the images, or a perfect health score).
:func:`cleanlab_assumption_holds` says whether the assumption holds for an estimated matrix.

cleanlab is imported only when :func:`cleanlab_report` runs (it takes seconds to import).
cleanlab's joint is indexed ``[given, true]``; everything returned here that is called
``transition_matrix`` is converted to noisylab's ``T[i, j] = P(given = j | true = i)``.
"""

from __future__ import annotations

import numpy as np

from noisylab.noise._validation import check_labels, check_probs, check_transition

__all__ = ["cleanlab_assumption_holds", "cleanlab_report"]


def _records(frame: object) -> list[dict]:
    """A pandas DataFrame as a list of plain dicts (JSON-friendly)."""
    if frame is None:
        return []
    to_dict = getattr(frame, "to_dict", None)
    if to_dict is None:
        return []
    rows = to_dict(orient="records")
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]


def cleanlab_report(
    pred_probs: object,
    given_labels: object,
    *,
    health_summary: bool = True,
    find_issues: bool = True,
) -> dict:
    """cleanlab's reading of out-of-sample ``pred_probs``, as a dict.

    Parameters
    ----------
    pred_probs : array-like, shape ``(N, K)``
        Out-of-sample ``P(given | x)`` from a model trained on the given labels.
    given_labels : array-like of int, shape ``(N,)``
        The given labels.
    health_summary : bool, default True
        Also run ``cleanlab.dataset.health_summary`` (per-class quality, overlapping classes).
    find_issues : bool, default True
        Also count ``cleanlab.filter.find_label_issues``.

    Returns
    -------
    dict
        ``cleanlab_version``; ``overall_label_health_score`` (cleanlab's fraction of labels it
        believes correct); ``noise_rate`` (``1 - trace`` of cleanlab's joint);
        ``confident_joint`` and ``joint`` ``(K, K)`` indexed ``[given, true]`` as cleanlab
        returns them; ``transition_matrix`` ``(K, K)`` and ``keep_rate`` ``(K,)`` in noisylab's
        orientation; ``n_label_issues`` and ``label_issue_fraction`` (None if not run);
        ``classes_by_label_quality`` and ``overlapping_classes`` (lists of dicts, empty if not run).
    """
    Q = check_probs(pred_probs, "pred_probs")
    y = check_labels(given_labels, "given_labels", Q.shape[1], Q.shape[0])
    import cleanlab
    import cleanlab.count
    import cleanlab.dataset
    import cleanlab.filter

    cj = cleanlab.count.compute_confident_joint(y, Q)
    joint = cleanlab.count.estimate_joint(y, Q, confident_joint=cj)
    tj = np.asarray(joint, dtype=np.float64).T  # [true, given]
    sums = tj.sum(axis=1, keepdims=True)
    K = Q.shape[1]
    T = np.where(sums > 0, tj / np.where(sums > 0, sums, 1.0), np.eye(K))
    health = cleanlab.dataset.overall_label_health_score(y, Q, verbose=False)
    out: dict = {
        "cleanlab_version": getattr(cleanlab, "__version__", "unknown"),
        "overall_label_health_score": float(health),
        "noise_rate": float(1.0 - np.trace(joint)),
        "confident_joint": np.asarray(cj),
        "joint": np.asarray(joint),
        "transition_matrix": T,
        "keep_rate": np.diag(T).copy(),
        "n_label_issues": None,
        "label_issue_fraction": None,
        "classes_by_label_quality": [],
        "overlapping_classes": [],
    }
    if find_issues:
        mask = cleanlab.filter.find_label_issues(y, Q, n_jobs=1)
        out["n_label_issues"] = int(np.count_nonzero(mask))
        out["label_issue_fraction"] = float(np.mean(mask))
    if health_summary:
        hs = cleanlab.dataset.health_summary(labels=y, pred_probs=Q, verbose=False)
        out["classes_by_label_quality"] = _records(hs.get("classes_by_label_quality"))
        out["overlapping_classes"] = _records(hs.get("overlapping_classes"))
    return out


def cleanlab_assumption_holds(T: object, *, class_prior: object = None) -> tuple[bool, str]:
    """Whether cleanlab's dominant-diagonal assumption holds for ``T``, with a sentence why.

    Two conditions, both required: (1) every true class keeps its label more often than it
    is given any other single label (``T[i, i] > T[i, j]`` for ``j != i``), so a sample's true
    class is the top of ``pred_probs``; (2) cleanlab's own learnability condition
    (``cleanlab.benchmarking.noise_generation.noise_matrix_is_valid``): for every class,
    ``P(given = i, true = i) > P(given = i) P(true = i)``.

    Parameters
    ----------
    T : array-like, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    class_prior : array-like, shape ``(K,)``, optional
        ``P(true = i)``; uniform by default.
    """
    M = check_transition(T)
    K = M.shape[0]
    prior = (
        np.full(K, 1.0 / K) if class_prior is None else np.asarray(class_prior, dtype=np.float64)
    )
    prior = prior / prior.sum()
    keep = np.diag(M)
    best_other = np.where(np.eye(K, dtype=bool), -np.inf, M).max(axis=1)
    not_dominant = np.flatnonzero(keep <= best_other)
    p_given = prior @ M
    not_learnable = np.flatnonzero((prior > 0) & (keep <= p_given))
    if not_dominant.size == 0 and not_learnable.size == 0:
        return True, (
            "cleanlab's assumption holds: every class keeps its label more often than it gets any "
            f"other (smallest keep rate {keep.min():.3f}), so its figures are meaningful here."
        )
    if not_dominant.size == K and np.all(keep < 1.0 / K):
        return False, (
            "cleanlab's assumption fails: no class keeps its label more often than chance "
            f"(largest keep rate {keep.max():.3f} < 1/{K}); the labels are complementary, so cleanlab's "
            "health score, joint and issue counts describe the wrong thing."
        )
    bad = sorted(set(not_dominant.tolist()) | set(not_learnable.tolist()))
    listed = ", ".join(str(i) for i in bad[:10]) + (" ..." if len(bad) > 10 else "")
    return False, (
        f"cleanlab's assumption fails for {len(bad)} of {K} classes ({listed}): their given label is "
        "not the most likely one for their true class, so cleanlab will misread them."
    )
