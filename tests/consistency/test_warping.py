"""backward_warp / warp_binary_mask against analytic shifts, exact identities and finite differences."""

import math

import pytest
import torch

from handobjectconsist.consistency.warping import backward_warp, pixel_grid, warp_binary_mask


def smooth_image(u, v):
    """A smooth analytic 3-channel image f(u, v) (low frequencies so bilinear interpolation error is tiny)."""
    return torch.stack(
        [
            torch.sin(0.011 * u + 0.3) * torch.cos(0.013 * v),
            0.002 * u - 0.003 * v + 0.0001 * u * v,  # bilinear in (u, v): interpolated exactly
            torch.cos(0.009 * (u + v)),
        ],
        dim=0,
    )


def image_on_grid(height, width, dtype=torch.float64, device="cpu"):
    grid = pixel_grid(height, width, dtype=dtype, device=device)
    return smooth_image(grid[0], grid[1]).unsqueeze(0)


@pytest.mark.parametrize("size", [(17, 23), (270, 480), (135, 240)])
def test_zero_flow_is_exact_identity(size, device):
    torch.manual_seed(0)
    image = torch.rand(2, 3, *size, device=device)
    warped, valid = backward_warp(image, torch.zeros(2, 2, *size, device=device))
    assert torch.equal(warped, image)
    assert bool(valid.all())


@pytest.mark.parametrize("shift", [(3, -2), (-5, 4), (0, 1)])
def test_integer_shift_is_exact_pixel_shift(shift, device):
    torch.manual_seed(1)
    dx, dy = shift
    height, width = 12, 15
    image = torch.rand(1, 3, height, width, device=device)
    flow = torch.zeros(1, 2, height, width, device=device)
    flow[:, 0], flow[:, 1] = dx, dy
    warped, valid = backward_warp(image, flow)
    for i in range(height):
        for j in range(width):
            inside = 0 <= i + dy < height and 0 <= j + dx < width
            assert bool(valid[0, 0, i, j]) == inside
            if inside:
                assert torch.allclose(warped[0, :, i, j], image[0, :, i + dy, j + dx], atol=1e-6)
            else:
                assert bool((warped[0, :, i, j] == 0).all())


@pytest.mark.parametrize("shift", [(2.0, -3.0), (0.37, 0.81), (-4.25, 1.5)])
def test_subpixel_shift_matches_analytic_shifted_image(shift, device):
    height, width = 40, 50
    dx, dy = shift
    image = image_on_grid(height, width, device=device)
    flow = torch.zeros(1, 2, height, width, dtype=torch.float64, device=device)
    flow[:, 0], flow[:, 1] = dx, dy
    warped, valid = backward_warp(image, flow)
    grid = pixel_grid(height, width, dtype=torch.float64, device=device)
    expected = smooth_image(grid[0] + dx, grid[1] + dy).unsqueeze(0)
    interior = valid.bool().expand_as(warped)
    assert interior.sum() > 0.7 * warped.numel()
    assert (warped - expected)[interior].abs().max() < 1e-4


def test_affine_flow_matches_analytic_resampling(device):
    height, width = 36, 48
    image = image_on_grid(height, width, device=device)
    grid = pixel_grid(height, width, dtype=torch.float64, device=device)
    angle = math.radians(7.0)
    centre_u, centre_v = 24.0, 18.0
    # sample point q = R (p - c) * 0.9 + c + t
    du, dv = grid[0] - centre_u, grid[1] - centre_v
    q_u = 0.9 * (math.cos(angle) * du - math.sin(angle) * dv) + centre_u + 1.3
    q_v = 0.9 * (math.sin(angle) * du + math.cos(angle) * dv) + centre_v - 0.6
    flow = torch.stack([q_u - grid[0], q_v - grid[1]]).unsqueeze(0)
    warped, valid = backward_warp(image, flow)
    expected = smooth_image(q_u, q_v).unsqueeze(0)
    inside = (q_u >= 0) & (q_u <= width - 1) & (q_v >= 0) & (q_v <= height - 1)
    assert torch.equal(valid[0, 0].bool(), inside)
    assert (warped - expected)[valid.bool().expand_as(warped)].abs().max() < 1e-4


