"""Data sources as MNIST-style images with their given labels: ``load(name, ...)``.

>>> from noisylab.data import load
>>> data = load("digits")
>>> data.images.shape, data.images.dtype
(torch.Size([1797, 1, 28, 28]), torch.uint8)

Sources: ``trainPart1``, ``trainPart1-digits``, ``mnistTask3``, ``mnist``, ``digits`` and
``folder:PATH`` (see `SOURCES`), each a `Source` subclass in the module named after it, all
loaded the same way (``get_source(name).load(root, split, **options)``, which `load` calls).
Data root: ``root=`` > ``$NOISYLAB_DATA`` > ``./datasets``.
Decoded arrays are cached in ``$NOISYLAB_CACHE`` or ``~/.cache/noisylab``.

The names below are imported on first use, so ``import noisylab.data`` (and the torch-free
modules `noisylab.data.preprocess`, `noisylab.data.archive`) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "SOURCES": "noisylab.data.registry",
    "Source": "noisylab.data.base",
    "get_source": "noisylab.data.registry",
    "load": "noisylab.data.registry",
    "status": "noisylab.data.registry",
    "is_present": "noisylab.data.registry",
    "LabeledImages": "noisylab.data.base",
    "DataWarning": "noisylab.data.base",
    "cache_dir": "noisylab.data.cache",
    "resolve_root": "noisylab.data.roots",
}

__all__ = [
    "SOURCES",
    "DataWarning",
    "LabeledImages",
    "Source",
    "cache_dir",
    "get_source",
    "is_present",
    "load",
    "resolve_root",
    "status",
]

if TYPE_CHECKING:  # pragma: no cover
    from noisylab.data.base import DataWarning, LabeledImages, Source
    from noisylab.data.cache import cache_dir
    from noisylab.data.registry import SOURCES, get_source, is_present, load, status
    from noisylab.data.roots import resolve_root


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'noisylab.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
