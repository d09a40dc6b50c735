"""The two kinds of add-on the core knows: side-input providers and prediction adjusters.

An add-on carries knowledge about one kind of data that the core does not have (what a file
name means, how a collection was made). It plugs into training and evaluation only through
one of these interfaces, and is named in the registry (`noisylab.addons.registry`) so that a
recipe, the command line and an experiment file can ask for it by name.

- A `SideInputProvider` gives each image a few numbers that a model reads beside its pixels.
  It is fitted on the training set; the training images' numbers may differ from what new
  images get (e.g. leave-one-out), and its fitted state is saved in every checkpoint's
  metadata so that evaluating the checkpoint alone makes the same numbers.
- A `PredictionAdjuster` changes a model's class probabilities using what it learnt from the
  training set (e.g. which classes a group of images cannot be). It is fitted after training,
  saved in the run folder, applied at evaluation, and always reported beside the unadjusted
  figure.

This module is torch-free (numpy only).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from noisylab.errors import NoisylabError


class SideInputProvider(ABC):
    """Extra numbers per image that a model reads beside the pixels.

    The features of an image are a row of ``S`` float32 numbers; the **last column is 1 where
    the others are known and 0 where they are not** (the model then ignores them, as for an
    image the provider can say nothing about). A model that reads side inputs (built with
    ``side_inputs=S``, `noisylab.models.build_model`) standardises the known rows by the
    training images' mean and spread.

    Subclasses set `name` and `title` and implement `fit`, `features`, `to_dict` and
    `from_dict`; `training_features` defaults to `features`.

    Attributes
    ----------
    name : str
        The add-on's name in the registry (``--addon NAME``), lower case with dashes.
    title : str
        A few words saying what the numbers are, for logs and reports.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""

    @abstractmethod
    def fit(self, train_set) -> SideInputProvider:
        """Learn what new images' features need from ``train_set`` (a
        `noisylab.data.LabeledImages`); return self.

        Raises
        ------
        NoisylabError
            When the data cannot give these features (one line saying why).
        """

    def training_features(self, train_set) -> np.ndarray:
        """``(N, S)`` float32 features of the training images, in their order.

        By default the same as `features`; a provider whose features are relative to
        statistics of the training set overrides it to leave each image out of its own
        statistics, so that training images look as new images will.
        """
        return self.features(train_set)

    @abstractmethod
    def features(self, dataset) -> np.ndarray:
        """``(M, S)`` float32 features of images not in training (the fitted state only).

        Raises
        ------
        NoisylabError
            When ``dataset`` lacks what the features are made from.
        """

    @abstractmethod
    def to_dict(self) -> dict:
        """The fitted state, JSON-ready (saved in checkpoint metadata)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict) -> SideInputProvider:
        """Inverse of `to_dict`."""

    def record(self) -> dict:
        """What a checkpoint's metadata keeps as ``side_inputs``: ``{"addon": name, "state":
        to_dict()}`` (read back by `noisylab.addons.registry.side_input_from_record`)."""
        return {"addon": self.name, "state": self.to_dict()}


class PredictionAdjuster(ABC):
    """A change to a model's class probabilities, fitted on the training set.

    Evaluation scores the model's own probabilities first (each image alone), then each
    adjuster's, in turn, each applied to what the one before gave, and reports every figure
    under the adjuster's name.

    Subclasses set `name`, `title` and `description` and implement `fit`, `adjust`,
    `to_dict` and `from_dict`; `file`, `redundant_with`, `summary` and `figures` are optional.

    Attributes
    ----------
    name : str
        The add-on's name in the registry (``--addon NAME``), lower case with dashes.
    title : str
        A few words saying what the adjustment does, for one line of output.
    description : str
        A sentence or two for reports: what it assumes about the data and what it changes.
    file : str
        Its state's file name in a run folder (default ``<name>.json``).
    redundant_with : str or None
        The name of a side-input provider that gives the model the same information: a run
        whose model reads that side input neither fits nor applies this adjuster (counting
        the same evidence twice).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    file: ClassVar[str] = ""
    redundant_with: ClassVar[str | None] = None

    @abstractmethod
    def fit(self, train_set) -> PredictionAdjuster:
        """Learn from ``train_set`` (a `noisylab.data.LabeledImages`, labels clean); return
        self.

        Raises
        ------
        NoisylabError
            When the training set does not allow it (training then goes on without it).
        """

    @abstractmethod
    def adjust(self, probs: np.ndarray, test_set) -> tuple[np.ndarray, dict]:
        """Adjusted class probabilities of ``test_set``'s images.

        Parameters
        ----------
        probs : np.ndarray
            ``(N, K)`` class probabilities, one row per image of ``test_set``.
        test_set : LabeledImages
            The images (their ids, boxes...); never their labels.

        Returns
        -------
        probs : np.ndarray
            ``(N, K)`` adjusted probabilities (``probs`` itself when not applied).
        info : dict
            JSON-ready facts for the record, plus optionally ``applied`` (bool, default True),
            ``why`` (why not applied) and ``predictions``: an ``(N,)`` int array when the
            answers are not the argmax of the adjusted probabilities (e.g. a joint
            assignment); it is used for the figures and not kept in the record.

        Raises
        ------
        NoisylabError
            When the state does not fit these probabilities (e.g. another run's classes).
        """

    @abstractmethod
    def to_dict(self) -> dict:
        """The fitted state, JSON-ready."""

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict) -> PredictionAdjuster:
        """Inverse of `to_dict`; raises ValueError, KeyError or TypeError on bad contents."""

    @classmethod
    def summary(cls, info: dict) -> str:
        """A few words on what ``info`` (from `adjust`) says, for one line of output."""
        return ""

    def figures(self, test_set, before: np.ndarray, after: np.ndarray,
                out_dir: Path) -> list[Path]:
        """Figures of what the adjustment changed, written in ``out_dir``; their paths.

        ``before`` and ``after`` are the ``(N,)`` predictions without and with it.
        """
        return []

    @classmethod
    def filename(cls) -> str:
        """`file`, or ``<name>.json``."""
        return cls.file or f"{cls.name}.json"

    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write `to_dict` as JSON in ``run_dir`` (atomically); return its path."""
        from noisylab.files import write_json

        path = Path(run_dir) / self.filename()
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PredictionAdjuster:
        """Read a state `save` wrote.

        Raises
        ------
        NoisylabError
            When the file cannot be read or is not such a state: one line naming it and the
            way out.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise NoisylabError(
                f"{path} is not a readable state of the add-on {cls.name} "
                f"({type(err).__name__}: {err}); train the run again, or evaluate with "
                f"--no-addon {cls.name}") from None


def check_features(features: np.ndarray, n: int, name: str) -> np.ndarray:
    """``features`` as float32 ``(n, S)``, checked: one row per image, at least one column,
    the last one 0 or 1.

    Raises
    ------
    NoisylabError
        When a provider (``name``) returned something else.
    """
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != n or features.shape[1] < 1:
        raise NoisylabError(f"the add-on {name} gave side inputs of shape {features.shape} for "
                            f"{n} images; it must give one row per image")
    if not np.isin(features[:, -1], (0.0, 1.0)).all():
        raise NoisylabError(f"the add-on {name} gave side inputs whose last column is not 1 "
                            "(known) or 0 (unknown)")
    return features
