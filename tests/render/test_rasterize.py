"""Rasteriser checks against independent answers: trimesh ray casting, point-in-polygon, analytic planes."""

import numpy as np
import pytest
import torch
import trimesh
from matplotlib.path import Path as PolygonPath

from handobjectconsist.render import rasterize
from handobjectconsist.render.rasterize import count_candidates


def intrinsics(fx, fy, cx, cy, dtype=torch.float64):
    return torch.tensor([[[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]], dtype=dtype)


def pixel_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H*W, 3) rays X/z = K^-1 (u=j, v=i, 1) through every pixel centre, row-major; z component is 1."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    pix = np.stack([cols.ravel(), rows.ravel(), np.ones(height * width)], 1).astype(np.float64)
    return pix @ np.linalg.inv(K).T


def ray_cast(vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, height: int, width: int):
    """First hit per pixel-centre ray with trimesh: face index (-1 none), hit points (H*W, 3) (nan where none)."""
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    rays = pixel_rays(K, height, width)
    intersector = trimesh.ray.ray_triangle.RayMeshIntersector(mesh)
    tri_index, ray_index, locations = intersector.intersects_id(
        np.zeros_like(rays), rays, multiple_hits=False, return_locations=True
    )
    face_map = np.full(height * width, -1)
    points = np.full((height * width, 3), np.nan)
    face_map[ray_index] = tri_index
    points[ray_index] = locations
    return face_map, points


def min_barycentric(vertices, faces, face_ids, points):
    """Smallest barycentric coordinate of each point in its face (points assumed on the face's plane)."""
    tris = vertices[faces[face_ids]]
    return trimesh.triangles.points_to_barycentric(tris, points).min(1)


def random_triangles(num, rng):
    """Random, mutually intersecting triangles in a box in front of the camera."""
    centres = rng.uniform([-0.9, -0.7, 2.0], [0.9, 0.7, 4.0], size=(num, 1, 3))
    verts = (centres + rng.normal(scale=0.35, size=(num, 3, 3))).reshape(-1, 3)
    return verts, np.arange(3 * num).reshape(num, 3)


def hand_like_mesh():
    """Palm (flattened icosphere) plus five capsule fingers, concatenated (overlapping closed surfaces)."""
    palm = trimesh.creation.icosphere(subdivisions=2, radius=0.045)
    palm.apply_scale([1.0, 1.1, 0.45])
    parts = [palm]
    for k, angle in enumerate(np.linspace(-0.9, 0.5, 5)):
        finger = trimesh.creation.capsule(height=0.06 + 0.01 * (k % 2), radius=0.009, count=[10, 10])
        rot = trimesh.transformations.rotation_matrix(np.pi / 2 + angle, [0, 0, 1]) @ \
            trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0])
        finger.apply_transform(rot)
        direction = np.array([np.cos(np.pi / 2 + angle + np.pi), np.sin(np.pi / 2 + angle + np.pi), 0.0])
        finger.apply_translation(0.07 * direction + np.array([0, 0, 0.01 * k - 0.02]))
        parts.append(finger)
    mesh = trimesh.util.concatenate(parts)
    rot = trimesh.transformations.rotation_matrix(0.6, [1, 0.3, 0])
    mesh.apply_transform(rot)
    mesh.apply_translation([0.005, 0.02, 0.35])
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def check_against_ray_casting(vertices, faces, K, height, width, device):
    fragments = rasterize(
        torch.tensor(vertices, device=device).unsqueeze(0),
        torch.tensor(faces, device=device),
        torch.tensor(K, device=device).unsqueeze(0),
        (height, width),
    )
    ours = fragments.face_index[0].cpu().numpy().ravel()
    ref, ref_points = ray_cast(vertices, faces, K, height, width)
    assert (ref >= 0).sum() > 0.1 * ours.size, "test scene should cover a good part of the image"
    assert np.mean(ours == ref) >= 0.995

    # Where both hit the same face, the depth is the hit's z.
    same = (ours == ref) & (ref >= 0)
    np.testing.assert_allclose(fragments.depth[0].cpu().numpy().ravel()[same], ref_points[same, 2], rtol=1e-6)

    # Disagreements only on face edges (or where two surfaces are at the same depth).
    rays = pixel_rays(K, height, width)
    depth = fragments.depth[0].cpu().numpy().ravel()
    for p in np.nonzero(ours != ref)[0]:
        near_edge = False
        if ref[p] >= 0:
            near_edge |= min_barycentric(vertices, faces, [ref[p]], ref_points[p : p + 1])[0] < 1e-3
        if ours[p] >= 0:
            our_point = rays[p : p + 1] * depth[p]
            near_edge |= min_barycentric(vertices, faces, [ours[p]], our_point)[0] < 1e-3
            if ref[p] >= 0:
                near_edge |= abs(depth[p] - ref_points[p, 2]) < 1e-6 * depth[p]
        assert near_edge, f"pixel {divmod(p, width)}: ours {ours[p]}, ray cast {ref[p]}, not on an edge"


