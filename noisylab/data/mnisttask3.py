"""``mnistTask3``: 60,000 MNIST training images, 28x28 JPEGs in folders ``0``..``9`` (`MNISTTask3`).

The folder is the given label, and it is corrupted: ``labels`` are *not* the true digits. The
file names (``image_NNNNNN.jpg``) carry the image's index in the standard MNIST training split;
they are for measuring only, never an input to a method. Read as any class-per-folder source
(`noisylab.data.folder.ClassFolders`); the class folders must be exactly ``0``..``9``.
"""

from __future__ import annotations

from pathlib import Path

from noisylab.data.folder import ClassFolders

CLASSES = tuple(str(d) for d in range(10))


class MNISTTask3(ClassFolders):
    """``mnistTask3``: ``mnistTask3.zip`` (or the folder ``mnistTask3/``) under the data root."""

    name = "mnistTask3"
    description = ("Part-3: 60,000 MNIST training images as JPEGs in folders 0-9; the folder is a "
                   "corrupted label")
    wants = "mnistTask3.zip"
    expect_classes = CLASSES

    def candidates(self, root: Path, split: str) -> list[Path]:
        return [root / "mnistTask3.zip", root / "mnistTask3"]

    def split_hint(self, split: str) -> str:
        return " (for the MNIST test set use: mnist --split test)"

    def describe(self, path: Path) -> str:
        return ("mnistTask3 train: MNIST training images (28x28 JPEGs) in folders 0-9; the folder "
                "is the given, corrupted label")
