"""A scikit-learn-style estimator bundling the transition estimate, diagnosis and label issues."""

from __future__ import annotations

import inspect

import numpy as np

from noisylab.errors import NoisylabError
from noisylab.noise._validation import check_alpha, check_labels, check_option, check_probs
from noisylab.noise.diagnosis import (
    Diagnosis,
    estimate_and_diagnose,
    posterior_under,
    reading_posterior,
    with_verified,
)
from noisylab.noise.issues import LabelIssues, label_issues_from_posterior
from noisylab.noise.transition import (
    REGIMES,
    TransitionEstimate,
    _true_probs_family,
)

__all__ = ["NoiseEstimator"]


class NoiseEstimator:
    """Learn how labels are wrong from out-of-sample predicted probabilities.

    Follows scikit-learn's conventions: the constructor only stores options, :meth:`fit`
    returns ``self``, learned attributes end in ``_``, and :meth:`get_params` /
    :meth:`set_params` work (so ``sklearn.base.clone`` does too).

    Parameters
    ----------
    regime : {"auto", "dominant", "complementary"}, default "auto"
        How the predictions are clustered into true classes (see
        :func:`noisylab.noise.estimate_transition`).
    refine : bool, default True
        EM refinement of the first-pass counts.
    alpha : float, default 0.001
        Significance level of the independence test below which the estimate is not refined.
    bootstrap : int, default 0
        Bootstrap replicates for intervals and the bagged probability of the kind.
    seed : int, default 0
        Seed of the bootstrap.
    max_iter : int, default 200
        EM iterations.
    tol : float, default 1e-7
        EM convergence tolerance on the entries of ``T``.

    Attributes
    ----------
    n_classes_ : int
        K.
    transition_matrix_ : np.ndarray, shape ``(K, K)``
        ``T[i, j] = P(given = j | true = i)`` of the selected reading.
    class_prior_ : np.ndarray, shape ``(K,)``
        Estimated ``P(true = i)``.
    regime_ : str
        The partition used.
    diagnosis_ : Diagnosis
        Kind of noise, its probability, the readings, the recommended loss.
    posterior_ : np.ndarray, shape ``(N, K)``
        ``p(true | x, given)`` under the selected reading.
    suggested_labels_ : np.ndarray of int, shape ``(N,)``
        Most probable true class of each sample under the selected reading.
    label_quality_ : np.ndarray, shape ``(N,)``
        Probability that each given label is right.
    issues_ : LabelIssues
        The per-sample table.
    estimate_ : TransitionEstimate
        The first-pass estimate the ladder was fitted on.

    Examples
    --------
    >>> est = NoiseEstimator().fit(pred_probs, given_labels)          # doctest: +SKIP
    >>> est.diagnosis_.kind, est.transition_matrix_.round(3)          # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        regime: str = "auto",
        refine: bool = True,
        alpha: float = 0.001,
        bootstrap: int = 0,
        seed: int = 0,
        max_iter: int = 200,
        tol: float = 1e-7,
    ) -> None:
        self.regime = regime
        self.refine = refine
        self.alpha = alpha
        self.bootstrap = bootstrap
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol

    # -- scikit-learn parameter protocol -------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor options, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: object) -> NoiseEstimator:
        """Set constructor options; unknown names raise :class:`NoisylabError`."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise NoisylabError(
                    f"NoiseEstimator has no option {name!r}: choose from {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults.get(k)]
        return f"NoiseEstimator({', '.join(changed)})"

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, pred_probs: object, given_labels: object, *,
            reference_probs: object = None) -> NoiseEstimator:
        """Estimate the noise from out-of-sample predictions of the given labels.

        Parameters
        ----------
        pred_probs : array-like, shape ``(N, K)``
            Out-of-sample ``P(given | x)`` from a model trained (cross-fitted) on the given labels.
        given_labels : array-like of int, shape ``(N,)``
            The given labels.
        reference_probs : array-like, shape ``(N, K)``, optional
            ``p(true | x)`` from a trusted reference model; names the classes.

        Returns
        -------
        self
        """
        check_option(self.regime, "regime", REGIMES)
        check_alpha(self.alpha)
        if isinstance(self.bootstrap, bool) or not isinstance(self.bootstrap, int) \
                or self.bootstrap < 0:
            raise NoisylabError(f"bootstrap must be a whole number >= 0, got {self.bootstrap!r}")
        est, diag = estimate_and_diagnose(
            pred_probs, given_labels, reference_probs=reference_probs, regime=self.regime,
            refine=bool(self.refine), alpha=self.alpha, max_iter=self.max_iter, tol=self.tol,
            bootstrap_replicates=self.bootstrap, seed=self.seed)
        self.estimate_: TransitionEstimate = est
        self.n_classes_ = int(est.matrix.shape[0])
        self.regime_ = est.regime
        self._set(diag)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "transition_matrix_"):
            raise NoisylabError(
                "this NoiseEstimator is not fitted yet: call fit(pred_probs, given_labels) first"
            )

    def posterior(self, pred_probs: object, given_labels: object) -> np.ndarray:
        """``p(true | x, given)`` ``(M, K)`` for new samples, with the fitted ``T`` and calibration.

        Parameters
        ----------
        pred_probs : array-like, shape ``(M, K)``
            Out-of-sample ``P(given | x)`` for the new samples.
        given_labels : array-like of int, shape ``(M,)``
            Their given labels.
        """
        self._check_fitted()
        Q = check_probs(pred_probs, "pred_probs", self.n_classes_)
        given = check_labels(given_labels, "given_labels", self.n_classes_, Q.shape[0])
        est = self.estimate_
        P = _true_probs_family(Q, est.matrix, est.class_prior, est.regime)(est.sharpness)
        return posterior_under(P, given, self.diagnosis_.readings[0])

    def apply_verified(self, index: object, labels: object) -> NoiseEstimator:
        """Weigh the open readings by a person's true classes of some samples; returns ``self``.

        Parameters
        ----------
        index : array-like of int ``(M,)``
            Which samples were verified (rows of the ``pred_probs`` given to :meth:`fit`).
        labels : array-like of int ``(M,)``
            Their true classes.
        """
        self._check_fitted()
        idx = check_labels(index, "index", len(self.estimate_.given))
        lab = check_labels(labels, "labels", self.n_classes_, len(idx))
        diag = with_verified(self.diagnosis_, self.estimate_, idx, lab,
                             bootstrap_replicates=self.bootstrap, seed=self.seed)
        self._set(diag)
        return self

    def _set(self, diag: Diagnosis) -> None:
        posterior = reading_posterior(self.estimate_, diag)
        issues = label_issues_from_posterior(posterior, self.estimate_.given)
        self.transition_matrix_ = diag.transition_matrix
        self.class_prior_ = diag.class_prior
        self.diagnosis_: Diagnosis = diag
        self.posterior_ = posterior
        self.issues_: LabelIssues = issues
        self.suggested_labels_ = issues.suggested_label
        self.label_quality_ = issues.label_quality
