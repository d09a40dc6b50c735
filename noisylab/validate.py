"""Checks of option values shared by every command and by experiment files.

Each check raises one `NoisylabError` line naming the option, and is meant to run before any
work starts (loading data, creating a folder, training), so a typo costs nothing. On the
command line they run as click callbacks (`callback`), in the library at the top of the
function that takes the value.
"""

from __future__ import annotations

import csv
import gzip
import math
import zlib
from pathlib import Path

from noisylab.errors import NoisylabError
from noisylab.outputs import fs_error, shown

#: Seeds are ``0 <= seed < SEED_LIMIT``: NumPy's legacy generators and DataLoader workers take
#: 32-bit seeds.
SEED_LIMIT = 2**32
#: Largest trusted-label file read (MNIST's 60,000 labels are 60 KB).
TRUSTED_LIMIT = 64 * 2**20


def check_seed(value, *, name: str = "--seed") -> int:
    """``value`` as a seed: an integer with ``0 <= value < 2**32``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise NoisylabError(f"{name} must be an integer from 0 to {SEED_LIMIT - 1}, got {value!r}")
    return value


def check_count(value, *, name: str, minimum: int = 1) -> int:
    """``value`` as an integer of at least ``minimum`` (epochs, folds, a batch size)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NoisylabError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return value


def check_positive(value, *, name: str) -> float:
    """``value`` as a finite number above 0 (a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise NoisylabError(f"{name} must be a number above 0, got {value!r}")
    return float(value)


def check_checkpoint(path, *, name: str) -> None:
    """Refuse ``path`` unless it is a noisylab checkpoint (or a run folder holding one) whose
    files match their recorded hashes. Loads it (imports torch)."""
    from noisylab.checkpoints import load_checkpoint

    try:
        load_checkpoint(path)
    except NoisylabError as err:
        raise NoisylabError(f"{name} {shown(path)} is not a usable noisylab checkpoint: "
                            f"{err}") from None


def check_trusted_file(path, *, name: str = "--trusted") -> None:
    """Refuse ``path`` unless it reads as trusted labels: a CSV with ``id`` and ``label``
    columns, or an IDX labels file (``.gz`` or not) whose header matches its length.

    Reading it whole here, before an audit's cross-fit, means a damaged file (a bad CRC, a
    truncated archive) is said in one line at once instead of after minutes of work.
    """
    path = Path(path)
    if not path.is_file():
        raise NoisylabError(f"{name} {shown(path)}: no such file; name a labels file (IDX or CSV)")
    if path.suffix == ".csv":
        _check_label_csv(path, name)
        return
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read(TRUSTED_LIMIT + 1)
    except (EOFError, zlib.error, OSError) as err:
        why = " ".join(str(err).split()) or type(err).__name__
        raise NoisylabError(f"{name} {shown(path)} cannot be read ({why}): the file is damaged "
                            "or truncated; fetch it again") from None
    if len(raw) > TRUSTED_LIMIT:
        raise NoisylabError(f"{name} {shown(path)} holds more than {TRUSTED_LIMIT >> 20} MiB; a "
                            "labels file is far smaller")
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != 2049:
        raise NoisylabError(f"{name} {shown(path)} is neither an IDX labels file nor a .csv with "
                            "id,label columns")
    if int.from_bytes(raw[4:8], "big") != len(raw) - 8:
        raise NoisylabError(f"{name} {shown(path)} says it holds {int.from_bytes(raw[4:8], 'big')} "
                            f"labels but has {len(raw) - 8}: it is truncated; fetch it again")


def _check_label_csv(path: Path, name: str) -> None:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError as err:
        raise NoisylabError(f"{name} {shown(path)} is not UTF-8 text (byte "
                            f"0x{err.object[err.start]:02x}); save it as UTF-8") from None
    except OSError as err:
        raise fs_error(err, path, action="read") from None
    if not {"id", "label"} <= {h.strip() for h in header}:
        raise NoisylabError(f"{name} {shown(path)} has no id,label header (its first line: "
                            f"{shown(','.join(header))[:80]})")


def check_audit_options(*, folds, epochs, seed, reference=None, trusted=None) -> None:
    """The options of an audit, checked before its data is loaded or a fold is fitted:
    ``folds >= 2``, ``epochs`` None (the default) or ``>= 1``, a valid seed, a reference that
    is a noisylab checkpoint and trusted labels that read."""
    check_count(folds, name="--folds", minimum=2)
    if epochs is not None:
        check_count(epochs, name="--epochs")
    check_seed(seed)
    if reference is not None:
        check_checkpoint(reference, name="--reference")
    if trusted is not None:
        check_trusted_file(trusted)


def read_utf8(path, *, what: str) -> str:
    """The text of file ``path`` (e.g. an experiment's TOML), which must be UTF-8.

    Raises
    ------
    NoisylabError
        The file cannot be read, or holds bytes that are not UTF-8 (with the line they are on).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise fs_error(err, path, action=f"read {what}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise NoisylabError(f"{what} {shown(path)} is not UTF-8 text (byte "
                            f"0x{raw[err.start]:02x} on line {line}); save it as UTF-8") from None


def callback(check, **options):
    """A click option callback running ``check(value, name=<the option's flag>, **options)`` on
    a given value (None, an unset option, passes), so a bad value is refused while the command
    line is parsed, before the command does anything."""

    def run(ctx, param, value):
        if value is None:
            return value
        return check(value, name=param.opts[0] if param.opts else param.name, **options)

    return run

