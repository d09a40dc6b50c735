"""Turning one decoded image into an MNIST-style ``(28, 28)`` uint8 array.

MNIST was made like this (LeCun et al.): the ink of each digit was size-normalised to fit a
20x20 box, keeping its aspect ratio, with anti-aliasing (so edges are grey), then placed in a
28x28 field so that its centre of mass lies at the centre. White ink on black. The functions here
do the same to photos and scans of dark ink on light paper, and offer a second mode,
``"keep-size"``, that keeps the character's size relative to the page.

This module needs only numpy, scipy and Pillow, so it can run in worker processes cheaply.

An image whose header claims more than `MAX_PIXELS` (50 million) pixels is not decoded: it is
an unreadable file (`ImageDecodeError`), like a decompression bomb that Pillow itself refuses,
so one small file cannot cost gigabytes of memory. (The byte limit on the file itself is
`noisylab.data.archive.MAX_FILE_BYTES`.)
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from noisylab.data.archive import UnreadableFile
from noisylab.errors import NoisylabError

CANVAS = 28
"""Side of the output image, in pixels."""
BOX = 20
"""Side of the box the ink is fit into (MNIST: 20)."""
CENTRE = 14.0
"""Where the centre of mass lands, in pixel-index coordinates (MNIST's mean is 14.0, 14.0)."""

PREPROCESS_MODES = ("fit", "keep-size")
"""``"fit"``: crop to the ink and fit its longer side to 20 px (what MNIST did).
``"keep-size"``: one fixed scale per canvas, so small letters stay small (see `KEEP_SIZE_REFERENCE`)."""

KEEP_SIZE_REFERENCE = 0.72
"""Default reference box for ``"keep-size"``, as a fraction of the canvas's shorter side.

A character whose ink box's longer side is at most ``reference * min(canvas height, width)``
is scaled by ``20 / (reference * min(H, W))``, so its size relative to the page is kept; a bigger
one is fit into 20 px like ``"fit"``. For trainPart1 (1200x900 canvases) 0.72 is 648 px, the
95th percentile of the longer side of the ink box of digits and capitals there (the measurement
is in `noisylab.data.trainpart1`).
"""

PHOTO_OPTIONS = ("preprocess", "reference", "workers")
"""The load options of sources that read photos (`noisylab.data.base.Source.options`)."""


def check_photo_options(preprocess: str = "fit", reference: float = KEEP_SIZE_REFERENCE,
                        workers: int | None = None) -> None:
    """Refuse a preprocessing mode or a reference box that does not exist, in one line."""
    if preprocess not in PREPROCESS_MODES:
        raise NoisylabError(
            f"preprocess must be one of {', '.join(PREPROCESS_MODES)}; got {preprocess!r}"
        )
    if not 0.05 <= float(reference) <= 1.5:
        raise NoisylabError(
            f"reference must be a fraction of the page side in 0.05..1.5; got {reference!r}"
        )


MAX_PIXELS = 50_000_000
"""The most pixels (width x height) one image may have; a bigger one is an unreadable file."""

_WORK_SIDE = 225
"""Photos are box-averaged down to about this shorter side before thresholding (speed)."""


class ImageDecodeError(UnreadableFile):
    """An input file that is not a readable image, or holds no ink. The message says why."""


@dataclass(frozen=True)
class Ink:
    """The ink of one image at working resolution.

    Attributes
    ----------
    ink : np.ndarray
        float32 ``(h, w)`` in ``[0, 1]``; 1 is full ink, 0 paper; noise outside the kept strokes
        is zeroed.
    box : tuple of int
        ``(y0, y1, x0, x1)``, the ink's bounding box in ``ink`` (end-exclusive).
    factor : float
        Working pixels per original pixel (``<= 1``).
    canvas : tuple of int
        ``(H, W)`` of the original image.
    """

    ink: np.ndarray
    box: tuple[int, int, int, int]
    factor: float
    canvas: tuple[int, int]

    @property
    def box_size(self) -> tuple[float, float]:
        """Ink box ``(height, width)`` in original pixels."""
        y0, y1, x0, x1 = self.box
        return (y1 - y0) / self.factor, (x1 - x0) / self.factor

    @property
    def box_on_page(self) -> tuple[float, float, float, float]:
        """Ink box ``(top, bottom, left, right)`` as fractions of the page's height and width."""
        h, w = self.ink.shape
        y0, y1, x0, x1 = self.box
        return y0 / h, y1 / h, x0 / w, x1 / w


def open_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode bytes into a loaded PIL image, or raise `ImageDecodeError` saying why.

    The size in the header is checked against `MAX_PIXELS` before any pixel is decoded.
    """
    try:
        # Pillow's own bomb check warns first; as an error it stops the file here. (The
        # filter is process-wide while it lasts, and it only ever concerns this warning.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageDecodeError(f"{name}: too many pixels to decode ({err})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageDecodeError(
            f"{name}: not a readable image ({type(err).__name__}: {err})"
        ) from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ImageDecodeError(
            f"{name}: {w}x{h} pixels, over the limit of {MAX_PIXELS:,} pixels for one image"
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageDecodeError(
            f"{name}: not a readable image ({type(err).__name__}: {err})"
        ) from None
    return img


def to_gray(img: Image.Image) -> np.ndarray:
    """Grayscale uint8 ``(H, W)`` (ITU-R 601 luma, Pillow's ``convert("L")``)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.array(img, dtype=np.float64)
        top = a.max() or 1.0
        a /= top  # in place: a 50-megapixel image costs one float copy, not three
        a *= 255
        return np.round(a, out=a).astype(np.uint8)
    if img.mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.uint8)


def looks_dark_on_light(gray: np.ndarray) -> bool:
    """True when the image's frame (its outer tenth) is mostly light: dark ink on light paper."""
    h, w = gray.shape
    m = max(1, min(h, w) // 10)
    frame = np.concatenate(
        [gray[:m].ravel(), gray[-m:].ravel(), gray[:, :m].ravel(), gray[:, -m:].ravel()]
    )
    return float(np.median(frame)) > 127


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of uint8-range values."""
    hist = np.bincount(np.clip(values, 0, 255).astype(np.int64).ravel(), minlength=256)
    hist = hist.astype(np.float64)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = total - w0
    s0 = np.cumsum(hist * levels)
    mu0 = s0 / np.maximum(w0, 1)
    mu1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(np.argmax(between)) + 0.5


def working_gray(img: Image.Image) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Grayscale at working resolution: ``(gray, factor, (H, W))``.

    ``gray`` is uint8, box-averaged (Pillow's ``reduce``) down to a shorter side of about 225 px;
    ``factor`` is working pixels per original pixel; ``(H, W)`` the original size.
    """
    W, H = img.size
    r = max(1, min(H, W) // _WORK_SIDE)
    if img.mode in ("RGB", "L") and r > 1:
        img = img.reduce(r)  # box average in C, before the colour conversion: fast
        r_eff = W / img.size[0]
        return to_gray(img), 1.0 / r_eff, (H, W)
    gray = to_gray(img)
    if r > 1:
        gray = np.asarray(Image.fromarray(gray, mode="L").reduce(r))
        return gray, gray.shape[1] / W, (H, W)
    return gray, 1.0, (H, W)


def find_ink(
    gray: np.ndarray,
    *,
    dark_on_light: bool = True,
    factor: float = 1.0,
    canvas: tuple[int, int] | None = None,
    name: str = "image",
) -> Ink:
    """Locate the ink in a grayscale page, robustly to faint noise.

    Steps: invert when ``dark_on_light``; split ink from paper with Otsu's threshold and rescale
    so paper is 0 and ink 1 (the medians of each side; fails on a page with less than 24/255 of
    contrast); keep the connected ink blobs (ink > 0.5) that hold at least 0.5% of the ink (drops
    specks, keeps the dot of an i); zero everything farther than 1 px from them.

    Parameters
    ----------
    gray : np.ndarray
        uint8 ``(h, w)``, usually from `working_gray`.
    dark_on_light : bool
        True for black ink on white paper (photos, scans), False for MNIST-style images.
    factor, canvas
        As returned by `working_gray`; ``canvas`` defaults to ``gray.shape``.

    Raises
    ------
    ImageDecodeError
        When the image has no ink (a blank page).
    """
    g = gray.astype(np.float32)
    if dark_on_light:
        g = 255.0 - g
    t = _otsu(g)
    lo, hi = g[g < t], g[g >= t]
    if lo.size == 0 or hi.size == 0:
        raise ImageDecodeError(f"{name}: no ink found (blank image)")
    paper, ink_level = float(np.median(lo)), float(np.median(hi))
    if ink_level - paper < 24:
        raise ImageDecodeError(f"{name}: no ink found (contrast {ink_level - paper:.0f}/255)")
    ink = np.clip((g - paper) / (ink_level - paper), 0.0, 1.0).astype(np.float32)
    mask = ink > 0.5
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        raise ImageDecodeError(f"{name}: no ink found (blank image)")
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = np.zeros(n + 1, bool)
    keep[1:] = areas >= max(1.0, 0.005 * areas.sum())
    kept = keep[labels]
    ink = np.where(ndimage.binary_dilation(kept, iterations=1), ink, 0.0).astype(np.float32)
    rows, cols = np.nonzero(kept.any(axis=1))[0], np.nonzero(kept.any(axis=0))[0]
    box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    return Ink(ink=ink, box=box, factor=factor, canvas=canvas or (gray.shape[0], gray.shape[1]))


def place_by_centre_of_mass(patch: np.ndarray) -> np.ndarray:
    """Put ``patch`` (float ``(h, w)``, ``h, w <= 28``) in a 28x28 field, centre of mass at (14, 14).

    The shift is a whole number of pixels, as MNIST's was; it is clamped so the patch stays inside
    the field (a lopsided character is then slightly off centre rather than cut).
    """
    h, w = patch.shape
    out = np.zeros((CANVAS, CANVAS), np.float32)
    total = float(patch.sum())
    if total <= 0:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    else:
        cy = float((patch.sum(axis=1) * np.arange(h)).sum()) / total
        cx = float((patch.sum(axis=0) * np.arange(w)).sum()) / total
    oy = int(np.clip(round(CENTRE - cy), 0, CANVAS - h))
    ox = int(np.clip(round(CENTRE - cx), 0, CANVAS - w))
    out[oy : oy + h, ox : ox + w] = patch
    return out


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Anti-aliased resize of a float image (Lanczos; Pillow widens the kernel when shrinking)."""
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.clip(np.asarray(img.resize((w, h), Image.Resampling.LANCZOS)), 0.0, 1.0)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Stretch so the brightest pixel is 255 (as in every MNIST image) and round."""
    top = float(a.max())
    if top > 0:
        a = a / top
    return np.round(a * 255.0).astype(np.uint8)


def ink_to_mnist(
    ink: Ink, *, preprocess: str = "fit", reference: float = KEEP_SIZE_REFERENCE
) -> np.ndarray:
    """MNIST-style uint8 ``(28, 28)`` from located ink.

    Parameters
    ----------
    ink : Ink
        From `find_ink`.
    preprocess : {"fit", "keep-size"}
        ``"fit"``: the ink box's longer side becomes 20 px. ``"keep-size"``: scale by
        ``20 / (reference * min(H, W))`` for every image of the canvas, unless the box is bigger
        than that reference, in which case it is fit like ``"fit"``.
    reference : float
        Reference box side as a fraction of the canvas's shorter side (``"keep-size"`` only).
    """
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"preprocess must be one of {PREPROCESS_MODES}, got {preprocess!r}")
    y0, y1, x0, x1 = ink.box
    crop = ink.ink[y0:y1, x0:x1]
    bh, bw = crop.shape
    longer = max(bh, bw)
    if preprocess == "fit":
        scale = BOX / longer
    else:
        ref = reference * min(ink.canvas) * ink.factor  # in working pixels
        scale = BOX / max(longer, ref)
    th = int(min(BOX, max(1, round(bh * scale))))
    tw = int(min(BOX, max(1, round(bw * scale))))
    patch = _resize(crop, th, tw)
    return _to_uint8(place_by_centre_of_mass(patch))


def resize_to_28(gray: np.ndarray) -> np.ndarray:
    """Light-ink-on-dark image of another size: anti-aliased resize of the whole image to 28x28."""
    img = Image.fromarray(gray, mode="L")
    return np.asarray(img.resize((CANVAS, CANVAS), Image.Resampling.LANCZOS), dtype=np.uint8)


def photo_to_mnist_and_box(
    data: bytes,
    *,
    name: str = "image",
    preprocess: str = "fit",
    reference: float = KEEP_SIZE_REFERENCE,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Bytes of a dark-ink-on-light photo or scan -> MNIST-style uint8 ``(28, 28)``, and the
    ink box on the page (`Ink.box_on_page`): where the ink was and how big, which the 28x28
    image no longer tells."""
    gray, factor, canvas = working_gray(open_image(data, name))
    ink = find_ink(gray, factor=factor, canvas=canvas, name=name)
    return ink_to_mnist(ink, preprocess=preprocess, reference=reference), ink.box_on_page


CONVERSIONS = ("as is", "resized to 28x28", "photo: inverted, cropped, fit")
"""What `any_to_mnist` did to an image (its ``with_kind`` tag)."""


def any_to_mnist(
    data: bytes,
    *,
    name: str = "image",
    preprocess: str = "fit",
    reference: float = KEEP_SIZE_REFERENCE,
    with_kind: bool = False,
):
    """Bytes of any image in a class folder -> uint8 ``(28, 28)``, white ink on black.

    The rule (documented for ``folder:PATH``): convert to grayscale; if the frame is mostly light
    (dark ink on light paper) invert and preprocess like trainPart1 (`photo_to_mnist_and_box`);
    else if it is not 28x28, resize the whole image to 28x28 with anti-aliasing; else use it as
    is.
    With ``with_kind``, returns ``(image, kind)`` with ``kind`` one of `CONVERSIONS`.
    """
    img = open_image(data, name)
    gray, factor, canvas = working_gray(img)
    if looks_dark_on_light(gray):
        ink = find_ink(gray, factor=factor, canvas=canvas, name=name)
        out, kind = ink_to_mnist(ink, preprocess=preprocess, reference=reference), CONVERSIONS[2]
    else:
        if factor != 1.0:
            gray = to_gray(img)
        if gray.shape != (CANVAS, CANVAS):
            out, kind = resize_to_28(gray), CONVERSIONS[1]
        else:
            out, kind = np.array(gray, dtype=np.uint8), CONVERSIONS[0]
    return (out, kind) if with_kind else out


def ink_box_size(data: bytes, *, name: str = "image") -> tuple[float, float, int, int]:
    """``(box height, box width, canvas height, canvas width)`` of a dark-on-light image, in pixels."""
    gray, factor, canvas = working_gray(open_image(data, name))
    ink = find_ink(gray, factor=factor, canvas=canvas, name=name)
    bh, bw = ink.box_size
    return bh, bw, ink.canvas[0], ink.canvas[1]
