"""Backward warping of images by a dense pixel flow, with validity masks.

Convention (one meaning in the whole project): the centre of pixel (row i, column j) is the continuous point
(u=j, v=i). ``backward_warp(image, flow)`` returns ``out(p) = image(p + flow(p))`` where image values live at the
integer pixel centres and are interpolated bilinearly in between, zero outside the image. This is
``grid_sample(image, 2 * (p + flow) / (W - 1, H - 1) - 1, align_corners=True, padding_mode="zeros")``: -1 and +1
are the centres of the first and last pixels. One refinement: the image is zero-padded to (2**k + 1)-pixel extents
before calling grid_sample (see ``sample_pixels``), which makes grid_sample's normalise/unnormalise round trip exact
in floating point. Hence a zero flow samples every pixel exactly at its centre and reproduces the image bit for
bit, and an integer flow is an exact pixel shift (plain float32 normalisation moves samples by up to ~3e-5 px at
W=480).

Difference from upstream (docs/differences-from-upstream.md, D1): upstream normalised the grid the same way
(``2x/(W-1) - 1``) but called ``grid_sample`` with PyTorch's default ``align_corners=False``. That samples the
continuous pixel coordinate ``x * W / (W - 1) - 0.5`` instead of ``x``: a half-pixel shift at the left edge growing
to a half-pixel shift the other way at the right edge, so even a zero flow blurs and shifts the image slightly.
Its renderer (neural_renderer) also sampled pixel centres at ``+0.5``, a third convention. This project uses the
single pixel-centre convention above for projection, rasterisation, flow and warping, so zero flow is an exact
identity and rendered flows land where the projection says. The difference is a sub-pixel offset only; the loss
and its gradient path are otherwise those of upstream.

Validity: a warped pixel is valid when its sample point lies inside the image with all of its bilinear support
in-image, as upstream's test on a warped image of ones (zero padding) kept values >= 1 - 1e-5; the in-image weight
is computed directly from the sample coordinates (``sample_support``). This is ``0 <= x <= W - 1 and
0 <= y <= H - 1`` up to the 1e-5 tolerance.
"""

import torch
import torch.nn.functional as F

#: warped ones above this count as fully in-image (upstream thresholded at 0.99999)
VALID_TOLERANCE = 1e-5


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates of an image.

    Returns:
        (2, H, W): channel 0 is the column u = j, channel 1 the row v = i (pixels).
    """
    rows = torch.arange(height, device=device, dtype=dtype)
    cols = torch.arange(width, device=device, dtype=dtype)
    grid_v, grid_u = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([grid_u, grid_v], dim=0)


def _check_shapes(image: torch.Tensor, flow: torch.Tensor) -> None:
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"backward_warp expects image (B, C, H, W) and flow (B, 2, H, W); got {tuple(image.shape)} and "
            f"{tuple(flow.shape)}"
        )
    if image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError(
            f"backward_warp: image {tuple(image.shape)} and flow {tuple(flow.shape)} must share batch size and H, W"
        )


def padded_size(size: int) -> int:
    """Smallest 2**k + 1 >= size (and >= 2): the image extent for which grid_sample's unnormalisation is exact."""
    return 1 + (1 << max(size - 2, 0).bit_length())


def sample_support(u: torch.Tensor, v: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """Total interpolation weight that falls inside an (H, W) image for samples at (u, v) pixels (no grad).

    Equals grid_sample of an image of ones (zero padding, align_corners=True semantics), computed directly:
    bilinear weights are separable, so the in-image weight is the product of the per-axis ones.
    """
    u, v = u.detach(), v.detach()
    if mode == "nearest":
        inside = (torch.round(u) >= 0) & (torch.round(u) <= width - 1)
        inside = inside & (torch.round(v) >= 0) & (torch.round(v) <= height - 1)
        return inside.to(u.dtype)
    outside_u = torch.clamp(torch.maximum(-u, u - (width - 1)), min=0.0)
    outside_v = torch.clamp(torch.maximum(-v, v - (height - 1)), min=0.0)
    return torch.clamp(1.0 - outside_u, min=0.0) * torch.clamp(1.0 - outside_v, min=0.0)


def sample_pixels(image: torch.Tensor, u: torch.Tensor, v: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample an image at continuous pixel coordinates (pixel centres at integers), zero outside the image.

    Calls ``grid_sample(align_corners=True, padding_mode="zeros")`` on the image zero-padded on the right and bottom
    to (2**k + 1)-pixel extents. grid_sample unnormalises with ``((g + 1) / 2) * (size - 1)``; with size - 1 a power
    of two and ``g = 2 * u / (size - 1) - 1`` every step is exact in floating point for integer u, so integer
    positions (zero and integer flows) are sampled exactly. Without the padding, float32 rounding moves samples by up
    to ~3e-5 px at W=480. The padding only adds zeros beyond the last pixel, which zero padding implies anyway.

    Args:
        image: (B, C, H, W).
        u, v: (B, H_out, W_out) column and row coordinates in pixels.
        mode: "bilinear" (differentiable w.r.t. image, u and v) or "nearest" (round half to even).
    Returns:
        (B, C, H_out, W_out) samples.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"unknown sampling mode {mode!r}; expected 'bilinear' or 'nearest'")
    height, width = image.shape[2:]
    padded_h, padded_w = padded_size(height), padded_size(width)
    if (padded_h, padded_w) != (height, width):
        image = F.pad(image, (0, padded_w - width, 0, padded_h - height))
    grid = torch.stack([2.0 * u / (padded_w - 1) - 1.0, 2.0 * v / (padded_h - 1) - 1.0], dim=-1)
    return F.grid_sample(image, grid, mode=mode, padding_mode="zeros", align_corners=True)


def backward_warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear"):
    """Resample ``image`` at ``p + flow(p)`` for every pixel p of the output grid.

    Args:
        image: (B, C, H, W) values at pixel centres.
        flow: (B, 2, H, W) displacement in pixels, channel 0 along columns (u), channel 1 along rows (v).
        mode: "bilinear" (differentiable w.r.t. image and flow) or "nearest".
    Returns:
        warped (B, C, H, W): the samples, set to 0 where not valid (as upstream);
        valid (B, 1, H, W) float in {0, 1}: 1 where the sample and all its interpolation support are in-image
        (support weight >= 1 - 1e-5, upstream's 0.99999 test on a warped image of ones). No gradient.
    """
    _check_shapes(image, flow)
    height, width = image.shape[2:]
    grid = pixel_grid(height, width, device=flow.device, dtype=flow.dtype)
    u = grid[0] + flow[:, 0]
    v = grid[1] + flow[:, 1]
    warped = sample_pixels(image, u, v, mode)
    valid = (sample_support(u, v, height, width, mode) >= 1.0 - VALID_TOLERANCE).to(image.dtype).unsqueeze(1)
    return warped * valid, valid


def warp_binary_mask(mask: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp a {0, 1} mask (e.g. the jitter/padding mask) and keep pixels whose whole bilinear support is 1.

    Args:
        mask: (B, 1, H, W) values in {0, 1} (bool or float).
        flow: (B, 2, H, W) pixels.
    Returns:
        (B, 1, H, W) float in {0, 1}, no gradient: 1 where the warped mask equals 1 within 1e-5, i.e. the sample
        point is in-image and every source pixel contributing to it has mask 1.
    """
    with torch.no_grad():
        warped, valid = backward_warp(mask.to(flow.dtype), flow.detach())
        return ((warped - 1.0).abs() <= VALID_TOLERANCE).to(flow.dtype) * valid
