"""Add-ons for handwriting collections whose file names name the writer.

Chars74K's handwritten characters, which trainPart1 is, were written by 55 people who each
wrote every character once; the photos are named ``imgCCC-WWW.png``, ``WWW`` the writer. That
name, and the ink box each photo's preprocessing measures (`noisylab.data.LabeledImages.boxes`),
give three add-ons (`noisylab.addons`):

``relative-box`` (`box.RelativeBox`, a side-input provider)
    The character's ink box relative to its writer's median box, read by the model beside the
    pixels: the size that fitting the ink to 20 px throws away, which tells ``c`` from ``C``.
``case-by-size`` (`writer_size.CaseBySize`, an adjuster)
    The same size used after the fact: the probabilities within each group of look-alike
    classes re-split by it. Skipped for a model that reads ``relative-box``.
``one-of-each`` (`one_of_each.OneOfEachAddon`, an adjuster)
    A writer's test images read as distinct classes the writer has not written in training.

Checkpoints of the architecture once called ``cnn-m+box`` are ``cnn-m`` models that read
``relative-box``.
"""

from noisylab.addons.registry import register, register_legacy_architecture
from noisylab.addons.writers.box import RelativeBox
from noisylab.addons.writers.one_of_each import OneOfEachAddon
from noisylab.addons.writers.writer_size import CaseBySize

for _addon in (RelativeBox, CaseBySize, OneOfEachAddon):
    register(_addon)
register_legacy_architecture("cnn-m+box", "cnn-m", RelativeBox.name)

__all__ = ["CaseBySize", "OneOfEachAddon", "RelativeBox"]
