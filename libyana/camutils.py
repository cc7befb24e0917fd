"""Pinhole camera helpers (OpenCV convention: x right, y down, z forward; pixel (row i, col j) centred at (u=j, v=i))."""

import torch


def project_points(points: torch.Tensor, K: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Project camera-frame points to pixels.

    Args:
        points: (B, N, 3) camera-frame coordinates (metres).
        K: (B, 3, 3) intrinsics in pixels.
        eps: lower bound on |z| to avoid a division by zero.
    Returns:
        (B, N, 2) pixel coordinates (u, v) = ((K @ X)[:2] / (K @ X)[2]).
    """
    hom = torch.einsum("bij,bnj->bni", K, points)
    z = hom[..., 2:3]
    z = torch.where(z.abs() < eps, torch.full_like(z, eps), z)
    return hom[..., :2] / z
