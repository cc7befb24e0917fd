"""Loss primitives that ignore padded entries (objects are padded in a batch; OBJ_VERTS_MASK marks real vertices)."""

from typing import Optional

import torch
import torch.nn.functional as F


def _masked_mean(values: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of values (B, N, D) over the entries where mask (B, N) is True (all entries when mask is None)."""
    if mask is None:
        return values.mean()
    weights = mask.to(values.dtype).unsqueeze(-1).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean squared error over real points. pred, target (B, N, D); mask (B, N) bool or None. Returns a scalar.

    Without a mask this equals torch's MSELoss (mean over B x N x D elements), as upstream.
    """
    return _masked_mean((pred - target) ** 2, mask)


def masked_smooth_l1(pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Smooth-L1 (beta 1) averaged over real points. pred, target (B, N, D); mask (B, N) bool or None."""
    return _masked_mean(F.smooth_l1_loss(pred, target, reduction="none"), mask)


def masked_centroid(points: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(B, N, 3) points -> (B, 1, 3) mean of the real points."""
    if mask is None:
        return points.mean(dim=1, keepdim=True)
    weights = mask.to(points.dtype).unsqueeze(-1)
    return (points * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)
