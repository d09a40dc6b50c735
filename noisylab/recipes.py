"""Default recipes: the settings `noisylab train` uses for each dataset unless told otherwise.

A recipe is the best-known way to train on a source. Options the user passes win. The
measurements behind each recipe are in ``docs/recipes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    """Defaults for one data source.

    Attributes
    ----------
    train : dict
        `noisylab.train.TrainConfig` fields.
    load : dict
        Options for `noisylab.data.load` (e.g. the preprocessing).
    test : tuple of (str, str) or None
        ``(source, split)`` of the clean test set reported beside training, if any.
    loss : str
        The loss when none is given: ``"auto"`` (what an audit of the labels recommends), or a
        name for sources whose labels are known to be clean.
    addons : tuple of str
        The add-ons the source's runs use (`noisylab.addons`): knowledge about the data that
        the core lacks, e.g. what its file names say. ``--no-addon NAME`` leaves one out.
    """

    train: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    test: tuple[str, str] | None = None
    loss: str = "auto"
    addons: tuple[str, ...] = ()


RECIPES: dict[str, Recipe] = {
    # --init pretrained finds the Part-1 digit model of the same architecture.
    "mnist": Recipe(train=dict(arch="cnn-s", epochs=15, lr=3e-3), test=("mnist", "test")),
    # The complementary loss via --loss auto (the audit's recommendation), with pseudo-labels
    # from the un-augmented view; then distillation into a fresh lenet on labels voted by the
    # teacher's last three epochs, and the teacher and the student together as the run's model.
    "mnistTask3": Recipe(train=dict(arch="cnn-s", epochs=12, distill_epochs=12,
                                    distill_arch="lenet", distill_votes=3, distill_ensemble=True,
                                    lr=3e-3, pseudo_label=1.0, pseudo_label_view="clean"),
                         test=("mnist", "test")),
    # The labels are clean, so ce: an audit cannot tell an imperfect model's errors from label
    # noise. A strong weight decay; slant, width and stroke-width augmentation for other hands
    # and pens. The photos' file names say whose hand wrote each, and every hand wrote each
    # character once: the model reads the character's ink box relative to that hand's usual box
    # beside the pixels (relative-box: the size that fitting the ink to 20 px throws away,
    # which tells c from C), case-by-size does the same after the fact for a model that does
    # not, and one-of-each reads one hand's test images as distinct classes.
    "trainPart1": Recipe(train=dict(arch="cnn-m", epochs=30, lr=3e-3, batch_size=64,
                                    weight_decay=0.5, shear=0.3, stretch=0.15,
                                    stroke_width=0.5),
                         load=dict(preprocess="fit"), test=("trainPart1", "test"), loss="ce",
                         addons=("relative-box", "case-by-size", "one-of-each")),
    # Digits have no case to tell apart, and MNIST-style fitting matches MNIST for transfer.
    # cnn-s: the architecture both MNIST recipes train first, so `--init pretrained` finds it.
    "trainPart1-digits": Recipe(train=dict(arch="cnn-s", epochs=60, lr=3e-3, batch_size=64),
                                load=dict(preprocess="fit"), test=("trainPart1-digits", "test"),
                                loss="ce", addons=("one-of-each",)),
    "digits": Recipe(train=dict(arch="lenet", epochs=10, lr=3e-3, batch_size=64)),
}


def recipe_for(data: str) -> Recipe:
    """The recipe of a source (``NAME+KIND`` uses NAME's), or library defaults for a folder."""
    from noisylab.data.injected import split_name

    return RECIPES.get(split_name(data)[0], Recipe())
