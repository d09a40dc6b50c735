"""Add-ons: knowledge about one kind of data, plugged into the generic core by name.

The core (data, models, training, evaluation, reports) knows no dataset. What is true only of
some data lives in an add-on, which implements one of two small interfaces
(`noisylab.addons.base`):

`SideInputProvider`
    Extra numbers per image that a model reads beside the pixels: ``fit(train_set)``, then
    ``training_features(train_set)`` ``(N, S)`` for training (it may leave each image out of
    its own statistics) and ``features(dataset)`` ``(M, S)`` for new images, the last column 1
    where the others are known. Its state (``to_dict`` / ``from_dict``) goes into every
    checkpoint's metadata, so that evaluating a checkpoint makes the same numbers.
`PredictionAdjuster`
    A change to the class probabilities: ``fit(train_set)``, ``adjust(probs, test_set) ->
    (probs, info)``; its state is saved in the run folder (``save`` / ``load``), applied at
    evaluation and always reported beside the unadjusted figure, under its name.

Add-ons are registered by name (`noisylab.addons.registry`). A recipe
(`noisylab.recipes.Recipe.addons`) names those its data uses; ``noisylab train --addon NAME``
and ``--no-addon NAME`` add or remove one, an experiment file's ``addons`` key lists them, and
``noisylab evaluate`` applies the adjusters whose state the run saved (``--no-addon NAME``
leaves one out). ``noisylab addons`` lists them.

A run uses at most one side-input provider, and only when its model can read side inputs
(`noisylab.models.reads_side_inputs`); an adjuster that is `redundant_with` the provider the
model reads is skipped.

This package is torch-free.
"""

from noisylab.addons.base import PredictionAdjuster, SideInputProvider, check_features
from noisylab.addons.registry import (
    adjuster_files,
    get,
    is_side_input,
    parse_names,
    register,
    registered,
    resolve,
    saved_adjusters,
    side_input_from_record,
    upgrade_metadata,
)

__all__ = ["PredictionAdjuster", "SideInputProvider", "adjuster_files", "check_features", "get",
           "is_side_input", "parse_names", "register", "registered", "resolve",
           "saved_adjusters", "side_input_from_record", "upgrade_metadata"]
