"""Figures a person would rather look at than read: heatmaps, reliability diagrams, curves.

Every function writes one PNG and returns its path. Matplotlib runs with the Agg backend, so no
display is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def heatmap(
    matrix: np.ndarray,
    path: str | os.PathLike,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    xlabel: str,
    ylabel: str,
    fmt: str = ".2f",
    annotate: bool | None = None,
) -> Path:
    """An annotated heatmap of a ``(R, C)`` matrix (a transition or confusion matrix)."""
    matrix = np.asarray(matrix, dtype=float)
    r, c = matrix.shape
    annotate = (r * c <= 400) if annotate is None else annotate
    size = max(4.5, 0.45 * max(r, c) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(matrix, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(c), col_labels, fontsize=8 if c <= 20 else 5)
    ax.set_yticks(range(r), row_labels, fontsize=8 if r <= 20 else 5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if annotate:
        top = np.nanmax(matrix) if matrix.size else 0
        for i in range(r):
            for j in range(c):
                v = matrix[i, j]
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 * top else "white")
    return _save(fig, path)


def reliability_diagram(
    confidence: np.ndarray, accuracy: np.ndarray, count: np.ndarray, path, *, title: str
) -> Path:
    """Accuracy against confidence per bin (see `noisylab.metrics.reliability`), with the gap."""
    bins = len(count)
    centers = (np.arange(bins) + 0.5) / bins
    seen = count > 0
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.bar(centers[seen], accuracy[seen], width=1 / bins, edgecolor="black", alpha=0.8,
           label="accuracy")
    ax.bar(centers[seen], (confidence - accuracy)[seen], bottom=accuracy[seen], width=1 / bins,
           color="tab:red", alpha=0.35, label="gap to confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(fig, path)


def curves(
    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Line plots, one per name: ``(x, mean, half_width or None)``; a band where given."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, (x, y, band) in series.items():
        line, = ax.plot(x, y, marker="o", ms=3, label=name)
        if band is not None:
            ax.fill_between(x, y - band, y + band, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def image_grid(
    rows: Sequence[tuple[str, np.ndarray]], path, *, title: str, per_row: int = 12
) -> Path:
    """A grid of images: one row per ``(label, images (n, h, w) uint8)``, labelled on the left.

    The images are tiled into one mosaic array and drawn with a single ``imshow`` (one axes per
    image made a 10-row grid take 1.6 s; the mosaic takes a fraction of that).
    """
    rows = list(rows) or [("", np.zeros((0, 28, 28), np.uint8))]
    h, w = next((im.shape[1:] for _, im in rows if len(im)), (28, 28))
    pad = 2
    mosaic = np.full((len(rows) * (h + pad) + pad, per_row * (w + pad) + pad), 110, np.uint8)
    for r, (_, images) in enumerate(rows):
        for c, image in enumerate(images[:per_row]):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            mosaic[y:y + h, x:x + w] = image
    fig, ax = plt.subplots(figsize=(per_row * 0.6 + 1.2, len(rows) * 0.62 + 0.5))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(len(rows))],
                  [label for label, _ in rows], fontsize=8)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def captioned_grid(images: np.ndarray, captions: Sequence[str], colors: Sequence[str], path, *,
                   title: str, per_row: int = 12) -> Path:
    """Images ``(n, h, w)`` uint8 in rows of ``per_row``, each with a caption below it in its
    color (a matplotlib color name), drawn as one mosaic like `image_grid`."""
    n = len(images)
    h, w = images.shape[1:] if n else (28, 28)
    pad, below = 2, 12  # pixels between tiles, and under each for its caption
    rows = max(1, -(-n // per_row))
    mosaic = np.full((rows * (h + pad + below) + pad, per_row * (w + pad) + pad), 255, np.uint8)
    fig, ax = plt.subplots(figsize=(per_row * 0.62 + 0.4, rows * 0.85 + 0.5))
    for i, image in enumerate(images):
        r, c = divmod(i, per_row)
        y, x = pad + r * (h + pad + below), pad + c * (w + pad)
        mosaic[y:y + h, x:x + w] = image
        ax.text(x + w / 2, y + h + below / 2, captions[i], color=colors[i], fontsize=6.5,
                ha="center", va="center")
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def bars(values: dict[str, float], path, *, title: str, ylabel: str) -> Path:
    """A labelled bar chart (e.g. noise rate as noisylab and cleanlab estimate it)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(values) + 1), 3.6))
    names = list(values)
    heights = [values[n] for n in names]
    ax.bar(names, heights, color=[f"C{i}" for i in range(len(names))])
    for i, h in enumerate(heights):
        ax.text(i, h, f"{h:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    return _save(fig, path)


def mean_ci_bars(
    names: Sequence[str],
    means: Sequence[float],
    half_widths: Sequence[float],
    path,
    *,
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One bar per condition: its mean ``(C,)`` with a confidence interval ``(C,)`` (NaN: none)."""
    means = np.asarray(means, dtype=float)
    err = np.nan_to_num(np.asarray(half_widths, dtype=float))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names) + 1.5), 3.8))
    x = np.arange(len(names))
    ax.bar(x, means, yerr=err, capsize=5, color=[f"C{i}" for i in range(len(names))], alpha=0.85)
    for i, (m, e) in enumerate(zip(means, err, strict=True)):
        ax.text(i, m + e, f"{m:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, list(names), fontsize=8, rotation=15 if len(names) > 4 else 0)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
