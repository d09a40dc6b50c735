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


def test_elastic_field_is_smooth_scaled_and_seeded():
    from noisylab.augment import elastic_displacement

    a = elastic_displacement(16, 28, 28, torch.Generator().manual_seed(0), alpha=34, sigma=4)
    b = elastic_displacement(16, 28, 28, torch.Generator().manual_seed(0), alpha=34, sigma=4)
    assert a.shape == (16, 28, 28, 2) and torch.equal(a, b)
    pixels = a * 14  # back from [-1, 1] grid units to pixels (2 / 28 a pixel)
    # Neighbours move together: a pixel-to-pixel step is far smaller than the displacement.
    step = (pixels[:, 1:] - pixels[:, :-1]).abs().mean()
    assert step < 0.2 * pixels.abs().mean()
    # The size is alpha's: twice alpha, twice the displacement; and about a pixel at 34.
    double = elastic_displacement(16, 28, 28, torch.Generator().manual_seed(0), alpha=68, sigma=4)
    assert torch.allclose(double, 2 * a)
    assert 0.3 < float(pixels.abs().mean()) < 3


def test_elastic_zero_leaves_the_affine_draws_alone_and_nonzero_bends_the_ink():
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 4:24, 12:16] = 1.0  # a vertical bar
    plain = random_affine(x, torch.Generator().manual_seed(3))
    zero = random_affine(x, torch.Generator().manual_seed(3), elastic=0.0)
    bent = random_affine(x, torch.Generator().manual_seed(3), elastic=34.0)
    assert torch.equal(plain, zero)
    assert not torch.allclose(bent, plain, atol=1e-3)
    # Ink is moved, not created or lost: a stretch here is a squeeze there, so over the batch
    # the total stays (one image may gain or lose half its ink at this strength).
    assert abs(float(bent.sum() / x.sum()) - 1) < 0.05


def _bar_batch(n=64):
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 4:24, 12:16] = 1.0  # a vertical bar
    return x


def _column_of_mass(rows):
    cols = torch.arange(28, dtype=torch.float32)
    return (rows.sum(2) * cols).sum(-1) / rows.sum((2, 3))


def test_shear_slants_the_bar_and_zero_shear_draws_nothing():
    x = _bar_batch()
    still = dict(degrees=0, scale=0, shift=0)
    plain = random_affine(x, torch.Generator().manual_seed(5), **still)
    zero = random_affine(x, torch.Generator().manual_seed(5), **still, shear=0.0, stretch=0.0)
    assert torch.equal(plain, zero)
    slanted = random_affine(x, torch.Generator().manual_seed(5), **still, shear=0.4)
    # The top and the bottom of a slanted bar sit in different columns, by up to 0.4 * 20 px.
    lean = _column_of_mass(slanted[:, :, 4:9]) - _column_of_mass(slanted[:, :, 19:24])
    assert float(lean.abs().max()) > 3 and float(lean.abs().max()) < 0.4 * 20 + 1
    assert bool((lean > 1).any() and (lean < -1).any())  # both directions drawn
    assert float(_column_of_mass(plain[:, :, 4:9]).sub(_column_of_mass(plain[:, :, 19:24]))
                 .abs().max()) < 1e-3


def test_stretch_changes_the_width_not_the_height():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 8:20, 8:20] = 1.0  # a 12x12 square
    wide = random_affine(x, torch.Generator().manual_seed(6), degrees=0, scale=0, shift=0,
                         stretch=0.3)
    width = (wide[:, 0].sum(1) > 0.5).sum(-1).float()  # columns with ink
    height = (wide[:, 0].sum(2) > 0.5).sum(-1).float()  # rows with ink
    assert torch.all(height == 12)
    assert float(width.min()) < 11 and float(width.max()) > 13
    assert float(width.min()) >= 12 * 0.7 - 1 and float(width.max()) <= 12 * 1.3 + 1


def test_stroke_width_thickens_and_thins_within_a_pixel():
    from noisylab.augment import random_stroke_width

    x = _bar_batch()  # 4 px wide
    y = random_stroke_width(x, torch.Generator().manual_seed(7), amount=1.0)
    ink = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert bool((ink > 1.2).any() and (ink < 0.8).any())  # both ways drawn
    # At most one pixel more (a 6x22 bar) or less (a 2x18 bar) around the whole bar.
    assert float(ink.max()) <= 6 * 22 / 80 + 1e-5 and float(ink.min()) >= 2 * 18 / 80 - 1e-5
    assert torch.equal(random_stroke_width(x, torch.Generator().manual_seed(7), amount=0.0), x)
