"""mesh_pair_flow against analytic rigid motions of planes, occluders, ignored faces and gradients."""

import torch

from handobjectconsist.consistency.meshflow import mesh_pair_flow
from libyana.meshutils import concat_meshes
from tests.consistency.consistency_scenes import grid_plane, intrinsics, pixel_rays, project, rotation

HEIGHT, WIDTH = 72, 96
FOCAL, CU, CV = 80.0, 47.3, 35.6
K_CPU = intrinsics(FOCAL, CU, CV)


def in_box(u_lo, u_hi, v_lo, v_hi, margin):
    """(H, W) bool: pixel centres inside the image box shrunk by ``margin`` pixels (negative grows it)."""
    rows, cols = torch.meshgrid(
        torch.arange(HEIGHT, dtype=torch.float64), torch.arange(WIDTH, dtype=torch.float64), indexing="ij"
    )
    return (cols >= u_lo + margin) & (cols <= u_hi - margin) & (rows >= v_lo + margin) & (rows <= v_hi - margin)


def plane_box(half, depth, offset=(0.0, 0.0)):
    """Image box of a fronto-parallel square of half side ``half`` centred at (offset, depth)."""
    ox, oy = offset
    return (CU + FOCAL * (ox - half) / depth, CU + FOCAL * (ox + half) / depth,
            CV + FOCAL * (oy - half) / depth, CV + FOCAL * (oy + half) / depth)


def test_fronto_parallel_translation_gives_the_exact_constant_flow(device):
    K = K_CPU.to(device)
    verts, faces = grid_plane(0.5, 0.5, 2.0, 4)
    shift = torch.tensor([0.1, -0.05, 0.0], dtype=torch.float64, device=device)
    result = mesh_pair_flow((verts + shift)[None], verts[None], faces, K, K, (HEIGHT, WIDTH))
    expected = (FOCAL * 0.1 / 2.0, FOCAL * -0.05 / 2.0)  # 4 px right, 2 px up
    box = plane_box(0.5, 2.0)
    mask_ref = result.mask_ref[0, 0].bool()
    # mask: inside the reference square, and everything 1.5 px inside it (the query position is on the moved
    # square, so only nearest-neighbour rounding at the edges can fail the round trip)
    assert not (mask_ref & ~in_box(*box, margin=-1e-6)).any()
    assert mask_ref[in_box(*box, margin=1.5)].all()
    for channel in range(2):
        assert (result.flow_ref[0, channel][mask_ref] - expected[channel]).abs().max() < 1e-6
        assert (result.flow_ref[0, channel][~mask_ref] == 0).all()
    # reverse direction on the query grid
    mask_query = result.mask_query[0, 0].bool()
    query_box = plane_box(0.5, 2.0, offset=(0.1, -0.05))
    assert mask_query[in_box(*query_box, margin=1.5)].all()
    assert not (mask_query & ~in_box(*query_box, margin=-1e-6)).any()
    for channel in range(2):
        assert (result.flow_query[0, channel][mask_query] + expected[channel]).abs().max() < 1e-6


def test_rotated_tilted_plane_matches_ray_cast_motion(device):
    K = K_CPU.to(device)
    depth = 2.0
    verts, faces = grid_plane(0.6, 0.6, 0.0, 12)
    centre = torch.tensor([0.05, -0.02, depth], dtype=torch.float64, device=device)
    tilt = rotation("x", 25.0)
    verts_ref = verts @ tilt.T + centre
    motion = rotation("y", 10.0) @ rotation("z", 5.0)
    translation = torch.tensor([0.04, 0.03, 0.1], dtype=torch.float64, device=device)
    verts_query = (verts_ref - centre) @ motion.T + centre + translation
    result = mesh_pair_flow(verts_query[None], verts_ref[None], faces, K, K, (HEIGHT, WIDTH))

    # independent answer: intersect each pixel ray with the reference plane, move the point, project it
    normal = tilt[:, 2]
    rays = pixel_rays(HEIGHT, WIDTH, K[0])
    points = rays * ((normal @ centre) / (rays @ normal)).unsqueeze(-1)
    moved = (points - centre) @ motion.T + centre + translation
    expected = (project(moved, K[0]) - project(points, K[0])).permute(2, 0, 1)

    mask = result.mask_ref[0, 0].bool()
    assert mask.sum() > 800
    error = (result.flow_ref[0] - expected).norm(dim=0)[mask]
    # per-vertex displacements interpolated linearly in 3D are exact only up to the perspective division of the
    # moved point; with 5 cm triangles at 2 m the residual is far below a pixel
    assert error.max() < 0.05
    assert error.mean() < 0.012


def test_flow_gradient_reaches_only_the_query_vertices(device):
    K = K_CPU.to(device)
    verts, faces = grid_plane(0.5, 0.5, 2.0, 3)
    shift = torch.tensor([0.02, 0.01, 0.0], dtype=torch.float64, requires_grad=True, device=device)
    verts_ref = verts[None].clone().requires_grad_(False)
    result = mesh_pair_flow(verts[None] + shift, verts_ref, faces, K, K, (HEIGHT, WIDTH))
    assert not result.mask_ref.requires_grad and not result.mask_query.requires_grad
    result.flow_ref[:, 0].sum().backward()
    # d(flow_u)/d(t_x) = f / z at every valid pixel, d(flow_u)/d(t_y) = 0
    count = result.mask_ref.sum()
    assert torch.allclose(shift.grad[0], count * FOCAL / 2.0)
    assert abs(shift.grad[1].item()) < 1e-9


