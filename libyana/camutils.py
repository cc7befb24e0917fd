"""Pinhole camera helpers (OpenCV convention: x right, y down, z forward; pixel (row i, col j) centred at (u=j, v=i)).

The project's one pinhole projection, in two variants: ``project_points`` for batched torch tensors (models,
rendering, flow; guards z against 0) and ``project_points_np`` for numpy arrays (dataset readers, synthetic data;
no guard, the points are in front of the camera). ``scale_intrinsics`` gives the intrinsics of a resized image.
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


def scale_intrinsics(K, scale_x: float, scale_y: float):
    """Intrinsics after resizing an image by (scale_x, scale_y), pixel-centre convention.

    Args:
        K: (..., 3, 3) intrinsics of the source image (pixels): a numpy array (computed in float64) or a tensor
            (its dtype kept).
        scale_x, scale_y: new_width / old_width and new_height / old_height.
    Returns:
        (..., 3, 3) intrinsics of the resized image: f' = f*s, c' = (c + 0.5)*s - 0.5 (a pixel centre u maps to
        (u + 0.5) * s - 0.5).
    """
    if isinstance(K, torch.Tensor):
        out = K.clone()
    else:
        K = np.asarray(K, dtype=np.float64)
        out = K.copy()
    out[..., 0, :] = K[..., 0, :] * scale_x
    out[..., 1, :] = K[..., 1, :] * scale_y
    # K[0, 2] * s was applied above; add the half-pixel terms of the centre convention.
    out[..., 0, 2] = (K[..., 0, 2] + 0.5) * scale_x - 0.5
    out[..., 1, 2] = (K[..., 1, 2] + 0.5) * scale_y - 0.5
    return out
