"""The ``relative-box`` add-on: each character's ink box relative to its writer's, beside the
pixels.

Cropping a photo to its ink throws away how big the character was, which is what tells ``c``
from ``C``. The numbers `RelativeBox` gives a model are the character's ink box features (`writer_size.box_features`: log
height and width, position on the page) minus the median of its writer's other characters
(`noisylab.addons.writers.writer_size.side_inputs`: 6 numbers, then 1 where the writer has a
reference, 0 where not).

A training image's reference leaves it out (`leave_one_out`), so training images look as new
ones will; a new image's is the median of its writer's training images (or of the writer's
images in the set scored, when the writer has at least ``MIN_REFERENCE`` there). The writers'
medians are the add-on's state, saved in every checkpoint.
"""

from __future__ import annotations

import numpy as np

from noisylab.addons.base import SideInputProvider
from noisylab.addons.writers.writer_size import WriterSize, leave_one_out, side_inputs
from noisylab.errors import NoisylabError


class RelativeBox(SideInputProvider):
    """Each image's ink box relative to its writer's median box, as side inputs ``(N, 7)``.

    Attributes
    ----------
    references : WriterSize or None
        The writers' median boxes of the training images (no size models), once fitted.
    """

    name = "relative-box"
    title = "the ink box relative to the writer's median box"

    def __init__(self, references: WriterSize | None = None):
        self.references = references

    def fit(self, train_set) -> RelativeBox:
        """The writers' reference boxes of ``train_set`` (`WriterSize.references`).

        Raises
        ------
        NoisylabError
            When the images have no ink boxes, or the file names give no writer with enough
            images.
        """
        _check_boxes(train_set)
        self.references = WriterSize.references(train_set.boxes, train_set.ids,
                                                 train_set.classes)
        return self

    def training_features(self, train_set) -> np.ndarray:
        """Leave-one-out features of the training images (`leave_one_out`)."""
        _check_boxes(train_set)
        return side_inputs(*leave_one_out(train_set.boxes, train_set.ids))

    def features(self, dataset) -> np.ndarray:
        """Features of new images, relative to the training references
        (`WriterSize.side_inputs_for`)."""
        _check_boxes(dataset)
        return self.references.side_inputs_for(dataset.boxes, dataset.ids)

    def to_dict(self) -> dict:
        return self.references.to_dict()

    @classmethod
    def from_dict(cls, d: dict) -> RelativeBox:
        return cls(WriterSize.from_dict(d))


def _check_boxes(dataset) -> None:
    if dataset.boxes is None:
        raise NoisylabError(f"{dataset.source.split(':')[0]} has no ink boxes (photos have them)")