def test_identical_meshes_give_zero_flow_and_full_coverage(device):
    K = K_CPU.to(device)
    verts, faces = grid_plane(0.5, 0.4, 1.5, 3)
    result = mesh_pair_flow(verts[None], verts[None], faces, K, K, (HEIGHT, WIDTH))
    assert (result.flow_ref == 0).all() and (result.flow_query == 0).all()
    assert torch.equal(result.mask_ref, result.coverage_ref)
    assert result.mask_ref.sum() > 1000


def test_ignored_faces_are_excluded(device):
    K = K_CPU.to(device)
    verts, faces = grid_plane(0.5, 0.5, 2.0, 4)
    centroids_x = verts[faces].mean(1)[:, 0]
    ignore = torch.nonzero(centroids_x < 0).squeeze(1)  # the left half of the square
    shift = torch.tensor([0.02, 0.0, 0.0], dtype=torch.float64, device=device)
    result = mesh_pair_flow((verts + shift)[None], verts[None], faces, K, K, (HEIGHT, WIDTH), ignore_face_ids=ignore)
    box = plane_box(0.5, 2.0)
    mask = result.mask_ref[0, 0].bool()
    left = in_box(box[0], CU, box[2], box[3], margin=0.0)
    right = in_box(CU, box[1], box[2], box[3], margin=1.5)
    assert not mask[left].any()
    assert mask[right].all()
    query_mask = result.mask_query[0, 0].bool()
    assert not query_mask[in_box(box[0] + 0.8, CU + 0.8, box[2], box[3], margin=0.0)].any()


def test_pixels_hidden_by_a_moving_occluder_are_masked(device):
    K = K_CPU.to(device)
    background, bg_faces = grid_plane(2.0, 1.5, 3.0, 2)  # covers the whole image
    occluder, occ_faces = grid_plane(0.1, 0.1, 1.5, 1)
    occluder_ref = occluder + torch.tensor([-0.1, 0.0, 0.0], dtype=torch.float64, device=device)
    occluder_query = occluder_ref + torch.tensor([0.3, 0.0, 0.0], dtype=torch.float64,
                                                 device=device)  # 16 px to the right
    verts_ref, faces = concat_meshes([background[None], occluder_ref[None]], [bg_faces, occ_faces])
    verts_query, _ = concat_meshes([background[None], occluder_query[None]], [bg_faces, occ_faces])
    result = mesh_pair_flow(verts_query, verts_ref, faces[0], K, K, (HEIGHT, WIDTH))

    box_ref = plane_box(0.1, 1.5, offset=(-0.1, 0.0))
    box_query = plane_box(0.1, 1.5, offset=(0.2, 0.0))
    mask_ref = result.mask_ref[0, 0].bool()
    mask_query = result.mask_query[0, 0].bool()
    image_interior = in_box(0, WIDTH - 1, 0, HEIGHT - 1, margin=0.0)
    # reference background hidden by the occluder in the query frame -> masked out
    hidden_in_query = in_box(*box_query, margin=1.0) & ~in_box(*box_ref, margin=-1.0)
    assert hidden_in_query.sum() > 50
    assert not mask_ref[hidden_in_query].any()
    # the occluder itself and the background away from both occluder positions stay valid
    assert mask_ref[in_box(*box_ref, margin=1.5)].all()
    clear = image_interior & ~in_box(*box_query, margin=-2.0) & ~in_box(*box_ref, margin=-2.0)
    assert mask_ref[clear].all()
    # symmetric: query background that the occluder hid in the reference frame is masked out on the query grid
    hidden_in_ref = in_box(*box_ref, margin=1.0) & ~in_box(*box_query, margin=-1.0)
    assert not mask_query[hidden_in_ref].any()
    assert mask_query[in_box(*box_query, margin=1.5)].all()
    # without the occlusion threshold, the hidden pixels are kept (the check is what removes them)
    loose = mesh_pair_flow(verts_query, verts_ref, faces[0], K, K, (HEIGHT, WIDTH), occlusion_threshold=float("inf"))
    assert loose.mask_ref[0, 0][hidden_in_query].bool().all()


def test_round_trip_threshold_is_a_fraction_of_the_longer_image_side(device):
    from handobjectconsist.consistency.meshflow import forward_backward_consistency

    height, width = 50, 100  # threshold 0.03 -> 3 px on both axes (upstream's square render of side 100)
    flow_a = torch.zeros(1, 2, height, width, device=device)
    flow_a[:, 1] = 4.2  # rows move down by 4.2 px; the nearest pixel is 4 rows below
    surface_b = torch.ones(1, 1, height, width, dtype=torch.bool, device=device)
    for back, kept in [(-1.5, True), (-6.9, True), (-7.1, False), (-0.9, False)]:
        flow_b = torch.zeros(1, 2, height, width, device=device)
        flow_b[:, 1] = back  # round-trip error |4 + back| rows
        valid = forward_backward_consistency(flow_a, flow_b, surface_b, 0.03)[0, 0]
        assert not valid[height - 4:].any()  # the nearest pixel falls below the image
        assert bool(valid[: height - 4].all()) == kept, back
    surface_b[..., 10, :] = False  # a hole in B's surface at row 10 rejects the pixels of row 6 that land there
    flow_b[:, 1] = -4.0
    valid = forward_backward_consistency(flow_a, flow_b, surface_b, 0.03)[0, 0]
    assert not valid[6].any() and valid[5].all() and valid[7].all()
