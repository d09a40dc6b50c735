"""Telling ``c`` from ``C`` by the size of the character relative to its writer's hand.

Cropping a photo to its ink and fitting it to 20 px (what MNIST did) throws away the size of
the character, which is what tells ``c`` from ``C``, ``o`` from ``O`` or ``s`` from ``S``. Size
on the page tells little, because people write at different sizes; a character's ink box
*relative to the median box of the same writer's other characters* tells a lot
(``benchmarks/case_by_size.py`` measures both).

`WriterSize` holds what a model needs for that, fitted on the training images alone:

- each writer's reference: the median of `box_features` over the writer's training images;
- for each group of look-alike classes (`lookalike_groups`: a letter's two cases, joined with
  the digits of the same shape, e.g. ``0 O o``), a multinomial logistic regression of the class
  on the features minus the writer's reference, with balanced class weights, so that its log
  probabilities estimate the log-likelihoods ``log p(size | class)`` up to a constant.

`WriterSize.adjust` multiplies a glyph model's probabilities within each group by those
likelihoods (the two experts are close to independent given the class, as the fitted glyph
carries no size) and renormalises them to the group's total. Images whose writer is unknown, or
not named, keep the glyph model's probabilities. `CaseBySize` is that adjustment as the
``case-by-size`` add-on.

The same writer-relative box can instead be read by the CNN itself, beside the pixels (the
``relative-box`` add-on, `noisylab.addons.writers.box`): `side_inputs` are its numbers,
`leave_one_out` makes them for training images (each left out of its own writer's reference)
and `WriterSize.side_inputs_for` for new ones; a model that reads them is not also adjusted.

The writer comes from the file name: Chars74K's photos, which trainPart1 is, are named
``imgCCC-WWW.png``, ``WWW`` being one of its 55 writers (only ``WWW`` is read; ``CCC`` is the
class and is never used). A writer not seen in training gets the median of their images in
the set being scored, when it holds at least `MIN_REFERENCE` of them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisylab.addons.base import PredictionAdjuster
from noisylab.errors import NoisylabError

FILE = "writer_size.json"
"""The fitted model's file in a run folder."""

WRITER_PATTERN = r"^img\d+-(\d+)\.[A-Za-z]+$"
"""A file name whose first group is the writer (Chars74K: ``img011-042.png`` is writer 042)."""

MIN_REFERENCE = 10
"""Fewest images of a writer that make their reference box."""

FEATURES = ("log height", "log width", "top", "bottom", "left", "right")
"""The columns of `box_features`."""

SIDE_INPUTS = len(FEATURES) + 1
"""Columns of `side_inputs`: the writer-relative `FEATURES`, then "has a reference" (1 or 0)."""


def writers_of(ids, pattern: str = WRITER_PATTERN) -> list[str | None]:
    """The writer named by each file name in ``ids`` (``(N,)`` str), None where none is named."""
    rx = re.compile(pattern)
    found = [rx.match(str(i).rsplit("/", 1)[-1]) for i in ids]
    return [m.group(1) if m else None for m in found]


def box_features(boxes: np.ndarray) -> np.ndarray:
    """``(N, 6)`` `FEATURES` of ink boxes ``(N, 4)`` = (top, bottom, left, right), page fractions."""
    boxes = np.asarray(boxes, dtype=np.float64)
    height = np.maximum(boxes[:, 1] - boxes[:, 0], 1e-4)
    width = np.maximum(boxes[:, 3] - boxes[:, 2], 1e-4)
    return np.column_stack([np.log(height), np.log(width), boxes])


LOOKALIKES = (("0", "O"), ("1", "I"), ("1", "l"), ("2", "Z"), ("5", "S"), ("8", "B"),
              ("9", "g"), ("9", "q"))
"""Digits that share a letter's shape, joined to that letter's group by `lookalike_groups`."""


def case_pairs(classes) -> list[tuple[int, int]]:
    """``(capital, small)`` class indices of every letter whose two cases are both classes."""
    index = {c: k for k, c in enumerate(classes)}
    return [(index[c], index[c.lower()]) for c in classes
            if len(c) == 1 and c.isupper() and c.lower() in index]


