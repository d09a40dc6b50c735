"""The batched affine augmentation: same geometry as torch's affine_grid, seeded, no flips."""

import torch
import torch.nn.functional as F

from noisylab.augment import _base_grid, random_affine


def test_grid_matches_affine_grid():
    theta = torch.randn(6, 2, 3)
    ours = (_base_grid(28, 20, torch.device("cpu"), torch.float32) @ theta.transpose(1, 2))
    ref = F.affine_grid(theta, [6, 1, 28, 20], align_corners=False)
    assert torch.allclose(ours.view(6, 28, 20, 2), ref, atol=1e-5)


def test_zero_strength_is_identity_and_seed_repeats():
    x = torch.rand(8, 1, 28, 28)
    same = random_affine(x, torch.Generator().manual_seed(0), degrees=0, scale=0, shift=0)
    assert torch.allclose(same, x, atol=1e-5)
    a = random_affine(x, torch.Generator().manual_seed(1))
    b = random_affine(x, torch.Generator().manual_seed(1))
    c = random_affine(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_warps_stay_small_and_never_mirror():
    # A bar on the left half: a mirror would move it to the right half.
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 6:22, 4:9] = 1.0
    y = random_affine(x, torch.Generator().manual_seed(0))
    left, right = y[..., :14].sum((1, 2, 3)), y[..., 14:].sum((1, 2, 3))
    assert bool((left > 5 * right).all())
    assert torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.3)
