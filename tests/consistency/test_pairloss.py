"""pair_photometric_loss: mask composition on hand-built flows, and end to end on rendered textured meshes."""

import math

import torch

from handobjectconsist.consistency.meshflow import MeshPairFlow, mesh_pair_flow
from handobjectconsist.consistency.pairloss import pair_photometric_loss
from handobjectconsist.consistency.warping import pixel_grid
from handobjectconsist.render import interpolate_attributes, rasterize
from libyana.camutils import project_points
from tests.consistency.consistency_scenes import grid_plane, intrinsics, rotation

HEIGHT, WIDTH = 72, 96
K_CPU = intrinsics(80.0, 47.5, 35.5, dtype=torch.float32)


def constant_flow_pair(du, height=12, width=16):
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = du
    ones = torch.ones(1, 1, height, width)
    return MeshPairFlow(flow, ones, -flow, ones.clone(), ones.clone(), ones.clone())


def test_masks_combine_warp_validity_padding_and_flow_mask(device):
    height, width = 12, 16
    torch.manual_seed(0)
    image_query = torch.rand(1, 3, height, width, device=device)
    image_ref = torch.rand(1, 3, height, width, device=device)
    jitter_query = torch.ones(1, 1, height, width, device=device)
    jitter_query[..., :, -3:] = 0  # query padding on its 3 rightmost columns
    jitter_ref = torch.ones(1, 1, height, width, device=device)
    jitter_ref[..., :2, :] = 0  # reference padding on its 2 top rows
    flow = constant_flow_pair(2.5)
    flow.mask_ref[..., 5, 4] = 0
    loss, out = pair_photometric_loss(image_query, image_ref, jitter_query, jitter_ref, flow)
    # reference column j samples query columns floor(j+2.5) and +1; both must be < width - 3
    expected = torch.zeros(height, width, device=device)
    expected[2:, : width - 6] = 1
    expected[5, 4] = 0
    assert torch.equal(out["mask_fwd"][0, 0], expected)
    # the loss is the masked L1 between the shifted query and the reference, computed here by hand
    shifted = 0.5 * (image_query[..., 2:-1] + image_query[..., 3:])  # query sampled at j + 2.5 for j < width - 3
    diff = (shifted[..., : width - 3] - image_ref[..., : width - 3]).abs()
    keep = expected[:, : width - 3].bool()
    assert torch.allclose(loss, diff[0][:, keep].mean().reshape(1), atol=1e-6)
    assert "loss_bwd" not in out


def test_backward_term_is_added_when_requested(device):
    torch.manual_seed(1)
    images = torch.rand(2, 1, 3, 12, 16, device=device)
    flow = constant_flow_pair(-1.0)
    forward_only, _ = pair_photometric_loss(images[0], images[1], None, None, flow)
    both, out = pair_photometric_loss(images[0], images[1], None, None, flow, use_backward=True)
    assert torch.allclose(both, forward_only + out["loss_bwd"])
    assert out["loss_bwd"].item() > 0
    assert out["mask_bwd"][0, 0, :, -1].sum() == 0  # query column W-1 samples the reference at column W


def test_self_pair_gives_exactly_zero_loss(device):
    K = K_CPU.to(device)
    verts, faces = grid_plane(0.3, 0.3, 1.0, 4, dtype=torch.float32)
    torch.manual_seed(2)
    image = torch.rand(1, 3, HEIGHT, WIDTH, device=device) - 0.5
    flow = mesh_pair_flow(verts[None], verts[None], faces, K, K, (HEIGHT, WIDTH))
    for criterion in ("l1", "l2", "ssim"):
        loss, out = pair_photometric_loss(image, image, None, None, flow, use_backward=True, criterion=criterion)
        assert out["mask_fwd"].sum() > 500
        assert torch.allclose(loss, torch.zeros(1, device=device), atol=1e-6)


# ---- end to end on a rendered, textured scene ---------------------------------------------------------------


def texture(points):
    """Smooth procedural colour of 3-D surface points (..., 3) -> (..., 3) in [-0.5, 0.5] (period ~0.3 m)."""
    x, y = points[..., 0], points[..., 1]
    return 0.45 * torch.stack(
        [torch.sin(2 * math.pi * x / 0.3), torch.cos(2 * math.pi * y / 0.33), torch.sin(2 * math.pi * (x + y) / 0.4)],
        dim=-1,
    )


def background():
    grid = pixel_grid(HEIGHT, WIDTH)
    return 0.3 * torch.stack([torch.cos(grid[0] / 7.0), torch.sin(grid[1] / 5.0), torch.cos((grid[0] - grid[1]) / 9.0)])


def render(verts, faces, colours):
    """(1, 3, H, W) image of a per-vertex-coloured mesh over the static background."""
    fragments = rasterize(verts, faces, K_CPU.to(verts.device), (HEIGHT, WIDTH))
    rgb = interpolate_attributes(fragments, faces, colours)
    mask = fragments.mask.unsqueeze(1)
    return torch.where(mask, rgb, background().unsqueeze(0))


def textured_scene():
    """Object plane at t (reference) and t+1 (query, known rigid motion), their colours and renders."""
    verts, faces = grid_plane(0.25, 0.25, 0.0, 16, dtype=torch.float32)
    colours = texture(verts)[None]
    centre = torch.tensor([0.0, 0.0, 1.0])
    verts_ref = (verts @ rotation("x", 15.0, dtype=torch.float32).T + centre)[None]
    motion = rotation("z", 3.0, dtype=torch.float32)
    verts_query = (verts_ref - centre) @ motion.T + centre + torch.tensor([0.03, 0.02, 0.0])
    return verts_ref, verts_query, faces, colours


def test_rendered_flow_warps_query_onto_reference(device):
    K = K_CPU.to(device)
    verts_ref, verts_query, faces, colours = textured_scene()
    image_ref = render(verts_ref, faces, colours)
    image_query = render(verts_query, faces, colours)
    flow = mesh_pair_flow(verts_query, verts_ref, faces, K, K, (HEIGHT, WIDTH))
    loss, out = pair_photometric_loss(image_query, image_ref, None, None, flow)
    mask = out["mask_fwd"]
    assert mask.sum() > 0.8 * flow.coverage_ref.sum()
    zero_flow_error = ((image_query - image_ref).abs() * mask).sum() / (3 * mask.sum())
    assert loss.item() < zero_flow_error.item() / 5


def test_minimising_the_loss_recovers_the_query_translation(device):
    K = K_CPU.to(device)
    torch.manual_seed(3)
    verts_ref, verts_query, faces, colours = textured_scene()
    image_ref = render(verts_ref, faces, colours)
    image_query = render(verts_query, faces, colours)
    offset = torch.tensor([0.05, -0.04, 0.02], requires_grad=True, device=device)  # about 4 px and 3 px in the image
    optimizer = torch.optim.Adam([offset], lr=0.004)
    for _ in range(30):
        flow = mesh_pair_flow(verts_query + offset, verts_ref, faces, K, K, (HEIGHT, WIDTH))
        loss, _ = pair_photometric_loss(image_query, image_ref, None, None, flow)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    with torch.no_grad():
        projected_error = (project_points(verts_query + offset, K) - project_points(verts_query, K)).norm(dim=-1)
    assert projected_error.mean() < 1.0, f"mean projected error {projected_error.mean():.2f} px"
