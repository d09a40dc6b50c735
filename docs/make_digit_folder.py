"""Write scikit-learn's 1797 digits as a class-per-folder tree of PNGs, some labels wrong.

The README's "your own folder" walk-through runs on this tree. It stands in for a folder of
scanned images sorted by hand: dark ink on light paper, 32x32 PNGs, one folder per class.

- ``OUT/<class>/<n>.png``: 1500 training images; 20% of each class are filed in the folder of
  the next class (3 under 4, 9 under 0), a pair-flip corruption the audit should find;
- ``OUT-test/<class>/<n>.png``: the other 297 images under their true classes, to score on.

    python docs/make_digit_folder.py /tmp/myfolder
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

N_TRAIN = 1500
FLIP = 0.2


def write(images: np.ndarray, labels: np.ndarray, out: Path) -> None:
    """Save ``images`` (N, 8, 8), values 0-16, as dark-on-light 32x32 PNGs under ``out/<label>/``."""
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        folder = out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (255 - img * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).save(folder / f"{i:04d}.png")


def main(out: Path) -> None:
    digits = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.target))
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    given = digits.target[train].copy()
    flipped = rng.random(len(given)) < FLIP
    given[flipped] = (given[flipped] + 1) % 10
    write(digits.images[train], given, out)
    write(digits.images[test], digits.target[test], out.with_name(out.name + "-test"))
    print(f"{out}: {len(train)} images, {flipped.sum()} filed under the next class; "
          f"{out.name}-test: {len(test)} images, labels true")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/myfolder"))