def test_validity_mask_is_exactly_the_in_image_region(device):
    torch.manual_seed(2)
    height, width = 10, 13
    flow = (torch.rand(3, 2, height, width, device=device) - 0.5) * 8
    _, valid = backward_warp(torch.rand(3, 1, height, width, device=device), flow)
    grid = pixel_grid(height, width, device=device)
    q = grid.unsqueeze(0) + flow
    expected = (q[:, 0] >= 0) & (q[:, 0] <= width - 1) & (q[:, 1] >= 0) & (q[:, 1] <= height - 1)
    border_distance = torch.stack(
        [q[:, 0].abs(), (q[:, 0] - (width - 1)).abs(), q[:, 1].abs(), (q[:, 1] - (height - 1)).abs()]
    ).amin(0)
    decided = border_distance > 1e-4  # points closer than the 1e-5 support tolerance are ambiguous by design
    assert torch.equal(valid[:, 0].bool()[decided], expected[decided])


def test_bilinear_warp_gradient_matches_finite_differences(device):
    torch.manual_seed(3)
    image = torch.rand(1, 2, 6, 7, dtype=torch.float64, requires_grad=True, device=device)
    # keep sample points strictly inside and away from integer coordinates, where bilinear is not differentiable
    flow = torch.full((1, 2, 6, 7), 0.3, dtype=torch.float64, device=device)
    flow[:, :, 1:-1, 1:-1] += torch.rand(1, 2, 4, 5, dtype=torch.float64, device=device) * 0.3
    flow[:, :, -1, :] -= 1.0
    flow[:, :, :, -1] -= 1.0
    flow.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda img, fl: backward_warp(img, fl)[0], (image, flow))


def test_warp_binary_mask_requires_full_support(device):
    height, width = 8, 10
    mask = torch.ones(1, 1, height, width, device=device)
    mask[..., :, :2] = 0  # padding on the two leftmost columns
    flow = torch.zeros(1, 2, height, width, device=device)
    flow[:, 0] = -0.5
    kept = warp_binary_mask(mask, flow)
    # sample column j - 0.5 mixes columns j-1 and j: all support inside the unpadded region needs j-1 >= 2
    expected = torch.zeros(height, width, device=device)
    expected[:, 3:] = 1
    assert torch.equal(kept[0, 0], expected)
    flow[:, 0] = 2.0
    kept = warp_binary_mask(mask, flow)
    expected = torch.zeros(height, width, device=device)
    expected[:, : width - 2] = 1
    assert torch.equal(kept[0, 0], expected)


def test_warp_binary_mask_keeps_fractional_samples_inside_real_pixels(device):
    # Bilinear weights of a fractional sample do not always sum to exactly 1.0 in float32 (a few of these samples
    # give 0.99999994); the 1e-5 tolerance keeps them, an exact "== 1" test would not.
    torch.manual_seed(0)
    mask = torch.ones(1, 1, 20, 30, device=device)
    flow = torch.rand(1, 2, 20, 30, device=device) * 4 - 2
    warped, valid = backward_warp(mask, flow)
    assert bool((warped[valid > 0] != 1).any())  # the case the tolerance exists for does occur here
    assert torch.equal(warp_binary_mask(mask, flow), valid)


def test_mismatched_shapes_are_reported(device):
    with pytest.raises(ValueError, match="flow"):
        backward_warp(torch.zeros(1, 3, 4, 5, device=device), torch.zeros(1, 2, 4, 6, device=device))


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_matches_grid_sample_align_corners_true(mode, device):
    torch.manual_seed(4)
    height, width = 9, 14
    image = torch.rand(2, 3, height, width, dtype=torch.float64, device=device)
    flow = (torch.rand(2, 2, height, width, dtype=torch.float64, device=device) - 0.5) * 6
    if mode == "nearest":  # keep away from rounding ties
        flow = flow.round() + 0.3
    warped, valid = backward_warp(image, flow, mode=mode)
    q = pixel_grid(height, width, dtype=torch.float64, device=device).unsqueeze(0) + flow
    grid = torch.stack([2 * q[:, 0] / (width - 1) - 1, 2 * q[:, 1] / (height - 1) - 1], dim=-1)
    reference = torch.nn.functional.grid_sample(image, grid, mode=mode, padding_mode="zeros", align_corners=True)
    ones = torch.nn.functional.grid_sample(
        torch.ones_like(image[:, :1]), grid, mode=mode, padding_mode="zeros", align_corners=True
    )
    assert torch.equal(valid.bool(), ones >= 1 - 1e-5)
    assert torch.allclose(warped, reference * valid, atol=1e-12)
