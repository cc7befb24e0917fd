"""Pinhole camera helpers (OpenCV convention: x right, y down, z forward; pixel (row i, col j) centred at (u=j, v=i)).

The project's one pinhole projection, in two variants: ``project_points`` for batched torch tensors (models,
rendering, flow; guards z against 0) and ``project_points_np`` for numpy arrays (dataset readers, synthetic data;
no guard, the points are in front of the camera).
"""

import numpy as np
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


def project_points_np(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project camera-frame points to pixels (numpy; computed in the dtype numpy promotes points and K to).

    Args:
        points: (..., 3) camera-frame coordinates (metres), z > 0.
        K: (3, 3) intrinsics in pixels.
    Returns:
        (..., 2) pixel coordinates (u, v) = ((K @ X)[:2] / (K @ X)[2]).
    """
    hom = points @ np.asarray(K).T
    return hom[..., :2] / hom[..., 2:3]
