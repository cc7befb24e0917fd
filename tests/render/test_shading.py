"""shade_mesh / to_uint8: analytic Lambert brightness, two-sided lighting, background compositing."""

import math

import numpy as np
import pytest
import torch

from handobjectconsist.render import shade_mesh, to_uint8


def camera(height, width, device="cpu"):
    return torch.tensor([[[30.0, 0.0, (width - 1) / 2], [0.0, 30.0, (height - 1) / 2], [0.0, 0.0, 1.0]]], device=device)


def facing_square(half=0.4, depth=2.0, flip=False, device="cpu"):
    verts = torch.tensor([[[-half, -half, depth], [half, -half, depth], [half, half, depth], [-half, half, depth]]],
                         device=device)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]], device=device)
    return verts, faces.flip(-1) if flip else faces


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("angle_deg", [0.0, 60.0, 180.0])
def test_plane_brightness_is_ambient_plus_lambert(flip, angle_deg, device):
    height, width = 20, 26
    verts, faces = facing_square(flip=flip, device=device)
    color = torch.tensor([0.8, 0.5, 0.25], device=device)
    angle = math.radians(angle_deg)
    # Direction towards the light, at `angle` from the plane's camera-facing normal (0, 0, -1).
    light_dir = (math.sin(angle), 0.0, -math.cos(angle))
    background = torch.rand(1, 3, height, width, device=device)
    out = shade_mesh(verts, faces, camera(height, width, device), (height, width), color.expand(1, 4, 3),
                     background=background, ambient=0.3, diffuse=0.6, light_dir=light_dir)
    mask = out["mask"][0]
    # Square spans u, v in cx +- 6, cy +- 6 px: pixel centres strictly inside.
    rows, cols = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    expected_mask = ((cols - (width - 1) / 2).abs() < 6) & ((rows - (height - 1) / 2).abs() < 6)
    torch.testing.assert_close(mask, expected_mask, rtol=0, atol=0)
    brightness = 0.3 + 0.6 * max(0.0, math.cos(angle))
    rgb = out["rgb"][0]
    torch.testing.assert_close(rgb[:, mask], (color * brightness).view(3, 1).expand(3, int(mask.sum())))
    torch.testing.assert_close(rgb[:, ~mask], background[0][:, ~mask], rtol=0, atol=0)
    assert (out["face_index"][0][mask] >= 0).all() and (out["face_index"][0][~mask] == -1).all()


def test_callable_colors_and_black_default_background(device):
    verts, faces = facing_square(device=device)
    out = shade_mesh(verts, faces, camera(12, 12, device), (12, 12), lambda v: torch.ones_like(v) * 0.5,
                     ambient=1.0, diffuse=0.0)
    covered = out["rgb"][0][:, out["mask"][0]]
    assert covered.numel() > 0
    torch.testing.assert_close(covered, torch.full_like(covered, 0.5))
    assert (out["rgb"][0][:, ~out["mask"][0]] == 0).all()


def test_to_uint8_rounds_and_clamps(device):
    images = torch.tensor([0.0, 1.0, 0.5, 1.7, -0.2, 100 / 255 + 0.4 / 255], device=device).view(1, 3, 1, 2)
    out = to_uint8(images)
    assert out.dtype == np.uint8 and out.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(out[0, 0], [[0, 128, 0], [255, 255, 100]])
