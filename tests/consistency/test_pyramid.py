"""Pyramid of the photometric loss: area-downsampled levels, their intrinsics and masks, and the averaged loss."""

import pytest
import torch

from handobjectconsist.consistency import mesh_pair_flow, pair_photometric_loss
from handobjectconsist.consistency.pyramid import check_scales, downsample_frame, level_size, pyramid_pair_loss
from tests.consistency.consistency_scenes import grid_plane, intrinsics, project


def test_factor_one_returns_the_frames_themselves():
    image, mask, K = torch.rand(2, 3, 6, 8), torch.ones(2, 1, 6, 8), intrinsics(10.0, 3.5, 2.5, batch=2)
    out = downsample_frame(image, mask, K, 1)
    assert out[0] is image and out[1] is mask and out[2] is K


def test_level_is_the_box_average_with_its_intrinsics_and_mask():
    image = torch.rand(1, 3, 6, 8, dtype=torch.float64)
    mask = torch.ones(1, 1, 6, 8, dtype=torch.float64)
    mask[0, 0, 5, 0] = 0  # one padding pixel: its 2x2 box is padding at the level
    K = intrinsics(20.0, 3.7, 2.2)
    small, small_mask, small_K = downsample_frame(image, mask, K, 2)
    assert small.shape == (1, 3, 3, 4) and small_mask.shape == (1, 1, 3, 4)
    boxes = image.reshape(1, 3, 3, 2, 4, 2).mean(dim=(3, 5))
    torch.testing.assert_close(small, boxes)
    expected_mask = torch.ones(1, 1, 3, 4, dtype=torch.float64)
    expected_mask[0, 0, 2, 0] = 0
    assert torch.equal(small_mask, expected_mask)
    # a point's projection at the level is the centre of the same place: (u + 0.5) / 2 - 0.5
    point = torch.tensor([[0.01, -0.02, 0.5]], dtype=torch.float64)
    full, level = project(point, K[0]), project(point, small_K[0])
    torch.testing.assert_close(level, (full + 0.5) / 2 - 0.5)


def test_level_size_rounds_and_scales_are_checked():
    assert level_size(270, 480, 4) == (68, 120) and level_size(270, 480, 2) == (135, 240)
    assert check_scales([1, 2, 4]) == (1, 2, 4)
    for bad in ([], [0], [1, 1], [2, -1]):
        with pytest.raises(ValueError, match="distinct integers"):
            check_scales(bad)


def _plane_pair(height=32, width=48, offset=0.1):
    """A textured fronto-parallel plane seen twice by the same camera, the reference image brighter by `offset`:
    the flow is exactly zero and the photometric error exactly `offset` at every covered pixel."""
    verts, faces = grid_plane(0.05, 0.04, 0.3, 4, dtype=torch.float32)
    K = intrinsics(200.0, (width - 1) / 2, (height - 1) / 2, dtype=torch.float32)
    image = 0.3 * torch.sin(torch.arange(height * width, dtype=torch.float32).reshape(1, 1, height, width) / 3.0)
    image = image.expand(1, 3, height, width).contiguous()
    return verts[None], faces, (image, None, K), (image + offset, None, K)


def test_pyramid_loss_keeps_the_mean_over_valid_pixels():
    verts, faces, query, ref = _plane_pair()
    for scales in ((1,), (2,), (4,), (1, 2, 4)):
        loss, _, outputs = pyramid_pair_loss(verts, verts, faces, query, ref, scales)
        assert outputs["mask_fwd"].sum() > 20
        assert float(loss[0]) == pytest.approx(0.1, abs=1e-6), scales
    _, flow, outputs = pyramid_pair_loss(verts, verts, faces, query, ref, (2, 1))
    assert outputs["image_query"].shape[2:] == (16, 24) and flow.flow_ref.shape[2:] == (16, 24)  # the first level


def test_one_level_is_the_plain_loss_bit_for_bit():
    verts, faces, query, ref = _plane_pair()
    moved = (verts + torch.tensor([0.002, -0.001, 0.0])).requires_grad_()
    loss, flow, _ = pyramid_pair_loss(moved, verts, faces, query, ref)
    (grad,) = torch.autograd.grad(loss.sum(), moved)
    explicit_flow = mesh_pair_flow(moved, verts, faces, query[2], ref[2], query[0].shape[2:])
    explicit, _ = pair_photometric_loss(query[0], ref[0], None, None, explicit_flow)
    (explicit_grad,) = torch.autograd.grad(explicit.sum(), moved)
    assert torch.equal(loss, explicit) and torch.equal(grad, explicit_grad) and grad.abs().sum() > 0
    assert torch.equal(flow.flow_ref, explicit_flow.flow_ref)