def lookalike_groups(classes) -> list[list[int]]:
    """Class indices that size may tell apart: the letters' case pairs joined through
    `LOOKALIKES` (for the 62 classes: ``0 O o``, ``1 I L i l``, ``2 Z z``, ``5 S s``, ``8 B b``,
    ``9 G Q g q`` and the other 20 letters' pairs), each sorted; only groups of two or more."""
    index = {c: k for k, c in enumerate(classes)}
    parent = list(range(len(classes)))

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    links = case_pairs(classes) + [(index[a], index[b]) for a, b in LOOKALIKES
                                   if a in index and b in index]
    for a, b in links:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for k in range(len(classes)):
        groups.setdefault(root(k), []).append(k)
    return sorted(g for g in groups.values() if len(g) > 1)


def _relative_to(table: dict[str, np.ndarray], features: np.ndarray,
                 writers: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 6)`` features minus each writer's reference in ``table`` (unchanged where the
    writer has none), and the ``(N,)`` bool "has a reference"."""
    has = np.array([w in table for w in writers], bool)
    relative = features.copy()
    if has.any():
        relative[has] -= np.stack([table[w] for w, h in zip(writers, has, strict=True) if h])
    return relative, has


def side_inputs(relative: np.ndarray, has: np.ndarray) -> np.ndarray:
    """``(N, SIDE_INPUTS)`` float32 inputs for a model that reads the box beside the pixels
    (`noisylab.models.CharCNN` with ``side_inputs``): the writer-relative features (0 where
    there is no reference) and the ``(N,)`` bool ``has`` as a last column of 1 or 0."""
    relative = np.where(has[:, None], relative, 0.0)
    return np.column_stack([relative, has]).astype(np.float32)


def leave_one_out(boxes: np.ndarray, ids, pattern: str = WRITER_PATTERN
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each image's `box_features` minus the median of the same writer's *other* images.

    A model trained on training images' boxes relative to references that include those very
    boxes would see them closer to their writer's median than it will ever see a new image's;
    leaving each one out makes training images look as test images will.

    Returns ``(N, 6)`` relative features and the ``(N,)`` bool "has a reference" (the writer
    has at least `MIN_REFERENCE` other images).
    """
    features = box_features(boxes)
    relative, has = features.copy(), np.zeros(len(features), bool)
    for rows in _rows_by_writer(writers_of(ids, pattern)).values():
        if len(rows) - 1 < MIN_REFERENCE:
            continue
        for i in rows:
            relative[i] -= np.median(features[rows[rows != i]], axis=0)
        has[rows] = True
    return relative, has


def _rows_by_writer(writers: list[str | None]) -> dict[str, np.ndarray]:
    """``{writer: (n,) int row indices}`` of the named writers, in writer order."""
    rows: dict[str, list[int]] = {}
    for i, w in enumerate(writers):
        if w is not None:
            rows.setdefault(w, []).append(i)
    return {w: np.asarray(rows[w]) for w in sorted(rows)}


def _medians(features: np.ndarray, writers: list[str | None]) -> dict[str, np.ndarray]:
    """``{writer: (6,) median features}`` of writers with at least `MIN_REFERENCE` images."""
    return {w: np.median(features[rows], axis=0)
            for w, rows in _rows_by_writer(writers).items() if len(rows) >= MIN_REFERENCE}


def _reference_of(features: np.ndarray, writers: list[str | None], ids,
                  pattern: str) -> dict[str, np.ndarray]:
    """`_medians` of the ``writers`` that the file names ``ids`` give; an error when none has
    enough images."""
    if not any(writers):
        raise NoisylabError(
            f"file names like {str(ids[0])!r} do not name writers as {pattern!r} expects")
    reference = _medians(features, writers)
    if not reference:
        most = max(writers.count(w) for w in set(writers) if w is not None)
        raise NoisylabError(f"no writer has the {MIN_REFERENCE} images a reference box needs "
                            f"(the most: {most})")
    return reference


