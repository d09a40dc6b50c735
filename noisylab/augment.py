"""Batched random affine augmentation on the training device (no per-image PIL work)."""

from __future__ import annotations

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
    b = images.shape[0]
    u = torch.rand(b, 4, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1 + u[:, 1] * scale
    # affine_grid maps output to input coordinates, so the matrix is the inverse warp.
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, u[:, 2] * 2 * shift], 1),
         torch.stack([sin, cos, u[:, 3] * 2 * shift], 1)], 1,
    ).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
