"""Per-sample label issues: the given label, the suggested true label, and how much to trust it.

The suggestion and the quality come from the posterior of :func:`noisylab.noise.estimate_transition`,
``p(true = i | x, given = j) ∝ p(true = i | x) T[i, j]``: the model's belief about the image,
weighed by how likely true class ``i`` is to be given label ``j``. In the dominant regime the
suggestion is usually the model's argmax; in the complementary regime it is usually the class
where ``pred_probs`` is lowest, and the given label is almost never the suggestion.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np

from noisylab.errors import NoisylabError
from noisylab.noise._validation import check_labels, check_probs
from noisylab.noise.transition import TransitionEstimate, estimate_transition

__all__ = ["LabelIssues", "label_issues", "label_issues_from_posterior"]


@dataclass(frozen=True, eq=False)
class LabelIssues:
    """Label issues of ``N`` samples, as parallel arrays.

    Attributes
    ----------
    given_label : np.ndarray of int, shape ``(N,)``
        The label each sample was given.
    suggested_label : np.ndarray of int, shape ``(N,)``
        The most probable true class, ``argmax_i p(true = i | x, given)``.
    label_quality : np.ndarray of float, shape ``(N,)``
        ``p(true = given | x, given)`` in [0, 1]: the probability that the given label is right.
    is_issue : np.ndarray of bool, shape ``(N,)``
        ``suggested_label != given_label``.
    """

    given_label: np.ndarray
    suggested_label: np.ndarray
    label_quality: np.ndarray
    is_issue: np.ndarray

    def __len__(self) -> int:
        return int(self.given_label.shape[0])

    @property
    def n_issues(self) -> int:
        """How many samples are flagged."""
        return int(np.count_nonzero(self.is_issue))

    def to_dict(self) -> dict[str, np.ndarray]:
        """The four arrays by name (for a DataFrame: ``pandas.DataFrame(issues.to_dict())``)."""
        return {
            "given_label": self.given_label,
            "suggested_label": self.suggested_label,
            "label_quality": self.label_quality,
            "is_issue": self.is_issue,
        }

    def to_rows(self, *, only_issues: bool = False, class_names: object = None) -> list[dict]:
        """One dict per sample: ``index, given_label, suggested_label, label_quality, is_issue``.

        Parameters
        ----------
        only_issues : bool, default False
            Keep flagged samples only.
        class_names : sequence of str, optional
            Write class names instead of indices.
        """
        names = None
        if class_names is not None:
            names = [str(c) for c in class_names]  # type: ignore[union-attr]
            top = int(max(self.given_label.max(initial=0), self.suggested_label.max(initial=0)))
            if len(names) <= top:
                raise NoisylabError(
                    f"class_names lists {len(names)} names but labels go up to {top}"
                )
        idx = np.flatnonzero(self.is_issue) if only_issues else np.arange(len(self))

        def name(k: int) -> int | str:
            return names[k] if names is not None else k

        return [
            {
                "index": int(i),
                "given_label": name(int(self.given_label[i])),
                "suggested_label": name(int(self.suggested_label[i])),
                "label_quality": float(self.label_quality[i]),
                "is_issue": bool(self.is_issue[i]),
            }
            for i in idx
        ]

    def to_csv(
        self,
        path_or_file: str | os.PathLike | io.TextIOBase | None = None,
        *,
        only_issues: bool = False,
        class_names: object = None,
    ) -> str | None:
        """Write the rows of :meth:`to_rows` as CSV; with no target, return the CSV text."""
        rows = self.to_rows(only_issues=only_issues, class_names=class_names)
        fields = ["index", "given_label", "suggested_label", "label_quality", "is_issue"]
        if path_or_file is None:
            buf = io.StringIO()
            _write_csv(buf, rows, fields)
            return buf.getvalue()
        if isinstance(path_or_file, str | os.PathLike):
            with open(path_or_file, "w", newline="", encoding="utf-8") as f:
                _write_csv(f, rows, fields)
        else:
            _write_csv(path_or_file, rows, fields)
        return None


def _write_csv(f, rows: list[dict], fields: list[str]) -> None:
    w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "label_quality": f"{r['label_quality']:.6g}"})


def label_issues_from_posterior(posterior: object, given_labels: object) -> LabelIssues:
    """Label issues from a posterior ``p(true | x, given)`` ``(N, K)`` and the given labels ``(N,)``."""
    R = check_probs(posterior, "posterior")
    given = check_labels(given_labels, "given_labels", R.shape[1], R.shape[0])
    suggested = np.argmax(R, axis=1)
    quality = R[np.arange(R.shape[0]), given]
    return LabelIssues(
        given_label=given,
        suggested_label=suggested.astype(np.int64),
        label_quality=np.clip(quality, 0.0, 1.0),
        is_issue=suggested != given,
    )


def label_issues(
    pred_probs: object,
    given_labels: object,
    *,
    reference_probs: object = None,
    regime: str = "auto",
    estimate: TransitionEstimate | None = None,
) -> LabelIssues:
    """Find the samples whose given label is probably wrong, and what it should be.

    Parameters
    ----------
    pred_probs : array-like, shape ``(N, K)``
        Out-of-sample ``P(given | x)`` from a model trained on the given labels.
    given_labels : array-like of int, shape ``(N,)``
        The given labels.
    reference_probs : array-like, shape ``(N, K)``, optional
        ``p(true | x)`` from a trusted reference model (fixes which class is which).
    regime : {"auto", "dominant", "complementary"}, default "auto"
        See :func:`noisylab.noise.estimate_transition`.
    estimate : TransitionEstimate, optional
        Reuse an estimate made on these same samples instead of computing one.

    Returns
    -------
    LabelIssues
    """
    if estimate is None:
        estimate = estimate_transition(
            pred_probs, given_labels, reference_probs=reference_probs, regime=regime
        )
    elif not isinstance(estimate, TransitionEstimate):
        raise NoisylabError("estimate must be a TransitionEstimate from estimate_transition")
    given = check_labels(given_labels, "given_labels", estimate.matrix.shape[0])
    if given.shape[0] != estimate.posterior.shape[0]:
        raise NoisylabError(
            f"given_labels has {given.shape[0]} entries but the estimate covers "
            f"{estimate.posterior.shape[0]} samples"
        )
    return label_issues_from_posterior(estimate.posterior, given)
