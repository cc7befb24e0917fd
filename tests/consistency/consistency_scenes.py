"""Small analytic scenes for the consistency tests: subdivided planes and pinhole cameras (metres, pixels)."""

import math

import torch


def intrinsics(focal, centre_u, centre_v, batch=1, dtype=torch.float64):
    """(B, 3, 3) pinhole intrinsics with square pixels."""
    K = torch.tensor([[focal, 0.0, centre_u], [0.0, focal, centre_v], [0.0, 0.0, 1.0]], dtype=dtype)
    return K.unsqueeze(0).repeat(batch, 1, 1)


def grid_plane(half_width, half_height, depth, subdivisions, dtype=torch.float64):
    """Fronto-parallel rectangle [-hw, hw] x [-hh, hh] at z=depth, split into subdivisions^2 quads.

    Returns:
        verts (V, 3), faces (F, 3) long (two triangles per quad).
    """
    n = subdivisions
    xs = torch.linspace(-half_width, half_width, n + 1, dtype=dtype)
    ys = torch.linspace(-half_height, half_height, n + 1, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    verts = torch.stack([grid_x, grid_y, torch.full_like(grid_x, depth)], dim=-1).reshape(-1, 3)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = i * (n + 1) + j, i * (n + 1) + j + 1, (i + 1) * (n + 1) + j, (i + 1) * (n + 1) + j + 1
            faces += [[a, b, d], [a, d, c]]
    return verts, torch.tensor(faces, dtype=torch.long)


def rotation(axis, degrees, dtype=torch.float64):
    """(3, 3) rotation about the x, y or z axis."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    if axis == "x":
        return torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=dtype)
    if axis == "y":
        return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=dtype)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=dtype)


def pixel_rays(height, width, K, dtype=torch.float64):
    """(H, W, 3) unnormalised ray directions K^-1 [u, v, 1] of every pixel centre (u=j, v=i)."""
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij"
    )
    homog = torch.stack([cols, rows, torch.ones_like(cols)], dim=-1)
    return homog @ torch.linalg.inv(K).T


def project(points, K):
    """(..., 3) camera points -> (..., 2) pixels, computed independently of libyana."""
    homog = points @ K.T
    return homog[..., :2] / homog[..., 2:3]