@dataclass
class WriterSize:
    """Per-writer reference boxes and one size model per group of look-alike classes.

    Attributes
    ----------
    classes : tuple of str
        ``(K,)`` the classes of the glyph model this adjusts.
    reference : dict
        ``{writer: (6,) array}``, the median `box_features` of the writer's training images.
    groups : list of dict
        One per `lookalike_groups` group: ``classes`` (``(G,)`` class indices) and the
        logistic regression on standardised writer-relative features: ``mean``, ``scale``
        (``(6,)``), ``coef`` (``(G, 6)``) and ``intercept`` (``(G,)``); its log-softmax is the
        class's log-likelihood up to a constant.
    pattern : str
        How a file name names its writer.
    """

    classes: tuple[str, ...]
    reference: dict[str, np.ndarray]
    groups: list[dict] = field(default_factory=list)
    pattern: str = WRITER_PATTERN

    @classmethod
    def references(cls, boxes: np.ndarray, ids, classes, pattern: str = WRITER_PATTERN
                   ) -> WriterSize:
        """The writers' reference boxes alone (no size models): what a model that reads the
        box beside the pixels needs to describe new images (`side_inputs_for`).

        Raises
        ------
        NoisylabError
            When the names give no writer with `MIN_REFERENCE` images.
        """
        reference = _reference_of(box_features(boxes), writers_of(ids, pattern), ids, pattern)
        return cls(tuple(classes), reference, [], pattern)

    @classmethod
    def fit(cls, boxes: np.ndarray, ids, labels: np.ndarray, classes,
            pattern: str = WRITER_PATTERN) -> WriterSize:
        """Fit on training images.

        Parameters
        ----------
        boxes : np.ndarray
            ``(N, 4)`` ink boxes (`noisylab.data.LabeledImages.boxes`).
        ids : sequence of str
            ``(N,)`` file names, which name the writers.
        labels : np.ndarray
            ``(N,)`` int class indices (clean labels).
        classes : sequence of str
            ``(K,)`` class names.

        Raises
        ------
        NoisylabError
            When the names give no writer with `MIN_REFERENCE` images, or no two classes are
            look-alikes.
        """
        from sklearn.linear_model import LogisticRegression

        classes = tuple(classes)
        labels = np.asarray(labels)
        features = box_features(boxes)
        writers = writers_of(ids, pattern)
        reference = _reference_of(features, writers, ids, pattern)
        found = lookalike_groups(classes)
        if not found:
            raise NoisylabError("no letter has both its cases (or a look-alike digit) among the "
                                "classes; the writer's size has nothing to tell apart")
        relative, known = _relative_to(reference, features, writers)
        groups = []
        for members in found:
            rows = known & np.isin(labels, members)
            seen = sorted(set(labels[rows].tolist()))
            if len(seen) < 2:
                continue  # fewer than two of the group seen with a known writer: nothing to learn
            x = relative[rows]
            mean, scale = x.mean(0), x.std(0) + 1e-9
            lr = LogisticRegression(class_weight="balanced", max_iter=1000).fit(
                (x - mean) / scale, labels[rows])
            coef, intercept = lr.coef_, lr.intercept_
            if len(seen) == 2:  # a binary fit holds the second class's logit only
                coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
                intercept = np.array([0.0, intercept[0]])
            groups.append({"classes": seen, "mean": mean, "scale": scale, "coef": coef,
                           "intercept": intercept})
        return cls(classes, reference, groups, pattern)

    def relative_boxes(self, boxes: np.ndarray, ids) -> tuple[np.ndarray, np.ndarray]:
        """Each image's `box_features` minus its writer's reference, ``(N, 6)``, and a ``(N,)``
        bool "has a reference".

        A writer seen in training uses the training median; another uses the median of their
        images here, when there are at least `MIN_REFERENCE`.
        """
        features = box_features(boxes)
        writers = writers_of(ids, self.pattern)
        here = _medians(features, [w if w not in self.reference else None for w in writers])
        return _relative_to({**here, **self.reference}, features, writers)

    def side_inputs_for(self, boxes: np.ndarray, ids) -> np.ndarray:
        """`side_inputs` ``(N, SIDE_INPUTS)`` of images not in training (`relative_boxes`)."""
        return side_inputs(*self.relative_boxes(boxes, ids))

    def log_likelihoods(self, boxes: np.ndarray, ids) -> tuple[np.ndarray, np.ndarray]:
        """``(N, K)`` size log-likelihood of each class (up to a constant per image and group;
        0 outside the groups and where the writer has no reference), and the ``(N,)`` bool
        "has a reference"."""
        relative, has = self.relative_boxes(boxes, ids)
        out = np.zeros((len(relative), len(self.classes)))
        for g in self.groups:
            logits = ((relative - g["mean"]) / g["scale"]) @ g["coef"].T + g["intercept"]
            logits -= logits.max(1, keepdims=True)
            out[:, g["classes"]] = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        out[~has] = 0.0
        return out, has

    def adjust(self, probs: np.ndarray, boxes: np.ndarray, ids) -> tuple[np.ndarray, dict]:
        """A glyph model's class probabilities with the writer's size taken into account.

        Parameters
        ----------
        probs : np.ndarray
            ``(N, K)`` class probabilities, in `classes`' order.
        boxes : np.ndarray
            ``(N, 4)`` the images' ink boxes.
        ids : sequence of str
            ``(N,)`` their file names.

        Returns
        -------
        probs : np.ndarray
            ``(N, K)``: within each group, ``p'(c) ∝ p(c) * p(size | c)``, the group's total
            kept; other classes unchanged.
        info : dict
            ``images`` (how many had a writer reference), ``changed`` (predictions changed).
        """
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape[1] != len(self.classes):
            raise NoisylabError(f"the writer-size model is for {len(self.classes)} classes, the "
                                f"predictions have {probs.shape[1]}")
        loglik, has = self.log_likelihoods(boxes, ids)
        out = probs.copy()
        for g in self.groups:
            c = g["classes"]
            total = probs[:, c].sum(1, keepdims=True)
            score = np.log(np.maximum(probs[:, c], 1e-12)) + loglik[:, c]
            weight = np.exp(score - score.max(1, keepdims=True))
            out[:, c] = total * weight / weight.sum(1, keepdims=True)
        changed = int((out.argmax(1) != probs.argmax(1)).sum())
        return out, {"images": int(has.sum()), "changed": changed}

    def to_dict(self) -> dict:
        """JSON-ready contents."""
        return {"classes": list(self.classes), "pattern": self.pattern,
                "features": list(FEATURES),
                "reference": {w: v.tolist() for w, v in self.reference.items()},
                "groups": [{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                            for k, v in g.items()} for g in self.groups]}

    @classmethod
    def from_dict(cls, d: dict) -> WriterSize:
        """Inverse of `to_dict`."""
        arrays = ("mean", "scale", "coef", "intercept")
        groups = [{"classes": [int(c) for c in g["classes"]],
                   **{k: np.asarray(g[k], dtype=np.float64) for k in arrays}} for g in d["groups"]]
        reference = {w: np.asarray(v, dtype=np.float64) for w, v in d["reference"].items()}
        return cls(tuple(d["classes"]), reference, groups, d["pattern"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write `to_dict` as JSON, atomically."""
        from noisylab.files import write_json

        path = Path(path)
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> WriterSize:
        """Read a saved model; an unreadable file is one `NoisylabError` naming it."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise NoisylabError(
                f"{path} is not a readable writer-size model ({type(err).__name__}: {err}); delete "
                f"it and train again, or pass --no-addon case-by-size") from None



class CaseBySize(PredictionAdjuster):
    """The ``case-by-size`` add-on: `WriterSize` fitted on a run's training photos, applied to
    its predictions (`WriterSize.adjust`).

    Not fitted for a run whose model reads the ``relative-box`` side input, which carries the
    same size.
    """

    name = "case-by-size"
    title = "look-alikes (c C, 0 O o) told apart by their size relative to the writer's hand"
    description = ("Within each group of look-alike classes (a letter's two cases and the "
                   "digits of the same shape), the probabilities are re-split by how likely the "
                   "character's ink box, relative to the median box of its writer's training "
                   "images, is for each class. It needs photos with ink boxes whose file names "
                   "name their writers (imgCCC-WWW.png).")
    file = FILE
    redundant_with = "relative-box"

    def __init__(self, model: WriterSize | None = None):
        self.model = model

    def fit(self, train_set) -> CaseBySize:
        """Fit `WriterSize` on ``train_set``'s ink boxes, file names and labels.

        Raises
        ------
        NoisylabError
            When the data has no ink boxes, no class has a look-alike, or the names give no
            writer with `MIN_REFERENCE` images.
        """
        if train_set.boxes is None:
            raise NoisylabError("the images have no ink boxes (photos have them)")
        if not lookalike_groups(train_set.classes):
            raise NoisylabError("no class has a look-alike of another case or shape")
        self.model = WriterSize.fit(train_set.boxes, train_set.ids, train_set.labels.numpy(),
                                    train_set.classes)
        return self

    def adjust(self, probs: np.ndarray, test_set) -> tuple[np.ndarray, dict]:
        """`WriterSize.adjust` of ``test_set``'s images; not applied without ink boxes."""
        if test_set.boxes is None:
            return probs, {"applied": False, "why": "the images have no ink boxes"}
        return self.model.adjust(probs, test_set.boxes, test_set.ids)

    @classmethod
    def summary(cls, info: dict) -> str:
        return f"{info['images']} images had a writer reference"

    def to_dict(self) -> dict:
        return self.model.to_dict()

    @classmethod
    def from_dict(cls, d: dict) -> CaseBySize:
        return cls(WriterSize.from_dict(d))
