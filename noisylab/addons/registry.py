"""Add-ons by name: what a recipe, ``--addon NAME`` and an experiment's ``addons`` refer to.

The add-on packages shipped with noisylab (`BUILTIN`) register their add-ons when first
needed; another package registers its own with `register` (a class decorator) before training.
Torch-free.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from pathlib import Path

from noisylab.addons.base import PredictionAdjuster, SideInputProvider
from noisylab.errors import NoisylabError

BUILTIN = ("noisylab.addons.writers",)
"""The add-on packages that come with noisylab, imported on the first lookup."""

_REGISTRY: dict[str, type] = {}
_LEGACY: dict[str, tuple[str, str]] = {}
_loaded = False

NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
"""What an add-on's name looks like: lower case letters, digits and dashes."""


def register(cls: type) -> type:
    """Class decorator: add a `SideInputProvider` or `PredictionAdjuster` subclass under its
    ``name``. Registering the same class again is harmless; another class under a taken name
    is a ValueError."""
    if not (isinstance(cls, type) and issubclass(cls, (SideInputProvider, PredictionAdjuster))):
        raise TypeError(f"{cls!r} is neither a SideInputProvider nor a PredictionAdjuster")
    if not NAME.fullmatch(cls.name or ""):
        raise ValueError(f"{cls.__name__}.name {cls.name!r} is not a valid add-on name "
                         "(lower case letters, digits and dashes)")
    if _REGISTRY.get(cls.name, cls) is not cls:
        raise ValueError(f"an add-on named {cls.name!r} is already registered "
                         f"({_REGISTRY[cls.name].__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove an add-on (for tests that register a toy one)."""
    _REGISTRY.pop(name, None)


def register_legacy_architecture(old: str, arch: str, provider: str) -> None:
    """Declare that checkpoints of the architecture named ``old`` are models of ``arch`` that
    read the side inputs of ``provider``, whose metadata ``side_inputs`` is the provider's bare
    state (see `upgrade_metadata`)."""
    _LEGACY[old] = (arch, provider)


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(module)


def registered() -> dict[str, type]:
    """``{name: class}`` of every add-on, in the order they were registered."""
    _load_builtin()
    return dict(_REGISTRY)


def get(name: str) -> type:
    """The add-on class named ``name``.

    Raises
    ------
    NoisylabError
        When no add-on has that name (the message lists those that exist).
    """
    known = registered()
    if name not in known:
        raise NoisylabError(f"unknown add-on {name!r}; known: {', '.join(known) or 'none'}")
    return known[name]


def is_side_input(name: str) -> bool:
    """Whether the add-on ``name`` is a `SideInputProvider` (else a `PredictionAdjuster`)."""
    return issubclass(get(name), SideInputProvider)


def parse_names(text: str) -> tuple[str, ...]:
    """Add-on names from ``"a, b"`` or ``"a b"`` (an experiment file's ``addons``); ``""`` is
    none. Each must exist."""
    names = tuple(n for n in re.split(r"[,\s]+", text.strip()) if n)
    for name in names:
        get(name)
    return names


def resolve(base: Iterable[str], on: Iterable[str] = (), off: Iterable[str] = ()
            ) -> tuple[str, ...]:
    """The add-ons a run uses: ``base`` (a recipe's), plus ``on``, minus ``off``, in that order.

    Raises
    ------
    NoisylabError
        When a name is unknown, a name is both turned on and off, or more than one side-input
        provider remains (a model reads one).
    """
    base, on, off = tuple(base), tuple(on), tuple(off)
    for name in (*base, *on, *off):
        get(name)
    both = sorted(set(on) & set(off))
    if both:
        raise NoisylabError(f"the add-on {both[0]} is both asked for (--addon) and turned off "
                            "(--no-addon); give one")
    names = tuple(dict.fromkeys(n for n in (*base, *on) if n not in off))
    providers = [n for n in names if is_side_input(n)]
    if len(providers) > 1:
        raise NoisylabError(f"a model reads the side inputs of one add-on, and {', '.join(providers)} "
                            f"all give some; turn all but one off (--no-addon {providers[-1]})")
    return names


def side_input_from_record(record: dict) -> SideInputProvider:
    """The fitted provider a checkpoint's metadata ``side_inputs`` record describes.

    Raises
    ------
    NoisylabError
        When the record is not one (`SideInputProvider.record`), names an unknown add-on, or
        its state does not load.
    """
    if not isinstance(record, dict) or "addon" not in record or "state" not in record:
        raise NoisylabError("the checkpoint's side_inputs record does not say which add-on made "
                            "them; train it again")
    cls = get(record["addon"])
    if not issubclass(cls, SideInputProvider):
        raise NoisylabError(f"the add-on {cls.name} gives no side inputs")
    try:
        return cls.from_dict(record["state"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise NoisylabError(f"the checkpoint's side inputs of the add-on {cls.name} do not load "
                            f"({type(err).__name__}: {err}); train it again") from None


def upgrade_metadata(meta: dict) -> dict:
    """Checkpoint metadata in today's form: an architecture an add-on declared legacy
    (`register_legacy_architecture`) becomes its plain architecture, and its bare side-input
    state a record naming the add-on. Other metadata is returned as it is."""
    _load_builtin()
    if meta.get("architecture") not in _LEGACY:
        return meta
    arch, provider = _LEGACY[meta["architecture"]]
    meta = {**meta, "architecture": arch}
    side = meta.get("side_inputs")
    if isinstance(side, dict) and "addon" not in side:
        meta["side_inputs"] = {"addon": provider, "state": side}
    if isinstance(meta.get("config"), dict):
        meta["config"] = {k: arch if k in ("arch", "distill_arch") and v in _LEGACY else v
                          for k, v in meta["config"].items()}
    return meta


def adjuster_files() -> dict[str, str]:
    """``{name: file name}`` of every registered adjuster's state in a run folder."""
    return {name: cls.filename() for name, cls in registered().items()
            if issubclass(cls, PredictionAdjuster)}


def saved_adjusters(paths: Iterable, *, use: Iterable[str] = (), off: Iterable[str] = ()
                    ) -> list[tuple[PredictionAdjuster, Path]]:
    """The adjusters whose saved state is in the run folders ``paths`` name (or beside the
    checkpoints they name), in registry order, but those in ``off``; with their files.

    Raises
    ------
    NoisylabError
        When an add-on in ``use`` or ``off`` is unknown, one in ``use`` is not an adjuster or
        has no saved state there, or a saved state does not load.
    """
    from noisylab.files import find_beside

    paths, use, off = list(paths), tuple(use), set(off)
    resolve((), use, off)  # known names, none both on and off
    found = []
    for name, cls in registered().items():
        if issubclass(cls, SideInputProvider):
            if name in use:
                raise NoisylabError(f"the add-on {name} gives side inputs, which a model reads "
                                    "as it was trained; --addon on evaluate names adjusters")
            continue
        if name in off:
            continue
        path = find_beside(paths, cls.filename())
        if path is None:
            if name in use:
                raise NoisylabError(f"the run has no saved state of the add-on {name} "
                                    f"({cls.filename()}); train it with --addon {name}")
            continue
        found.append((cls.load(path), path))
    return found
