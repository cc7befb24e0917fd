"""Augmentation geometry and sampling, checked against kornia, analytic answers and statistics."""

import numpy as np
import torch
from kornia.geometry.transform import warp_affine

from handobjectconsist.datasets.augment import (
    ColorAugm,
    SpaceAugm,
    affine_matrix,
    apply_color,
    integer_shift_image,
    sample_space_augm,
    warp_image,
)


def test_no_jitter_is_identity_and_integer_shift_matches_grid_sample():
    image = torch.rand(3, 12, 17)
    assert np.allclose(affine_matrix(SpaceAugm(), (17, 12), (17, 12)), np.eye(3))
    space = SpaceAugm(center_shift=(3, -2))
    affine = affine_matrix(space, (17, 12), (17, 12))
    assert np.allclose(affine[:2, 2], [-3, 2])  # content moves opposite to the crop centre
    fast, fast_mask = integer_shift_image(image, space.center_shift)
    slow, slow_mask = warp_image(image, affine, (17, 12))
    assert torch.allclose(fast, slow, atol=1e-6) and torch.equal(fast_mask, slow_mask)
    # output(u, v) = input(u + 3, v - 2): output row 5, col 0 is input row 3, col 3.
    assert torch.equal(fast[:, 5, 0], image[:, 3, 3])
    assert fast_mask[0, :2].sum() == 0 and fast_mask[0, :, -3:].sum() == 0 and fast_mask.sum() == (17 - 3) * (12 - 2)


def test_zoom_warp_matches_kornia():
    image = torch.rand(3, 20, 30)
    affine = affine_matrix(SpaceAugm(center_shift=(2, 1), scale=0.8), (30, 20), (30, 20))
    ours, mask = warp_image(image, affine, (30, 20))
    ref = warp_affine(image[None], torch.as_tensor(affine[:2], dtype=torch.float32)[None], (20, 30),
                      align_corners=True)[0]
    inside = mask[0] > 0
    assert inside.sum() > 0.5 * inside.numel()
    assert torch.allclose(ours[:, inside], ref[:, inside], atol=1e-5)
    # The zoom about the shifted centre: the input point c0 + shift lands on the output centre.
    centre_in = np.array([(30 - 1) / 2 + 2, (20 - 1) / 2 + 1, 1.0])
    assert np.allclose(affine @ centre_in, [(30 - 1) / 2, (20 - 1) / 2, 1.0])
    assert np.isclose(affine[0, 0], 1 / 0.8)


def test_intrinsics_follow_the_affine():
    # Projecting with affine @ K equals applying the affine to the projected pixels.
    K = np.array([[100.0, 0, 30], [0, 100.0, 20], [0, 0, 1]])
    points = np.random.default_rng(0).uniform([-0.1, -0.1, 0.4], [0.1, 0.1, 0.6], size=(10, 3))
    affine = affine_matrix(SpaceAugm(center_shift=(5, -4), scale=1.2), (64, 48), (64, 48))
    proj = points @ (affine @ K).T
    uv_new = proj[:, :2] / proj[:, 2:]
    uv = points @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    uv_affine = uv @ affine[:2, :2].T + affine[:2, 2]
    assert np.allclose(uv_new, uv_affine)


def test_space_jitter_ranges_and_unbiased_scale():
    rng = np.random.default_rng(0)
    draws = [sample_space_augm(rng, (480, 270), 0.1, 0.2) for _ in range(4000)]
    shifts = np.array([d.center_shift for d in draws])
    scales = np.array([d.scale for d in draws])
    assert shifts.dtype.kind == "i" and np.abs(shifts).max() <= 48 and np.abs(shifts).max() >= 45
    assert scales.min() >= 0.8 and scales.max() <= 1.2
    assert abs(scales.mean() - 1.0) < 0.01  # upstream clip(sj * (N + 1), ...) would be ~0.8


def test_color_identity_and_brightness():
    image = torch.rand(3, 8, 8) * 0.5
    assert torch.allclose(apply_color(image, ColorAugm()), image, atol=1e-6)
    assert torch.allclose(apply_color(image, ColorAugm(brightness=1.5)), image * 1.5, atol=1e-6)