def test_random_triangles_match_ray_casting(device):
    rng = np.random.default_rng(0)
    vertices, faces = random_triangles(60, rng)
    K = np.array([[52.0, 0.0, 31.3], [0.0, 55.0, 23.8], [0.0, 0.0, 1.0]])
    check_against_ray_casting(vertices, faces, K, 48, 64, device)


def test_hand_like_mesh_matches_ray_casting(device):
    vertices, faces = hand_like_mesh()
    K = np.array([[160.0, 0.0, 47.6], [0.0, 160.0, 35.2], [0.0, 0.0, 1.0]])
    check_against_ray_casting(vertices, faces, K, 72, 96, device)


def unproject(pixels, depth, K):
    """Camera points (N, 3) of pixel coordinates (N, 2) (u, v) at depth z."""
    homog = np.concatenate([pixels, np.ones((len(pixels), 1))], 1)
    return (homog @ np.linalg.inv(K).T) * np.asarray(depth).reshape(-1, 1)


def plane_hits(K, height, width, normal, offset):
    """Ray-plane intersection per pixel centre for the plane normal . X = offset: points (H, W, 3)."""
    rays = pixel_rays(K, height, width)
    t = offset / (rays @ normal)
    return (rays * t[:, None]).reshape(height, width, 3)


@pytest.mark.parametrize("slanted", [False, True])
def test_triangle_coverage_depth_and_barycentrics(slanted, device):
    height, width = 30, 41
    K = np.array([[40.0, 0.0, 19.7], [0.0, 38.0, 14.2], [0.0, 0.0, 1.0]])
    corners_px = np.array([[3.37, 4.21], [36.83, 9.64], [14.29, 27.11]])  # (u, v), no centre on an edge
    normal = np.array([0.3, -0.2, 1.0]) if slanted else np.array([0.0, 0.0, 1.0])
    offset = 2.0
    rays = np.concatenate([corners_px, np.ones((3, 1))], 1) @ np.linalg.inv(K).T
    vertices = rays * (offset / (rays @ normal))[:, None]
    faces = np.array([[0, 1, 2]])

    fragments = rasterize(
        torch.tensor(vertices, device=device).unsqueeze(0), torch.tensor(faces, device=device), torch.tensor(K,
                     device=device).unsqueeze(0), (height, width)
    )
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    inside = PolygonPath(corners_px).contains_points(np.stack([cols.ravel(), rows.ravel()], 1)).reshape(height, width)
    assert inside.sum() > 50
    np.testing.assert_array_equal(fragments.mask[0].cpu().numpy(), inside)
    np.testing.assert_array_equal(fragments.face_index[0].cpu().numpy(), np.where(inside, 0, -1))

    hits = plane_hits(K, height, width, normal, offset)
    depth = fragments.depth[0].cpu().numpy()
    np.testing.assert_allclose(depth[inside], hits[inside][:, 2], rtol=1e-9)
    assert np.all(depth[~inside] == 0)
    bary = fragments.bary[0].cpu().numpy()
    np.testing.assert_allclose(bary[inside] @ vertices, hits[inside], atol=1e-9)
    np.testing.assert_allclose(bary[inside].sum(-1), 1.0, atol=1e-12)
    assert np.all(bary[inside] >= -1e-12)
    assert np.all(bary[~inside] == 0)


def test_square_of_two_triangles_has_no_crack_on_the_diagonal(device):
    # The diagonal from (u, v) = (2, 3) to (20, 21) passes exactly through pixel centres (j, j + 1).
    height, width = 25, 24
    K = np.array([[30.0, 0.0, 11.5], [0.0, 30.0, 12.5], [0.0, 0.0, 1.0]])
    lo, hi = np.array([1.6, 2.6]), np.array([20.4, 21.4])
    corners_px = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    vertices = unproject(corners_px, 1.5, K)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    inside = PolygonPath(corners_px).contains_points(np.stack([cols.ravel(), rows.ravel()], 1)).reshape(height, width)
    for faces in (np.array([[0, 1, 2], [0, 2, 3]]), np.array([[1, 3, 0], [3, 1, 2]]), np.array([[0, 1, 2], [2, 3, 0]])):
        fragments = rasterize(
            torch.tensor(vertices, dtype=torch.float32, device=device).unsqueeze(0),
            torch.tensor(faces, device=device),
            torch.tensor(K, dtype=torch.float32, device=device).unsqueeze(0),
            (height, width),
        )
        np.testing.assert_array_equal(fragments.mask[0].cpu().numpy(), inside)
        np.testing.assert_allclose(fragments.depth[0].cpu().numpy()[inside], 1.5, rtol=1e-6)


