"""Augmentation geometry and sampling (against kornia, analytic answers, statistics) and the uint8 photometric
operations (against torchvision's float definitions on the same factors)."""

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as tvf
from kornia.geometry.transform import warp_affine

from handobjectconsist.datasets.augment import (
    ColorAugm,
    SpaceAugm,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    affine_matrix,
    apply_blur,
    apply_color,
    integer_shift_image,
    sample_blur_sigma,
    sample_color_augm,
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


def _smooth_frame(seed: int, size=(270, 480)) -> np.ndarray:
    """(H, W, 3) uint8 test frame: coarse random colours upsampled (edges and gradients like a photograph)."""
    coarse = np.random.default_rng(seed).uniform(0, 255, size=(9, 16, 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, size[::-1], interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def _torchvision_float(frame: np.ndarray, op, *args) -> np.ndarray:
    """Reference: torchvision's float op on the frame in [0, 1], back in 0..255 units (float64, unrounded)."""
    image = torch.from_numpy(frame).permute(2, 0, 1).double().div(255.0)
    return op(image, *args).clamp(0, 1).mul(255.0).permute(1, 2, 0).numpy()


def _mad(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours.astype(np.float64) - reference).mean())


def test_color_identity_is_exact():
    frame = _smooth_frame(0)
    assert np.array_equal(apply_color(frame, ColorAugm()), frame)
    assert np.array_equal(apply_blur(frame, 0.0), frame)


@pytest.mark.parametrize("op, ours, factors", [
    (tvf.adjust_brightness, adjust_brightness, (0.5, 0.8, 1.3, 1.5)),
    (tvf.adjust_contrast, adjust_contrast, (0.5, 0.8, 1.3, 1.5)),
    (tvf.adjust_saturation, adjust_saturation, (0.5, 0.8, 1.3, 1.5)),
    (tvf.adjust_hue, adjust_hue, (-0.15, -0.04, 0.07, 0.15)),
])
def test_uint8_color_ops_match_torchvision_float_ops(op, ours, factors):
    # Each uint8 operation against torchvision's float definition on the same factor: below 1/255 on average.
    for seed, factor in enumerate(factors):
        frame = _smooth_frame(seed)
        out = ours(frame, factor)
        assert out.dtype == np.uint8 and out.shape == frame.shape
        assert _mad(out, _torchvision_float(frame, op, factor)) < 1.0, (op.__name__, factor)


def test_blur_matches_torchvision_gaussian_blur():
    frame = _smooth_frame(3)
    for sigma in (0.1, 0.3, 0.5):
        size = 2 * int(np.ceil(3 * sigma)) + 1
        reference = _torchvision_float(frame, tvf.gaussian_blur, [size, size], [sigma, sigma])
        assert _mad(apply_blur(frame, sigma), reference) < 0.5
        assert np.abs(apply_blur(frame, sigma).astype(np.float64) - reference).max() <= 1.0


def test_drawn_augmentation_matches_the_float_pipeline():
    # The whole photometric augmentation as drawn in training (blur, then the four factors in a random order) against
    # the same draws through torchvision's float ops: a few 1/255 at most on average.
    rng = np.random.default_rng(0)
    float_ops = (tvf.adjust_brightness, tvf.adjust_contrast, tvf.adjust_saturation, tvf.adjust_hue)
    for seed in range(8):
        frame = _smooth_frame(10 + seed)
        color, sigma = sample_color_augm(rng), sample_blur_sigma(rng)
        image = torch.from_numpy(frame).permute(2, 0, 1).double().div(255.0)
        if sigma >= 0.05:
            size = 2 * int(np.ceil(3 * sigma)) + 1
            image = tvf.gaussian_blur(image, [size, size], [sigma, sigma])
        factors = (color.brightness, color.contrast, color.saturation, color.hue)
        for i in color.order:
            image = float_ops[i](image, factors[i])
        reference = image.clamp(0, 1).mul(255.0).permute(1, 2, 0).numpy()
        assert _mad(apply_color(apply_blur(frame, sigma), color), reference) < 2.0, (seed, color, sigma)
