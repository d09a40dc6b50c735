"""Losses for learning from noisy and complementary labels, and how to pick an epoch without clean ones.

Every loss takes ``logits`` of shape ``(B, K)``, the model's scores for the *true* classes, and
``labels`` of shape ``(B,)`` (int64), the *given* labels, and returns the scalar mean loss. What a
given label means is the loss's ``kind``:

``"ordinary"``
    the label names the image's class, possibly wrongly (noisy labels);
``"complementary"``
    the label names a class the image is *not*.

Either way the model predicts ``logits.argmax(1)``: the loss handles the inversion, not the caller.

Build a loss by name with :func:`make_loss` (:data:`LOSSES` lists the names). Pick an epoch with
:meth:`NoisyLoss.validation_score` or :func:`validation_score` (:data:`CRITERIA` lists the
criteria): they read only the given labels, never clean ones.

Transition matrices have one meaning everywhere: ``T[i, j] = P(given = j | true = i)``; rows are
true classes, columns given labels, and rows sum to 1.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from noisylab.errors import NoisylabError

__all__ = [
    "CRITERIA",
    "LOSSES",
    "ComplementaryForward",
    "CrossEntropy",
    "Criterion",
    "ForwardCorrection",
    "GeneralizedCrossEntropy",
    "LossSpec",
    "NoisyLoss",
    "PSEUDO_LABEL_VIEWS",
    "PairwiseComparison",
    "SCLExp",
    "SCLNegLog",
    "UnbiasedRiskGA",
    "ValidationScore",
    "load_transition",
    "make_loss",
    "takes_transition",
    "uniform_complementary_transition",
    "validation_score",
]

MatrixLike = torch.Tensor | np.ndarray | Sequence[Sequence[float]]
TransitionSource = MatrixLike | str | os.PathLike

#: How far a row of a transition matrix (or a prior) may sum from 1: JSON written with rounded
#: floats must still load, a matrix that is not a distribution must not.
ROW_SUM_TOL = 1e-3


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_num_classes(num_classes: object) -> int:
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 2
    ):
        raise NoisylabError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return int(num_classes)


def _check_batch(
    logits: torch.Tensor, labels: torch.Tensor, num_classes: int, who: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a batch and return it ready for the math: float logits, int64 labels."""
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] != num_classes:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise NoisylabError(f"{who}: logits must have shape (B, {num_classes}), got {shape}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != len(logits):
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise NoisylabError(
            f"{who}: labels must have shape ({len(logits)},) to match the logits, got {shape}"
        )
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise NoisylabError(
            f"{who}: labels must be integer class indices, got dtype {labels.dtype}"
        )
    if len(labels) == 0:
        raise NoisylabError(f"{who}: the batch is empty; a mean loss needs at least one sample")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise NoisylabError(
            f"{who}: labels must lie in [0, {num_classes - 1}], found {labels[bad][0].item()}"
        )
    if not logits.dtype.is_floating_point:
        raise NoisylabError(f"{who}: logits must be floating point, got dtype {logits.dtype}")
    # Half precision underflows in the log-probabilities that every loss here is built on.
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits, labels.long()


def _as_float64(value: MatrixLike, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NoisylabError(f"{what} must be numbers in a rectangular array ({exc})") from None


# --------------------------------------------------------------------------------------------
# Transition matrices
# --------------------------------------------------------------------------------------------


def uniform_complementary_transition(num_classes: int) -> torch.Tensor:
    """The transition matrix of uniform complementary labels.

    Parameters
    ----------
    num_classes : int
        ``K``, at least 2.

    Returns
    -------
    torch.Tensor
        ``(K, K)`` float64, ``Q[i, j] = P(complementary = j | true = i) = 1 / (K - 1)`` for
        ``j != i`` and 0 on the diagonal.
    """
    k = _check_num_classes(num_classes)
    return (torch.ones(k, k, dtype=torch.float64) - torch.eye(k, dtype=torch.float64)) / (k - 1)


def _read_transition_json(path: Path) -> tuple[object, object]:
    if path.is_dir():
        path = path / "transition.json"
    if not path.is_file():
        raise NoisylabError(
            f"transition matrix file not found: {path} (expected an audit's transition.json)"
        )
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise NoisylabError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NoisylabError(f"cannot read {path}: {exc}") from None
    if not isinstance(content, dict) or "matrix" not in content:
        raise NoisylabError(
            f'{path} has no "matrix": expected {{"classes": [...], "matrix": [[...], ...]}}'
        )
    return content["matrix"], content.get("classes")


def load_transition(source: TransitionSource, *, num_classes: int | None = None) -> torch.Tensor:
    """Read and check a transition matrix ``T[i, j] = P(given = j | true = i)``.

    Parameters
    ----------
    source : torch.Tensor, numpy.ndarray, nested list, str or os.PathLike
        The ``(K, K)`` matrix itself, or the path of an audit's ``transition.json`` (or of the
        folder holding it), whose content is ``{"classes": [...], "matrix": [[...], ...]}``.
    num_classes : int, optional
        ``K`` the matrix must have; by default any square size is accepted.

    Returns
    -------
    torch.Tensor
        ``(K, K)`` float64 on the CPU, rows renormalised to sum to exactly 1.

    Raises
    ------
    NoisylabError
        When the file is missing or unreadable, or the matrix is not square, has the wrong size,
        holds a non-finite or negative entry, or has a row whose sum is more than
        ``ROW_SUM_TOL`` away from 1.
    """
    classes = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        raw, classes = _read_transition_json(path)
        what = f"the transition matrix in {path}"
    else:
        raw, what = source, "the transition matrix"
    t = _as_float64(raw, what)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 2:
        raise NoisylabError(f"{what} must be square (K, K) with K >= 2, got shape {t.shape}")
    k = t.shape[0]
    if num_classes is not None and k != num_classes:
        raise NoisylabError(f"{what} is {k}x{k} but the model has {num_classes} classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) != k):
        n = len(classes) if isinstance(classes, list) else type(classes).__name__
        raise NoisylabError(f'{what} is {k}x{k} but "classes" lists {n} names')
    if not np.isfinite(t).all():
        i, j = np.argwhere(~np.isfinite(t))[0]
        raise NoisylabError(f"{what} has a non-finite entry at [{i}, {j}]: {t[i, j]}")
    if (t < 0).any():
        i, j = np.argwhere(t < 0)[0]
        raise NoisylabError(f"{what} has a negative entry at [{i}, {j}]: {t[i, j]:g}")
    sums = t.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        i = int(np.argmax(off))
        raise NoisylabError(
            f"{what}: row {i} sums to {sums[i]:.6g}, not 1 (rows are true classes and must be "
            f"distributions over given labels, within {ROW_SUM_TOL:g})"
        )
    return torch.from_numpy(t / sums[:, None])


def _check_prior(prior: object, num_classes: int) -> torch.Tensor:
    p = _as_float64(prior, "prior")
    if p.shape != (num_classes,):
        raise NoisylabError(f"prior must have shape ({num_classes},), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise NoisylabError("prior must hold finite non-negative class frequencies")
    if abs(p.sum() - 1.0) > ROW_SUM_TOL:
        raise NoisylabError(f"prior must sum to 1, sums to {p.sum():.6g}")
    return torch.from_numpy(p / p.sum())


# --------------------------------------------------------------------------------------------
# Shared math (per-sample, shape (B,))
# --------------------------------------------------------------------------------------------


def _forward_log_likelihood(
    logits: torch.Tensor, labels: torch.Tensor, transition: torch.Tensor
) -> torch.Tensor:
    """``log (softmax(logits) @ T)[b, labels[b]]``, shape ``(B,)``.

    Computed as a log-sum-exp over true classes instead of clamping ``p @ T`` before the log:
    it never underflows, and with ``T = I`` it is exactly the log-softmax, so forward correction
    equals cross-entropy even at logits of +-100 where a clamp would saturate.
    """
    log_p = F.log_softmax(logits, dim=1)
    log_cols = transition.to(log_p.dtype).log().t()[labels]  # row b: log T[:, labels[b]]
    return torch.logsumexp(log_p + log_cols, dim=1)


def _log_one_minus_p(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log(1 - softmax(logits)[b, labels[b]])``, shape ``(B,)``.

    Written as log-sum-exp over the other classes minus log-sum-exp over all, because
    ``1 - p`` cancels to 0 (and its log to -inf) once ``p`` rounds to 1.
    """
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return torch.logsumexp(others, dim=1) - torch.logsumexp(logits, dim=1)


def _ure_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Ishida et al. (2019), Theorem 1 with cross-entropy, per sample, shape ``(B,)``.

    ``-(K - 1) * ce(f(x), cbar) + sum_j ce(f(x), j)``: under uniform complementary labels its
    expectation is the ordinary cross-entropy risk.
    """
    k = logits.shape[1]
    neglog = -F.log_softmax(logits, dim=1)
    return neglog.sum(dim=1) - (k - 1) * neglog.gather(1, labels[:, None]).squeeze(1)


# --------------------------------------------------------------------------------------------
# Validation criteria
# --------------------------------------------------------------------------------------------


class ValidationScore(NamedTuple):
    """A validation criterion's value, which way is better, and its standard error.

    ``value`` is a mean of per-sample terms over the validation split and ``se`` the standard
    error of that mean (``std / sqrt(N)``; 0 when unknown), the resolution of the split.
    """

    value: float
    mode: Literal["min", "max"]
    se: float = 0.0

    def improves_on(self, best: ValidationScore | None) -> bool:
        """Whether this score is strictly better than ``best`` (always, when ``best`` is None).

        A NaN value never improves on anything.
        """
        if best is None:
            return self.value == self.value  # False only for NaN
        if best.mode != self.mode:
            raise NoisylabError(f"cannot compare a '{self.mode}' score with a '{best.mode}' one")
        return self.value < best.value if self.mode == "min" else self.value > best.value

    def within_one_se_of(self, best: ValidationScore | None) -> bool:
        """Whether this score is no worse than ``best`` by more than ``best``'s standard error.

        The one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman, *The
        Elements of Statistical Learning*, 7.10): a later epoch this close to the best is as
        good as the split can tell, and is kept. NaN never is.
        """
        if best is None or self.value != self.value:
            return self.improves_on(best)
        if best.mode != self.mode:
            raise NoisylabError(f"cannot compare a '{self.mode}' score with a '{best.mode}' one")
        if self.mode == "min":
            return self.value <= best.value + best.se
        return self.value >= best.value - best.se


class Criterion(NamedTuple):
    """One way to score a model on a validation split that has only given labels."""

    mode: Literal["min", "max"]
    #: "ordinary" or "complementary": the kind of labels it reads; "transition": any loss that
    #: carries a transition matrix (``forward``, ``fwd``).
    fits: str
    description: str
    #: Per-sample terms ``(N,)``; the criterion is their mean.
    fn: Callable[[NoisyLoss, torch.Tensor, torch.Tensor], torch.Tensor]


def _noisy_accuracy(loss: NoisyLoss, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == labels).double()


def _forward_nll(loss: NoisyLoss, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    loss._check_possible(labels)
    return -_forward_log_likelihood(logits, labels, loss.transition)


def _complementary_nll(loss: NoisyLoss, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return -_log_one_minus_p(logits, labels)


def _ure_accuracy(loss: NoisyLoss, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # Theorem 1 with the 0-1 loss: sum_j 1[pred != j] = K - 1 for every x, so the unbiased error
    # estimate collapses to (K - 1) * P(pred = complementary label).
    k = logits.shape[1]
    return 1.0 - (k - 1) * (logits.argmax(dim=1) == labels).double()


def _ure_ce_criterion(loss: NoisyLoss, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return _ure_ce(logits, labels)


#: Validation criteria by name. None reads clean labels.
CRITERIA: dict[str, Criterion] = {
    "noisy-accuracy": Criterion(
        "max",
        "ordinary",
        "accuracy against the given (noisy) labels; in expectation an increasing function of "
        "clean accuracy under symmetric noise below (K - 1) / K, a proxy for other noise",
        _noisy_accuracy,
    ),
    "forward-nll": Criterion(
        "min",
        "transition",
        "mean -log (softmax(logits) @ T)[given]: a proper score for the given labels, so its "
        "population minimiser is the clean posterior whenever T is invertible",
        _forward_nll,
    ),
    "complementary-nll": Criterion(
        "min",
        "complementary",
        "mean -log(1 - p[complementary]): forward-NLL under uniform complementary labels, "
        "minus log(K - 1)",
        _complementary_nll,
    ),
    "ure-accuracy": Criterion(
        "max",
        "complementary",
        "1 - (K - 1) * P(prediction = complementary label): an unbiased estimate of clean "
        "accuracy under uniform complementary labels (Ishida et al. 2019, Theorem 1, 0-1 loss)",
        _ure_accuracy,
    ),
    "ure-ce": Criterion(
        "min",
        "complementary",
        "the unbiased estimate of the clean cross-entropy risk under uniform complementary "
        "labels (Ishida et al. 2019, Theorem 1)",
        _ure_ce_criterion,
    ),
}


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------


class NoisyLoss(nn.Module):
    """Base class: a mean loss over ``(logits, given labels)`` that knows what its labels mean.

    Parameters
    ----------
    num_classes : int
        ``K``, the number of true classes (columns of the logits), at least 2.

    Attributes
    ----------
    name : str
        The loss's name in :data:`LOSSES`.
    kind : {"ordinary", "complementary"}
        What the given labels mean: the (possibly wrong) class, or a class the image is not.
    criterion : str
        The default validation criterion, a key of :data:`CRITERIA`.
    """

    name: str = ""
    kind: Literal["ordinary", "complementary"] = "ordinary"
    criterion: str = "noisy-accuracy"

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = _check_num_classes(num_classes)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mean loss.

        Parameters
        ----------
        logits : torch.Tensor
            ``(B, K)`` scores for the true classes.
        labels : torch.Tensor
            ``(B,)`` integer given labels in ``[0, K)``, read according to :attr:`kind`.

        Returns
        -------
        torch.Tensor
            A scalar, differentiable with respect to ``logits``.
        """
        logits, labels = _check_batch(logits, labels, self.num_classes, self._who)
        return self._loss(logits, labels)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def _who(self) -> str:
        return f"loss '{self.name}'"

    def criteria(self) -> list[str]:
        """The names of the :data:`CRITERIA` that are valid for this loss's labels."""
        has_t = isinstance(self, ForwardCorrection)
        return [
            n
            for n, c in CRITERIA.items()
            if c.fits == self.kind or (c.fits == "transition" and has_t)
        ]

    @torch.no_grad()
    def validation_score(
        self,
        logits: torch.Tensor,
        given_labels: torch.Tensor,
        *,
        criterion: str | None = None,
    ) -> ValidationScore:
        """Score predictions on a validation split that has only given labels.

        Use it to choose the best epoch without clean labels: the criteria are consistent for
        the noise this loss assumes (see :data:`CRITERIA`).

        Parameters
        ----------
        logits : torch.Tensor
            ``(N, K)`` scores for the true classes over the whole validation split.
        given_labels : torch.Tensor
            ``(N,)`` given labels of the same kind as the training labels.
        criterion : str, optional
            A key of :data:`CRITERIA` valid for this loss (see :meth:`criteria`); default
            :attr:`criterion`.

        Returns
        -------
        ValidationScore
            ``(value, mode, se)``; ``mode`` is ``"min"`` or ``"max"``, saying which way is better;
            ``se`` the standard error of ``value``.
        """
        name = self.criterion if criterion is None else criterion
        valid = self.criteria()
        if name not in CRITERIA:
            raise NoisylabError(
                f"unknown validation criterion {name!r}; known: {', '.join(CRITERIA)}"
            )
        if name not in valid:
            raise NoisylabError(
                f"criterion {name!r} does not fit loss '{self.name}' ({self.kind} labels); "
                f"use one of: {', '.join(valid)}"
            )
        logits, given_labels = _check_batch(logits, given_labels, self.num_classes, self._who)
        c = CRITERIA[name]
        terms = c.fn(self, logits, given_labels).double()
        se = float(terms.std() / len(terms) ** 0.5) if len(terms) > 1 else 0.0
        return ValidationScore(float(terms.mean()), c.mode, se)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"


class CrossEntropy(NoisyLoss):
    """Cross-entropy on the given labels: the naive baseline.

    Assumes the given labels are the true ones. Under noisy labels it fits the noise; trained on
    complementary labels it learns to predict the complement, far below chance on the true class.

    Parameters
    ----------
    num_classes : int
        ``K``.

    References
    ----------
    .. [1] The standard multinomial negative log-likelihood; e.g. C. M. Bishop, "Pattern
       Recognition and Machine Learning", Springer, 2006, section 4.3.4.
    """

    name = "ce"
    kind = "ordinary"
    criterion = "noisy-accuracy"

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels)


class GeneralizedCrossEntropy(NoisyLoss):
    """Generalized cross-entropy, ``(1 - p_y ** q) / q``.

    Interpolates between cross-entropy (``q -> 0``) and the noise-tolerant but slow-to-train MAE
    (``q = 1``). Assumes nothing about the noise beyond it being a minority of labels; it needs
    no transition matrix.

    Parameters
    ----------
    num_classes : int
        ``K``.
    q : float, default 0.7
        In ``(0, 1]``; larger is more robust to noise and slower to fit.

    References
    ----------
    .. [1] Z. Zhang, M. R. Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
       Networks with Noisy Labels", NeurIPS 2018.
    """

    name = "gce"
    kind = "ordinary"
    criterion = "noisy-accuracy"

    def __init__(self, num_classes: int, *, q: float = 0.7):
        super().__init__(num_classes)
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 < q <= 1.0:
            raise NoisylabError(f"gce: q must be a number in (0, 1], got {q!r}")
        self.q = float(q)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        # p ** q as exp(q log p): stays finite and differentiable when p underflows to 0.
        return ((1.0 - torch.exp(self.q * log_p)) / self.q).mean()

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, q={self.q}"


class ForwardCorrection(NoisyLoss):
    """Forward loss correction: NLL of the given labels under ``softmax(logits) @ T``.

    Assumes class-conditional noise with a known transition matrix
    ``T[i, j] = P(given = j | true = i)`` (rows true classes, rows sum to 1), e.g. the one an
    audit estimated. The model's softmax then estimates the clean posterior.

    Parameters
    ----------
    num_classes : int
        ``K``.
    transition : tensor, ndarray, nested list, str or os.PathLike
        The ``(K, K)`` matrix, or the path of an audit's ``transition.json``; checked by
        :func:`load_transition`.

    Attributes
    ----------
    transition : torch.Tensor
        ``(K, K)`` buffer, rows summing to 1.
    log_transition : torch.Tensor
        ``(K, K)``, ``log(transition)`` (``-inf`` where a transition is impossible).

    References
    ----------
    .. [1] G. Patrini, A. Rozza, A. K. Menon, R. Nock, L. Qu, "Making Deep Neural Networks
       Robust to Label Noise: a Loss Correction Approach", CVPR 2017.
    """

    name = "forward"
    kind = "ordinary"
    criterion = "forward-nll"

    def __init__(self, num_classes: int, *, transition: TransitionSource):
        super().__init__(num_classes)
        t = load_transition(transition, num_classes=self.num_classes)
        self.register_buffer("transition", t.float())
        # A label whose column is all zero cannot be given; meeting one is a mismatch between T
        # and the data, and its likelihood would be log 0.
        self._impossible = [int(j) for j in torch.nonzero(t.sum(0) == 0).flatten()]

    def _check_possible(self, labels: torch.Tensor) -> None:
        if self._impossible:
            hit = torch.isin(labels, torch.tensor(self._impossible, device=labels.device))
            if hit.any():
                j = labels[hit][0].item()
                raise NoisylabError(
                    f"{self._who}: label {j} occurs in the batch but column {j} of the "
                    "transition matrix is all zero (T says it can never be given)"
                )

    @property
    def log_transition(self) -> torch.Tensor:
        return self.transition.log()

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check_possible(labels)
        return -_forward_log_likelihood(logits, labels, self.transition).mean()


class ComplementaryForward(ForwardCorrection):
    """Forward correction for complementary labels ("fwd").

    ``-log (softmax(logits) @ Q)[cbar]`` with ``Q[i, j] = P(complementary = j | true = i)``.
    By default ``Q`` is uniform (``1 / (K - 1)`` off the diagonal), where the loss is
    ``-log((1 - p_cbar) / (K - 1))``, i.e. SCL-NL plus ``log(K - 1)``. Pass ``transition`` for
    biased complementary labels. Shares :class:`ForwardCorrection`'s code: only ``T`` differs.

    Parameters
    ----------
    num_classes : int
        ``K``.
    transition : tensor, ndarray, nested list, str or os.PathLike, optional
        The ``(K, K)`` complementary transition matrix; default
        :func:`uniform_complementary_transition`.

    References
    ----------
    .. [1] X. Yu, T. Liu, M. Gong, D. Tao, "Learning with Biased Complementary Labels",
       ECCV 2018.
    """

    name = "fwd"
    kind = "complementary"
    criterion = "forward-nll"

    def __init__(self, num_classes: int, *, transition: TransitionSource | None = None):
        if transition is None:
            transition = uniform_complementary_transition(_check_num_classes(num_classes))
        super().__init__(num_classes, transition=transition)


class SCLNegLog(NoisyLoss):
    """Surrogate complementary loss with negative log, ``-log(1 - p_cbar)`` ("scl-nl").

    Pushes the probability of the complementary label down. Assumes uniform complementary labels
    for consistency: it is then forward correction with the uniform ``Q``, up to the constant
    ``log(K - 1)``, so its population minimiser is the clean posterior. Trades the unbiasedness
    of URE for much lower gradient variance.

    Parameters
    ----------
    num_classes : int
        ``K``.

    References
    ----------
    .. [1] Y.-T. Chou, G. Niu, H.-T. Lin, M. Sugiyama, "Unbiased Risk Estimators Can Mislead:
       A Case Study of Learning with Complementary Labels", ICML 2020.
    """

    name = "scl-nl"
    kind = "complementary"
    criterion = "complementary-nll"

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return -_log_one_minus_p(logits, labels).mean()


class SCLExp(NoisyLoss):
    """Surrogate complementary loss with exponential, ``exp(p_cbar)`` ("scl-exp").

    A bounded alternative to SCL-NL (values in ``[1, e]``), with the same assumption of uniform
    complementary labels.

    Parameters
    ----------
    num_classes : int
        ``K``.

    References
    ----------
    .. [1] Y.-T. Chou, G. Niu, H.-T. Lin, M. Sugiyama, "Unbiased Risk Estimators Can Mislead:
       A Case Study of Learning with Complementary Labels", ICML 2020.
    """

    name = "scl-exp"
    kind = "complementary"
    criterion = "complementary-nll"

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p_bar = F.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        return torch.exp(p_bar).mean()


class PairwiseComparison(NoisyLoss):
    """Pairwise-comparison loss with the sigmoid surrogate ("pc").

    ``(K - 1) * mean_b sum_{k != cbar} sigmoid(f_cbar - f_k) - K (K - 1) / 2 + (K - 1)``: every
    other class should score above the complementary one. Assumes uniform complementary labels;
    the value is then an unbiased estimate of the ordinary one-versus-all pairwise risk
    ``sum_{k != y} sigmoid(f_k - f_y)``.

    Parameters
    ----------
    num_classes : int
        ``K``.

    Notes
    -----
    The authors' public code also sums the ``k = cbar`` term (``sigmoid(0) = 1/2``), which
    shifts the value by ``(K - 1) / 2`` and leaves the gradient unchanged; this follows the
    paper's formula, without it.

    References
    ----------
    .. [1] T. Ishida, G. Niu, W. Hu, M. Sugiyama, "Learning from Complementary Labels",
       NeurIPS 2017.
    """

    name = "pc"
    kind = "complementary"
    criterion = "complementary-nll"

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        k = self.num_classes
        f_bar = logits.gather(1, labels[:, None])
        # The k = cbar entry is sigmoid(0) = 0.5 exactly and carries no gradient: subtract it.
        pairs = torch.sigmoid(f_bar - logits).sum(dim=1) - 0.5
        return (k - 1) * pairs.mean() - k * (k - 1) / 2 + (k - 1)


class UnbiasedRiskGA(NoisyLoss):
    """Unbiased risk estimator with the gradient-ascent correction ("ure-ga").

    Theorem 1 of the paper rewrites the ordinary cross-entropy risk as a sum over classes
    ``j`` of partial risks (one per true class)::

        R_j = sum_k pbar_k mean_{cbar = k}[ce(f(x), j)] - (K - 1) pbar_j mean_{cbar = j}[ce(f(x), j)]

    where ``pbar`` is the complementary class prior. Their sum is unbiased, but a flexible model
    drives some ``R_j`` below zero, which no true risk can be (overfitting). Algorithm 1 (with
    ``beta``): when every ``R_j >= -beta``, descend on ``sum_j R_j``; otherwise take a gradient
    *ascent* step on ``sum_j min(-beta, R_j)``, which pushes only the negative partial risks back
    up.

    The returned scalar's *value* is the unbiased estimate ``sum_j R_j`` (worth logging: a
    negative value shows overfitting); its *gradient* is the step Algorithm 1 takes, so an
    ordinary ``loss.backward(); optimizer.step()`` performs the ascent where it must.

    Assumes uniform complementary labels, ``P(cbar = j | y = i) = 1 / (K - 1)`` for ``j != i``.

    Parameters
    ----------
    num_classes : int
        ``K``.
    prior : "uniform", "batch" or array of shape (K,), default "uniform"
        ``pbar``. A fixed prior, as in the authors' code (which passes the training set's
        complementary label frequencies: pass those for unbalanced classes; ``"uniform"`` is
        ``1 / K``, right for balanced ones), estimates each class's term from its own samples
        and so removes the batch-to-batch noise of class counts; classes absent from a batch
        are skipped. ``"batch"`` uses each batch's own frequencies, which makes ``sum_j R_j``
        exactly the mean of Theorem 1's per-sample estimator, but in this module's sanity
        training it was far less stable.
    beta : float, default 0.0
        The threshold ``beta >= 0`` below which a partial risk triggers ascent; the authors'
        code uses 0.

    Notes
    -----
    The authors' demo multiplies each ``R_j`` by its batch count before the ``min`` of the ascent
    step, and one version of its ``non_negative_loss`` weights by ``pbar_j`` where expanding
    Theorem 1 gives ``pbar_k``; both agree with the paper only for balanced complementary labels.
    This follows the paper.

    References
    ----------
    .. [1] T. Ishida, G. Niu, A. K. Menon, M. Sugiyama, "Complementary-Label Learning for
       Arbitrary Losses and Models", ICML 2019.
    """

    name = "ure-ga"
    kind = "complementary"
    criterion = "complementary-nll"

    def __init__(
        self,
        num_classes: int,
        *,
        prior: Literal["uniform", "batch"] | MatrixLike = "uniform",
        beta: float = 0.0,
    ):
        super().__init__(num_classes)
        k = self.num_classes
        if isinstance(prior, str):
            if prior not in ("uniform", "batch"):
                raise NoisylabError(
                    f"ure-ga: prior must be 'uniform', 'batch' or an array of {k} class "
                    f"frequencies, got {prior!r}"
                )
            self.prior_mode = prior
            fixed = torch.full((k,), 1.0 / k, dtype=torch.float64)
        else:
            self.prior_mode = "fixed"
            fixed = _check_prior(prior, k)
        self.register_buffer("prior", fixed.float())
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise NoisylabError(f"ure-ga: beta must be a number >= 0, got {beta!r}")
        self.beta = float(beta)

    def partial_risks(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The per-class partial risks ``R_j`` before any correction.

        Parameters
        ----------
        logits : torch.Tensor
            ``(B, K)`` scores for the true classes.
        labels : torch.Tensor
            ``(B,)`` complementary labels.

        Returns
        -------
        torch.Tensor
            ``(K,)``, differentiable; their sum is the unbiased estimate of the CE risk.
        """
        logits, labels = _check_batch(logits, labels, self.num_classes, self._who)
        return self._partial_risks(logits, labels)

    def _partial_risks(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        k = self.num_classes
        neglog = -F.log_softmax(logits, dim=1)  # (B, K)
        sums = torch.zeros(k, k, dtype=neglog.dtype, device=neglog.device)
        sums = sums.index_add(0, labels, neglog)  # row c: sum of ce vectors over cbar = c
        counts = torch.bincount(labels, minlength=k).to(neglog.dtype)
        means = sums / counts.clamp(min=1)[:, None]  # row c: mean_{cbar = c} ce(f(x), .)
        if self.prior_mode == "batch":
            weights = counts / counts.sum()
        else:
            weights = self.prior.to(neglog.dtype) * (counts > 0)
        return weights @ means - (k - 1) * weights * means.diagonal()

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        risks = self._partial_risks(logits, labels)
        total = risks.sum()
        # torch.where, not a Python `if`: the branch is chosen on the device, without one more
        # device-to-host copy per step.
        ascend = (risks.detach() < -self.beta).any()
        ascent = -torch.clamp(risks, max=-self.beta).sum()  # descending this ascends on R_j < -beta
        step = torch.where(ascend, ascent, total)
        return total.detach() + (step - step.detach())

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, prior={self.prior_mode!r}, beta={self.beta}"


def allowed_probabilities(logits: torch.Tensor, given: torch.Tensor, kind: str) -> torch.Tensor:
    """The model's class probabilities renormalised over the classes each given label allows.

    Parameters
    ----------
    logits : Tensor of shape ``(N, K)``
    given : Tensor of shape ``(N,)``
        Given labels.
    kind : {"ordinary", "complementary"}
        How they are read: a complementary label allows every class but itself; an ordinary
        (possibly noisy) one allows every class.

    Returns
    -------
    Tensor of shape ``(N, K)``
        Rows sum to 1; the given class's entry is 0 for complementary labels.
    """
    p = logits.softmax(1)
    if kind == "complementary":
        p = p.scatter(1, given[:, None], 0.0)
    return p / p.sum(1, keepdim=True).clamp_min(1e-12)


PSEUDO_LABEL_VIEWS = ("augmented", "clean")
"""What `PseudoLabel` can take its targets from."""


def check_pseudo_label_view(view: str) -> str:
    """``view`` if it is one of `PSEUDO_LABEL_VIEWS`; else a `NoisylabError` naming them."""
    if view not in PSEUDO_LABEL_VIEWS:
        raise NoisylabError(f"unknown pseudo-label view {view!r}; known: "
                            f"{', '.join(PSEUDO_LABEL_VIEWS)}")
    return view


class PseudoLabel(NoisyLoss):
    """Self-training on top of any loss: confident predictions become extra hard targets.

    ``loss = base(logits, labels) + weight * mean_i [conf_i >= threshold] CE(logits_i, t_i)``
    where ``t_i`` is the most probable class the given label allows (for complementary labels,
    any class but the given one; for ordinary labels, any class) and ``conf_i`` its probability
    renormalised over the allowed classes. Targets are detached. Once the base loss has
    separated the classes, this sharpens the clusters (entropy minimisation), which is where
    learning from complementary labels is otherwise slow: a sample whose complementary class is
    already improbable no longer contributes any gradient to the base loss.

    Parameters
    ----------
    base : NoisyLoss
        The loss the labels are really read with; its kind and validation criterion are kept.
    weight : float
        Weight of the pseudo-label term.
    threshold : float
        Confidence a prediction needs before it is used as a target.
    view : {"augmented", "clean"}
        Which view of the batch makes the targets: the augmented one the loss is computed on,
        or the un-augmented images (FixMatch's weak-to-strong consistency [2]_: the target
        comes from an easier view, so the model must also be sure under augmentation). With
        ``"clean"`` the training loop passes those logits as ``target_logits``
        (:attr:`needs_clean_view`).

    References
    ----------
    .. [1] D.-H. Lee, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method
       for Deep Neural Networks", ICML Workshop on Challenges in Representation Learning, 2013.
    .. [2] K. Sohn et al., "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
       Confidence", NeurIPS 2020.
    """

    def __init__(self, base: NoisyLoss, *, weight: float = 1.0, threshold: float = 0.95,
                 view: str = "augmented"):
        super().__init__(base.num_classes)
        if not weight >= 0 or not 0 < threshold <= 1:
            raise NoisylabError(f"pseudo-label weight must be >= 0 and threshold in (0, 1], got "
                                f"{weight} and {threshold}")
        self.base, self.weight, self.threshold = base, float(weight), float(threshold)
        self.view = check_pseudo_label_view(view)
        self.name, self.kind, self.criterion = base.name, base.kind, base.criterion

    @property
    def needs_clean_view(self) -> bool:
        """Whether the loss wants the un-augmented batch's logits as ``target_logits``."""
        return self.view == "clean"

    def forward(self, logits: torch.Tensor, labels: torch.Tensor,
                target_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The mean loss; ``target_logits`` ``(B, K)``, if given, make the pseudo-labels."""
        logits, labels = _check_batch(logits, labels, self.num_classes, self._who)
        if target_logits is not None and target_logits.shape != logits.shape:
            raise NoisylabError(f"{self._who}: target logits of shape "
                                f"{tuple(target_logits.shape)} for logits of {tuple(logits.shape)}")
        return self._loss(logits, labels, target_logits)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor,
              target_logits: torch.Tensor | None = None) -> torch.Tensor:
        loss = self.base._loss(logits, labels)
        with torch.no_grad():
            source = logits if target_logits is None else target_logits
            top, target = allowed_probabilities(source, labels, self.kind).max(1)
            confident = top >= self.threshold
        if confident.any():
            pseudo = F.cross_entropy(logits[confident], target[confident], reduction="sum")
            loss = loss + self.weight * pseudo / len(labels)
        return loss

    def criteria(self) -> list[str]:
        return self.base.criteria()

    def validation_score(self, logits, given_labels, *, criterion=None) -> ValidationScore:
        return self.base.validation_score(logits, given_labels, criterion=criterion)

    def extra_repr(self) -> str:
        return (f"base={self.base.name}, weight={self.weight}, threshold={self.threshold}, "
                f"view={self.view}")


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


class LossSpec(NamedTuple):
    """A registry entry: the class that builds the loss and what it is for, in one line."""

    factory: type[NoisyLoss]
    description: str


#: Losses by name. ``LOSSES[name].factory.kind`` says how the given labels are read.
LOSSES: dict[str, LossSpec] = {
    "ce": LossSpec(CrossEntropy, "cross-entropy on the given labels (the naive baseline)"),
    "gce": LossSpec(
        GeneralizedCrossEntropy, "generalized cross-entropy, robust to noisy labels (q=0.7)"
    ),
    "forward": LossSpec(
        ForwardCorrection, "forward correction for noisy labels with a transition matrix T"
    ),
    "scl-nl": LossSpec(SCLNegLog, "complementary labels: -log(1 - p[cbar]) (Chou et al. 2020)"),
    "scl-exp": LossSpec(SCLExp, "complementary labels: exp(p[cbar]) (Chou et al. 2020)"),
    "fwd": LossSpec(
        ComplementaryForward, "complementary labels: forward correction, uniform Q by default"
    ),
    "ure-ga": LossSpec(
        UnbiasedRiskGA, "complementary labels: unbiased risk estimator with gradient ascent"
    ),
    "pc": LossSpec(PairwiseComparison, "complementary labels: pairwise comparison, sigmoid"),
}


def _options(cls: type[NoisyLoss]) -> dict[str, inspect.Parameter]:
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def takes_transition(name: str) -> bool:
    """Whether the loss ``name`` (a key of :data:`LOSSES`) trains with a transition matrix
    (``forward``, and ``fwd`` for complementary labels)."""
    return name in LOSSES and "transition" in _options(LOSSES[name].factory)


def make_loss(
    name: str,
    *,
    num_classes: int,
    transition: TransitionSource | None = None,
    **opts: object,
) -> NoisyLoss:
    """Build a loss by name.

    Parameters
    ----------
    name : str
        A key of :data:`LOSSES`.
    num_classes : int
        ``K``, the number of true classes.
    transition : tensor, ndarray, nested list, str or os.PathLike, optional
        ``(K, K)`` matrix ``T[i, j] = P(given = j | true = i)`` or the path of an audit's
        ``transition.json``. Required by ``forward``; optional for ``fwd`` (uniform by default);
        refused by the others.
    **opts
        The loss's own keyword options (``gce``: ``q``; ``ure-ga``: ``prior``, ``beta``).

    Returns
    -------
    NoisyLoss
        An ``nn.Module``; move it to the model's device with ``.to(device)``.
    """
    if not isinstance(name, str) or name not in LOSSES:
        raise NoisylabError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    cls = LOSSES[name].factory
    accepted = _options(cls)
    if transition is not None:
        if "transition" not in accepted:
            takers = [n for n in LOSSES if takes_transition(n)]
            raise NoisylabError(
                f"loss {name!r} takes no transition matrix; only {', '.join(takers)} do"
            )
        opts["transition"] = transition
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        takes = ", ".join(n for n in accepted if n != "transition") or "no options"
        raise NoisylabError(
            f"loss {name!r} does not take option(s) {', '.join(unknown)}; it takes: {takes}"
        )
    for opt, p in accepted.items():
        if p.default is inspect.Parameter.empty and opt not in opts:
            raise NoisylabError(
                f"loss {name!r} needs {opt}=: a (K, K) matrix T[i, j] = P(given = j | true = i) "
                "or the path of an audit's transition.json"
            )
    return cls(num_classes, **opts)


def validation_score(
    loss: str | NoisyLoss,
    logits: torch.Tensor,
    given_labels: torch.Tensor,
    *,
    criterion: str | None = None,
    transition: TransitionSource | None = None,
    **opts: object,
) -> ValidationScore:
    """Score predictions for epoch selection, without clean labels.

    Parameters
    ----------
    loss : str or NoisyLoss
        The training loss, or its name (then built with :func:`make_loss`, ``K`` taken from
        ``logits``, ``transition`` and ``**opts`` passed on).
    logits : torch.Tensor
        ``(N, K)`` scores for the true classes on the validation split.
    given_labels : torch.Tensor
        ``(N,)`` given labels, of the loss's :attr:`~NoisyLoss.kind`.
    criterion : str, optional
        A key of :data:`CRITERIA`; default the loss's own.

    Returns
    -------
    ValidationScore
        ``(value, mode, se)`` with ``mode`` ``"min"`` or ``"max"`` and ``se`` its standard error.
    """
    if isinstance(loss, str):
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            raise NoisylabError("validation_score: logits must be a (N, K) tensor")
        loss = make_loss(loss, num_classes=logits.shape[1], transition=transition, **opts)
    elif transition is not None or opts:
        raise NoisylabError(
            "validation_score: transition and options apply only when the loss is given by name"
        )
    return loss.validation_score(logits, given_labels, criterion=criterion)
