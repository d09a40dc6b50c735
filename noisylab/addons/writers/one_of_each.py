"""Reading a writer's test characters as a set: each writer wrote one of each character.

Chars74K's handwritten set, which trainPart1 is, was made by 55 people who each wrote every one
of the 62 characters once (trainPart1 holds no writer twice for a class; the photos are named
``imgCCC-WWW.png``, ``WWW`` the writer). When the test photos are the rest of that collection,
two things follow for a writer's test images, which a model scoring one image at a time ignores:

- none is of a class the writer already has among the training images (*exclusion*);
- no two are of the same class (*one each*: a writer's test images are distinct classes).

`OneOfEach` holds the classes each writer has among a run's training images. `OneOfEach.apply`
sets the excluded classes' probabilities to 0, renormalises, and then gives each writer's test
images the distinct classes of the largest joint probability (a linear assignment on the log
probabilities, `scipy.optimize.linear_sum_assignment`). Images whose file names name no writer
keep the model's answer. `OneOfEachAddon` is that reading as the ``one-of-each`` add-on.

That is an assumption about the test set, so it is checked before anything changes, and the
model's own answer stands when the check fails:

- fitting refuses training images with a writer twice for one class (then the collection is
  not one of each);
- at test time a writer with more test images than classes left breaks it outright, and so
  does a test set where more than `MAX_CLASHES` of the named images' own answers clash with it
  (a class the writer already has, or another of the writer's test images' answer). Where it
  holds, clashes are the model's mistakes: 4-6% of the held-out images of trainPart1's 5-fold
  cross-validation, for the recipe's models. With the held-out writers' names scrambled, as
  for test photos by other people under the same names, 52-64% clashed.

This module is torch-free: numpy and scipy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noisylab.addons.base import PredictionAdjuster
from noisylab.addons.writers.writer_size import WRITER_PATTERN, writers_of
from noisylab.errors import NoisylabError

FILE = "one_of_each.json"
"""The fitted record's file in a run folder."""

MAX_CLASHES = 0.25
"""Largest share of the named test images whose own answer may clash with one of each."""


@dataclass
class OneOfEach:
    """The classes each writer has among a model's training images.

    Attributes
    ----------
    classes : list of str
        The class names, in the model's order (``K`` of them).
    seen : dict of str to list of int
        For each writer named by a training file name, the indices of the classes of their
        training images (each at most once).
    """

    classes: list[str]
    seen: dict[str, list[int]]

    @classmethod
    def fit(cls, ids, labels: np.ndarray, classes, pattern: str = WRITER_PATTERN) -> OneOfEach:
        """The record of training images ``ids`` ``(N,)`` with classes ``labels`` ``(N,)``.

        Raises
        ------
        NoisylabError
            When no file name names a writer, or a writer has two training images of a class
            (the data is not one of each per writer).
        """
        seen: dict[str, set[int]] = {}
        for writer, label, name in zip(writers_of(ids, pattern), np.asarray(labels), ids,
                                       strict=True):
            if writer is None:
                continue
            have = seen.setdefault(writer, set())
            if int(label) in have:
                raise NoisylabError(
                    f"writer {writer} has two training images of class {classes[int(label)]} "
                    f"({name} is the second), so the writers did not write one of each")
            have.add(int(label))
        if not seen:
            raise NoisylabError("no training file name names its writer (imgCCC-WWW.png)")
        return cls(list(classes), {w: sorted(c) for w, c in sorted(seen.items())})

    def excluded(self, writers: list[str | None]) -> np.ndarray:
        """``(N, K)`` bool: True where image ``i``'s writer already has class ``k`` in training."""
        mask = np.zeros((len(writers), len(self.classes)), dtype=bool)
        for i, writer in enumerate(writers):
            if writer in self.seen:
                mask[i, self.seen[writer]] = True
        return mask

    def apply(self, probs: np.ndarray, ids, pattern: str = WRITER_PATTERN
              ) -> tuple[np.ndarray, np.ndarray, dict]:
        """Class probabilities and predictions of test images read as one of each per writer.

        Parameters
        ----------
        probs : ndarray, shape (N, K)
            A model's class probabilities for the test images.
        ids : sequence of str, length N
            Their file names (the writer is read from them).

        Raises
        ------
        NoisylabError
            When ``probs`` does not have one column per class of the record.

        Returns
        -------
        probs : ndarray, shape (N, K)
            With each image's writer's training classes excluded and the rest renormalised
            (unchanged where not applied).
        predictions : ndarray, shape (N,)
            The class each image gets: distinct within a writer's images, none of the writer's
            training classes; the argmax of ``probs`` for images that name no writer, and for
            all of them when not applied.
        info : dict
            ``applied`` (bool), ``why`` (None, or why not), ``images`` that name a writer,
            ``writers`` among them, ``clashes`` (share of those images whose own answer clashes),
            ``changed`` (predictions that differ from the model's own argmax).
        """
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(self.classes):
            raise NoisylabError(f"probabilities of shape {probs.shape} for a one-of-each record "
                                f"of {len(self.classes)} classes; give one row per image and one "
                                "column per class of the record")
        own = probs.argmax(1)
        writers = writers_of(ids, pattern)
        groups: dict[str, list[int]] = {}
        for i, writer in enumerate(writers):
            if writer is not None:
                groups.setdefault(writer, []).append(i)
        info = {"applied": False, "why": None, "images": sum(map(len, groups.values())),
                "writers": len(groups), "clashes": 0.0, "changed": 0}
        if not groups:
            info["why"] = "no test file name names its writer"
            return probs, own, info
        excluded = self.excluded(writers)
        crowded = [w for w, rows in groups.items()
                   if len(rows) > len(self.classes) - len(self.seen.get(w, ()))]
        if crowded:
            w = crowded[0]
            info["why"] = (f"writer {w} has {len(groups[w])} test images but only "
                           f"{len(self.classes) - len(self.seen.get(w, ()))} classes they have "
                           "not written in training")
            return probs, own, info
        clashing = 0
        for rows in groups.values():
            answers = own[rows]
            fresh = answers[~excluded[rows, answers]]
            clashing += len(rows) - len(np.unique(fresh))
        info["clashes"] = clashing / info["images"]
        if info["clashes"] > MAX_CLASHES:
            info["why"] = (f"{100 * info['clashes']:.0f}% of the named test images' answers clash "
                           f"with one of each (more than {100 * MAX_CLASHES:.0f}%)")
            return probs, own, info

        from scipy.optimize import linear_sum_assignment

        kept = np.where(excluded, 0.0, probs + 1e-12)  # + 1e-12: no row left all zero
        kept /= kept.sum(1, keepdims=True)
        predictions = own.copy()  # images that name no writer keep their own answer
        for rows in groups.values():
            allowed = np.flatnonzero(~excluded[rows[0]])
            cost = -np.log(kept[np.ix_(rows, allowed)] + 1e-300)
            row, col = linear_sum_assignment(cost)
            predictions[np.asarray(rows)[row]] = allowed[col]
        info.update(applied=True, changed=int((predictions != own).sum()))
        return kept, predictions, info

    def to_dict(self) -> dict:
        """JSON-ready contents."""
        return {"classes": self.classes, "seen": self.seen}

    @classmethod
    def from_dict(cls, d: dict) -> OneOfEach:
        """Inverse of `to_dict`; ValueError when a class index is out of range."""
        classes = [str(c) for c in d["classes"]]
        seen = {str(w): [int(c) for c in cs] for w, cs in d["seen"].items()}
        if any(not 0 <= c < len(classes) for cs in seen.values() for c in cs):
            raise ValueError(f"a class index outside 0..{len(classes) - 1}")
        return cls(classes, seen)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the record as JSON (atomically) and return the path."""
        from noisylab.files import write_json

        path = Path(path)
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> OneOfEach:
        """Read a record `save` wrote.

        Raises
        ------
        NoisylabError
            When the file cannot be read or is not such a record.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise NoisylabError(f"{path} is not a readable {FILE} ({err}); train the run again "
                                "or evaluate with --no-addon one-of-each") from None



