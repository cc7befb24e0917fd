"""2D homogeneous transforms of point sets."""

import torch


def apply_affine_2d(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Apply 3x3 homogeneous 2D transforms.

    Args:
        points: (B, N, 2) pixel coordinates.
        affine: (B, 3, 3) transforms (last row [0, 0, 1] for affine maps).
    Returns:
        (B, N, 2) transformed coordinates.
    """
    hom = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)
    out = torch.einsum("bij,bnj->bni", affine.to(points.dtype), hom)
    return out[..., :2] / out[..., 2:3]


def invert_affine_2d(affine: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) -> (B, 3, 3) inverse transforms."""
    return torch.linalg.inv(affine)
