"""Batched random affine augmentation on the training device (no per-image PIL work)."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    degrees: float = 10.0,
    scale: float = 0.1,
    shift: float = 0.1,
) -> torch.Tensor:
    """Rotate, scale and shift every image of a batch by its own random amount.

    No flips: characters are not mirror-symmetric (a flipped 'b' is a 'd').

    Parameters
    ----------
    images : Tensor of shape ``(B, C, H, W)``, float
        Ink on a zero background; the zero padding the warp brings in is background.
    generator : torch.Generator
        Source of randomness, on the CPU: the draws are tiny, and a CPU generator makes the
        same seed give the same augmentations on every device.
    degrees : float
        Rotation drawn uniformly from ``[-degrees, degrees]``.
    scale : float
        Zoom drawn uniformly from ``[1 - scale, 1 + scale]``.
    shift : float
        Translation drawn uniformly from ``[-shift, shift]`` of the image size, per axis.

    Returns
    -------
    Tensor of shape ``(B, C, H, W)``
    """
    u = torch.rand(images.shape[0], 4, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1 + u[:, 1] * scale
    # affine_grid maps output to input coordinates, so the matrix is the inverse warp.
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, u[:, 2] * 2 * shift], 1),
         torch.stack([sin, cos, u[:, 3] * 2 * shift], 1)], 1,
    ).to(images.device, images.dtype)
    b, _, h, w = images.shape
    grid = (_base_grid(h, w, images.device, images.dtype) @ theta.transpose(1, 2)).view(b, h, w, 2)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


@functools.lru_cache(maxsize=8)
def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Homogeneous pixel-centre coordinates ``(H*W, 3)`` in [-1, 1], as `F.affine_grid` uses.

    `F.affine_grid` rebuilds this for every batch and is the slowest step of the augmentation
    on a CPU (48 ms a batch of 128 here, against 12 ms for the sampling itself).
    """
    ys = (torch.arange(h, dtype=dtype, device=device) * 2 + 1) / h - 1
    xs = (torch.arange(w, dtype=dtype, device=device) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy, torch.ones_like(gx)], -1).view(h * w, 3)