class OneOfEachAddon(PredictionAdjuster):
    """The ``one-of-each`` add-on: a run's `OneOfEach` record, applied to its predictions
    (`OneOfEach.apply`); left off, with the reason, where the test images clash with it."""

    name = "one-of-each"
    title = "each writer's images read as one of each character"
    description = ("A writer's test images are read as distinct classes that the writer has "
                   "no training image of (a linear assignment on the log probabilities), as "
                   "in a collection where every writer wrote each character once. It needs "
                   "file names that name the writer (imgCCC-WWW.png), and is left off when the "
                   "model's own answers clash with it too often.")
    file = FILE

    def __init__(self, record: OneOfEach | None = None):
        self.record = record

    def fit(self, train_set) -> OneOfEachAddon:
        """The classes of each writer's images in ``train_set`` (`OneOfEach.fit`).

        Raises
        ------
        NoisylabError
            When no file name names a writer, or a writer has a class twice.
        """
        self.record = OneOfEach.fit(train_set.ids, train_set.labels.numpy(), train_set.classes)
        return self

    def adjust(self, probs: np.ndarray, test_set) -> tuple[np.ndarray, dict]:
        """`OneOfEach.apply` to ``test_set``'s file names; ``info["predictions"]`` is the
        assignment.

        Raises
        ------
        NoisylabError
            When the record is of other classes than ``test_set``'s (another run's).
        """
        classes = list(test_set.classes)
        if self.record.classes != classes:
            raise NoisylabError(
                f"the one-of-each record names {len(self.record.classes)} classes "
                f"({', '.join(self.record.classes[:5])}...), the data {len(classes)}; it belongs "
                "to another run: evaluate with --no-addon one-of-each, or train the run again")
        probs, predictions, info = self.record.apply(probs, test_set.ids)
        return probs, {**info, "predictions": predictions}

    @classmethod
    def summary(cls, info: dict) -> str:
        return f"{info['images']} images of {info['writers']} writers"

    def figures(self, test_set, before: np.ndarray, after: np.ndarray, out_dir: Path
                ) -> list[Path]:
        """``one_of_each.png``: the images whose prediction changed (none when none did)."""
        from noisylab.evaluate import changed_figure

        if not (before != after).any():
            return []
        return [changed_figure(test_set.images[:, 0].numpy(), before, after,
                               test_set.labels.numpy(), list(test_set.classes),
                               Path(out_dir) / "one_of_each.png",
                               what="read as one of each per writer")]

    def to_dict(self) -> dict:
        return self.record.to_dict()

    @classmethod
    def from_dict(cls, d: dict) -> OneOfEachAddon:
        return cls(OneOfEach.from_dict(d))