def test_pixel_centre_convention_non_square_image(device):
    # A tiny triangle around (u, v) = (10, 5) must cover exactly pixel (row 5, col 10).
    height, width = 9, 17
    K = np.array([[25.0, 0.0, 7.3], [0.0, 21.0, 3.9], [0.0, 0.0, 1.0]])
    corners_px = np.array([[9.7, 4.7], [10.3, 4.8], [10.0, 5.3]])
    vertices = unproject(corners_px, 3.0, K)
    fragments = rasterize(
        torch.tensor(vertices, device=device).unsqueeze(0), torch.tensor([[0, 1, 2]], device=device), torch.tensor(K,
                     device=device).unsqueeze(0), (height, width)
    )
    expected = np.zeros((height, width), dtype=bool)
    expected[5, 10] = True
    np.testing.assert_array_equal(fragments.mask[0].cpu().numpy(), expected)


def square(centre_px, half_px, depth, K):
    lo, hi = np.asarray(centre_px) - half_px, np.asarray(centre_px) + half_px
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    return unproject(corners, depth, K), np.array([[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_square_wins_whatever_the_face_order(near_first, device):
    height, width = 32, 40
    K = np.array([[35.0, 0.0, 19.5], [0.0, 35.0, 15.5], [0.0, 0.0, 1.0]])
    near_v, near_f = square((15.2, 13.1), 8.05, 2.0, K)
    far_v, far_f = square((22.3, 17.2), 9.05, 3.0, K)
    parts = [(near_v, near_f, "near"), (far_v, far_f, "far")]
    if not near_first:
        parts = parts[::-1]
    vertices = np.concatenate([parts[0][0], parts[1][0]])
    faces = np.concatenate([parts[0][1], parts[1][1] + 4])
    fragments = rasterize(
        torch.tensor(vertices, device=device).unsqueeze(0), torch.tensor(faces, device=device), torch.tensor(K,
                     device=device).unsqueeze(0), (height, width)
    )
    near_ids = {0, 1} if near_first else {2, 3}
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    in_near = (np.abs(cols - 15.2) < 8.05) & (np.abs(rows - 13.1) < 8.05)
    in_far = (np.abs(cols - 22.3) < 9.05) & (np.abs(rows - 17.2) < 9.05)
    assert (in_near & in_far).sum() > 20
    face_index = fragments.face_index[0].cpu().numpy()
    assert np.isin(face_index[in_near], list(near_ids)).all()
    assert not np.isin(face_index[in_far & ~in_near], list(near_ids)).any()
    assert (face_index[in_far & ~in_near] >= 0).all()
    depth = fragments.depth[0].cpu().numpy()
    np.testing.assert_allclose(depth[in_near], 2.0, rtol=1e-9)
    np.testing.assert_allclose(depth[in_far & ~in_near], 3.0, rtol=1e-9)
    assert (face_index[~(in_near | in_far)] == -1).all()


def test_batched_faces_and_chunking_agree_with_single_renders(device):
    rng = np.random.default_rng(1)
    height, width = 36, 50
    K = torch.tensor([[40.0, 0.0, 24.6], [0.0, 42.0, 17.3], [0.0, 0.0, 1.0]], dtype=torch.float64, device=device)
    verts = torch.tensor(np.stack([random_triangles(30, rng)[0] for _ in range(2)]), device=device)
    faces_a = torch.arange(90, device=device).view(30, 3)
    faces_b = torch.tensor(rng.permutation(90).reshape(30, 3), device=device)  # different triangles for batch element 1
    batched = rasterize(verts, torch.stack([faces_a, faces_b]), K.expand(2, 3, 3), (height, width))
    small_chunks = rasterize(verts, torch.stack([faces_a, faces_b]), K.expand(2, 3, 3), (height, width),
                             max_candidates=64)
    for b, faces in enumerate([faces_a, faces_b]):
        single = rasterize(verts[b : b + 1], faces, K.unsqueeze(0), (height, width))
        for result in (batched, small_chunks):
            torch.testing.assert_close(result.face_index[b], single.face_index[0], rtol=0, atol=0)
            torch.testing.assert_close(result.bary[b], single.bary[0])
            torch.testing.assert_close(result.depth[b], single.depth[0])
    assert count_candidates(verts, torch.stack([faces_a, faces_b]), K.expand(2, 3, 3), (height, width)) > 0


def test_empty_offscreen_and_behind_camera_give_background(device):
    K = intrinsics(30.0, 30.0, 15.5, 11.5)
    tri = torch.tensor([[[-0.3, -0.2, 2.0], [0.4, -0.1, 2.0], [0.0, 0.4, 2.0]]], dtype=torch.float64, device=device)
    faces = torch.tensor([[0, 1, 2]], device=device)
    assert rasterize(tri, faces, K, (24, 32)).mask.any()
    for verts in (tri + torch.tensor([50.0, 0.0, 0.0], dtype=torch.float64, device=device),
                  tri * torch.tensor([1.0, 1.0, -1.0],
                  dtype=torch.float64, device=device)):
        fragments = rasterize(verts, faces, K, (24, 32))
        assert (fragments.face_index == -1).all() and not fragments.mask.any()
        assert (fragments.depth == 0).all() and (fragments.bary == 0).all()
    fragments = rasterize(tri, torch.zeros(0, 3, dtype=torch.long, device=device), K, (24, 32))
    assert (fragments.face_index == -1).all()


def test_near_plane_culls_whole_faces_and_far_plane_clips_pixels(device):
    K = intrinsics(30.0, 30.0, 15.5, 11.5)
    faces = torch.tensor([[0, 1, 2]], device=device)
    tri = torch.tensor([[[-0.3, -0.2, 2.0], [0.4, -0.1, 2.0], [0.0, 0.4, 2.0]]], dtype=torch.float64, device=device)
    covered = rasterize(tri, faces, K, (24, 32)).mask.sum()
    crossing = tri.clone()
    crossing[0, 2, 2] = 0.05  # one vertex in front of the near plane (0.1 m)
    assert not rasterize(crossing, faces, K, (24, 32), near=0.1).mask.any()
    assert rasterize(crossing, faces, K, (24, 32), near=0.01).mask.any()
    # A slanted triangle from z = 2 to z = 4 with far = 3: only the part nearer than 3 m stays.
    slanted = tri.clone()
    slanted[0, 2, 2] = 4.0
    fragments = rasterize(slanted, faces, K, (24, 32), far=3.0)
    full = rasterize(slanted, faces, K, (24, 32), far=100.0)
    assert 0 < fragments.mask.sum() < full.mask.sum()
    assert fragments.depth[fragments.mask].max() <= 3.0
    assert (full.depth[full.mask & ~fragments.mask] > 3.0 - 1e-9).all()
    assert covered > 0


def test_rejects_malformed_inputs(device):
    K = intrinsics(30.0, 30.0, 15.5, 11.5)
    verts = torch.zeros(1, 3, 3, dtype=torch.float64, device=device)
    with pytest.raises(ValueError, match="faces must have shape"):
        rasterize(verts, torch.zeros(3, dtype=torch.long, device=device), K, (8, 8))
    with pytest.raises(ValueError, match="K must have shape"):
        rasterize(verts, torch.zeros(1, 3, dtype=torch.long, device=device), K[0], (8, 8))
    with pytest.raises(ValueError, match="vertex indices"):
        rasterize(verts, torch.tensor([[0, 1, 3]], device=device), K, (8, 8))


def test_grid_mesh_is_watertight_when_edges_pass_through_pixel_centres(device):
    # Grid vertices at even pixel coordinates on a slanted plane (float32): rows, columns and diagonals of the
    # grid run exactly through pixel centres, where rounding could open cracks between neighbouring faces.
    height, width, step = 40, 52, 2
    K = np.array([[45.0, 0.0, 25.7], [0.0, 43.0, 19.3], [0.0, 0.0, 1.0]])
    us, vs = np.arange(2, 50, step), np.arange(2, 38, step)
    grid_u, grid_v = np.meshgrid(us, vs)
    pixels = np.stack([grid_u.ravel(), grid_v.ravel()], 1).astype(np.float64)
    rays = np.concatenate([pixels, np.ones((len(pixels), 1))], 1) @ np.linalg.inv(K).T
    normal = np.array([0.35, -0.25, 1.0])
    vertices = rays * (1.7 / (rays @ normal))[:, None]
    faces = []
    cols = len(us)
    for r in range(len(vs) - 1):
        for c in range(cols - 1):
            a, b, d, e = r * cols + c, r * cols + c + 1, (r + 1) * cols + c, (r + 1) * cols + c + 1
            faces += [[a, b, e], [a, e, d]] if (r + c) % 2 else [[a, b, d], [b, e, d]]
    fragments = rasterize(
        torch.tensor(vertices, dtype=torch.float32, device=device).unsqueeze(0),
        torch.tensor(faces, device=device),
        torch.tensor(K, dtype=torch.float32, device=device).unsqueeze(0),
        (height, width),
    )
    interior = fragments.mask[0, vs[0] + 1 : vs[-1], us[0] + 1 : us[-1]]
    assert interior.all(), f"{(~interior).sum().item()} interior pixels left uncovered"
