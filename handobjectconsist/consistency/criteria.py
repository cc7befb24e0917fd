"""Masked photometric criteria (upstream's PyramidCriterion had a single level, i.e. no pyramid).

Per sample: ``sum(mask * err) / sum(mask)`` over C x H x W with the (B, 1, H, W) mask repeated over the channels.
An empty mask gives exactly 0 (upstream replaced a zero count by 1), and the gradient is finite there too because
the error map is selected with ``torch.where`` rather than multiplied (0 * inf would be NaN).
"""

import torch
from kornia.metrics import ssim as kornia_ssim

CRITERIA = ("l1", "l2", "ssim")


def photometric_error_map(
    pred: torch.Tensor, target: torch.Tensor, criterion: str = "l1", ssim_window: int = 11, ssim_max_val: float = 1.0
) -> torch.Tensor:
    """Per-pixel, per-channel photometric error.

    Args:
        pred, target: (B, C, H, W) images (the network inputs: RGB in [-0.5, 0.5], a data range of 1).
        criterion: "l1" |pred - target|, "l2" (pred - target)^2, or "ssim" the DSSIM map (1 - SSIM) / 2 computed with
            kornia.metrics.ssim (Gaussian window of ``ssim_window`` taps, sigma 1.5, reflect padding).
        ssim_window: odd window size for "ssim" (upstream never ran this branch; 11 is the usual SSIM window).
        ssim_max_val: data range L of the images for the SSIM constants.
    Returns:
        (B, C, H, W) error map.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if criterion == "l1":
        return (pred - target).abs()
    if criterion == "l2":
        return (pred - target) ** 2
    if criterion == "ssim":
        # eps=0: the SSIM denominators are already >= c1 * c2 > 0, and a nonzero eps would make identical images
        # score slightly below 1.
        return (1.0 - kornia_ssim(pred, target, ssim_window, max_val=ssim_max_val, eps=0.0)) / 2.0
    raise ValueError(f"unknown photometric criterion {criterion!r}; expected one of {CRITERIA}")


def masked_mean(error: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample mean of ``error`` over the masked pixels and all channels.

    Args:
        error: (B, C, H, W).
        mask: (B, 1, H, W) weights (bool or float, typically {0, 1}); treated as constant (no gradient).
    Returns:
        (B,) sum(mask * error) / (C * sum(mask)), exactly 0 for samples with an empty mask.
    """
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != error.shape[0] or mask.shape[2:] != error.shape[2:]:
        raise ValueError(f"mask must be (B, 1, H, W) matching error {tuple(error.shape)}; got {tuple(mask.shape)}")
    weights = mask.detach().to(error.dtype).expand_as(error)
    selected = torch.where(weights > 0, error * weights, torch.zeros_like(error))
    total = selected.flatten(1).sum(dim=1)
    count = weights.flatten(1).sum(dim=1)
    count = torch.where(count > 0, count, torch.ones_like(count))
    return total / count


def photometric_criterion(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    criterion: str = "l1",
    ssim_window: int = 11,
    ssim_max_val: float = 1.0,
) -> torch.Tensor:
    """Masked photometric loss per sample.

    Args:
        pred, target: (B, C, H, W) images.
        mask: (B, 1, H, W) valid pixels.
        criterion: "l1" (upstream default), "l2" or "ssim" (DSSIM); see ``photometric_error_map``.
    Returns:
        (B,) masked mean error, 0 exactly where the mask is empty.
    """
    return masked_mean(photometric_error_map(pred, target, criterion, ssim_window, ssim_max_val), mask)
