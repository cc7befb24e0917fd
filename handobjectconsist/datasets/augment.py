"""Image augmentation for full-frame inputs: centre/scale jitter as an affine map, colour jitter, blur.

Geometry (project pixel convention, pixel (i, j) centred at (u=j, v=i)): the "crop" is centred on the frame centre
c0 = ((W-1)/2, (H-1)/2) shifted by an integer `center_shift` and has width W*scale; it is mapped onto the output
frame, whose centre is ((W_out-1)/2, (H_out-1)/2), with the isotropic zoom z = W_out / (W*scale):
    u_out = (u_in - c0 - shift) * z + c_out.
With scale 1 and W_out = W this is a pure integer translation by -shift (the upstream default: centre jitter only).
The intrinsics of the output are AFFINE @ K.

Scale jitter is drawn as clip(1 + sj * N(0, 1), 1 - sj, 1 + sj): symmetric around 1, so its mean is exactly 1.
(Upstream multiplied by clip(sj * (N + 1), ...), which is biased; docs/differences-from-upstream.md, D10.)
Rotation is not implemented (off upstream too; it breaks the camera-space losses).

Photometric: Gaussian blur with sigma = U(0, 1) * blur_radius, then brightness, contrast, saturation and hue
factors applied in a random order; both are applied to the original frame before the affine warp so that the padding
stays black. They run on the uint8 frame with OpenCV (lookup tables, a separable blur, OpenCV's HSV conversion), each
operation rounding to uint8: the definitions are torchvision's float ones (adjust_brightness / contrast / saturation
/ hue, gaussian_blur with reflect padding), which tests/datasets/test_augment.py checks them against on the same
factors (mean absolute difference below 1/255 per operation). About 10x faster than the float ops on one core
(benchmarks/bench_dataloader.py).
"""

from dataclasses import dataclass, field
from typing import Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as torch_f


@dataclass(frozen=True)
class SpaceAugm:
    """Spatial augmentation: integer centre shift (du, dv) in pixels and the crop scale (1 = whole frame)."""

    center_shift: Tuple[int, int] = (0, 0)
    scale: float = 1.0


@dataclass(frozen=True)
class ColorAugm:
    """Colour augmentation factors (1, 1, 1, 0 = unchanged) and the order of the four operations."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0
    order: Tuple[int, ...] = field(default=(0, 1, 2, 3))


def sample_space_augm(rng: np.random.Generator, image_size: Tuple[int, int], center_jittering: float,
                      scale_jittering: float) -> SpaceAugm:
    """Draw a spatial augmentation for a frame of image_size = (W, H).

    The centre shift per axis is int(center_jittering * W * U(-1, 1)) (truncated towards 0, as upstream, where the
    crop "scale" is the frame width), so 0.1 gives up to +-48 px at width 480.
    """
    width = image_size[0]
    shift = rng.uniform(-1.0, 1.0, size=2) * center_jittering * width
    scale = 1.0
    if scale_jittering > 0:
        scale = float(np.clip(1.0 + scale_jittering * rng.standard_normal(), 1 - scale_jittering,
                              1 + scale_jittering))
    return SpaceAugm(center_shift=(int(shift[0]), int(shift[1])), scale=scale)


def sample_color_augm(rng: np.random.Generator, brightness: float = 0.5, contrast: float = 0.5,
                      saturation: float = 0.5, hue: float = 0.15) -> ColorAugm:
    """Draw colour factors U(1-b, 1+b), U(1-c, 1+c), U(1-s, 1+s), U(-hue, hue) and a random order."""
    return ColorAugm(
        brightness=float(rng.uniform(1 - brightness, 1 + brightness)),
        contrast=float(rng.uniform(1 - contrast, 1 + contrast)),
        saturation=float(rng.uniform(1 - saturation, 1 + saturation)),
        hue=float(rng.uniform(-hue, hue)),
        order=tuple(int(i) for i in rng.permutation(4)),
    )


def sample_blur_sigma(rng: np.random.Generator, blur_radius: float = 0.5) -> float:
    """Gaussian blur sigma in pixels, U(0, 1) * blur_radius."""
    return float(rng.uniform(0.0, 1.0) * blur_radius)


def affine_matrix(space_augm: SpaceAugm, in_size: Tuple[int, int], out_size: Tuple[int, int]) -> np.ndarray:
    """(3, 3) float64 map from input-frame pixels to output pixels (see module docstring).

    Args:
        space_augm: the spatial augmentation.
        in_size, out_size: (W, H) of the source frame and of the output image.
    """
    w_in, h_in = in_size
    w_out, h_out = out_size
    zoom = w_out / (w_in * space_augm.scale)
    center_in = np.array([(w_in - 1) / 2 + space_augm.center_shift[0], (h_in - 1) / 2 + space_augm.center_shift[1]])
    center_out = np.array([(w_out - 1) / 2, (h_out - 1) / 2])
    affine = np.eye(3)
    affine[0, 0] = affine[1, 1] = zoom
    affine[:2, 2] = center_out - zoom * center_in
    return affine


def warp_image(image: torch.Tensor, affine: np.ndarray, out_size: Tuple[int, int]):
    """Resample an image with an input->output pixel affine map (bilinear, zero padding).

    Args:
        image: (C, H, W) float.
        affine: (3, 3) input pixels -> output pixels.
        out_size: (W_out, H_out).
    Returns:
        warped (C, H_out, W_out) and mask (1, H_out, W_out) float32: 1 where the output pixel maps inside the hull
        of the input pixel centres (a real pixel), 0 for padding.
    """
    _, h_in, w_in = image.shape
    w_out, h_out = out_size
    inv = torch.as_tensor(np.linalg.inv(affine), dtype=torch.float32)
    vs, us = torch.meshgrid(torch.arange(h_out, dtype=torch.float32), torch.arange(w_out, dtype=torch.float32),
                            indexing="ij")
    u_in = inv[0, 0] * us + inv[0, 1] * vs + inv[0, 2]
    v_in = inv[1, 0] * us + inv[1, 1] * vs + inv[1, 2]
    eps = 1e-4
    mask = (u_in >= -eps) & (u_in <= w_in - 1 + eps) & (v_in >= -eps) & (v_in <= h_in - 1 + eps)
    grid = torch.stack([2 * u_in / max(w_in - 1, 1) - 1, 2 * v_in / max(h_in - 1, 1) - 1], dim=-1)
    warped = torch_f.grid_sample(image[None].float(), grid[None], mode="bilinear", padding_mode="zeros",
                                 align_corners=True)[0]
    return warped * mask[None], mask[None].float()


def integer_shift_image(image: torch.Tensor, shift: Tuple[int, int]):
    """Fast exact path of `warp_image` for scale 1 and same size: output(u, v) = input(u + du, v + dv).

    Returns warped (C, H, W) and mask (1, H, W) float32 as `warp_image`.
    """
    c, h, w = image.shape
    du, dv = shift
    out = image.new_zeros((c, h, w))
    mask = image.new_zeros((1, h, w), dtype=torch.float32)
    u0, u1 = max(0, -du), min(w, w - du)
    v0, v1 = max(0, -dv), min(h, h - dv)
    if u0 < u1 and v0 < v1:
        out[:, v0:v1, u0:u1] = image[:, v0 + dv:v1 + dv, u0 + du:u1 + du]
        mask[:, v0:v1, u0:u1] = 1.0
    return out, mask


# Luma weights of torchvision's rgb_to_grayscale (the contrast mean and the saturation blend are defined with them).
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def _lut(values: np.ndarray) -> np.ndarray:
    """(256,) uint8 lookup table from float values for input levels 0..255 (rounded, clipped to [0, 255])."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def apply_blur(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an (H, W, 3) uint8 frame with standard deviation `sigma` pixels (no-op below 0.05).

    Kernel size 2 * ceil(3 sigma) + 1 and mirror padding without edge repetition, as torchvision's gaussian_blur.
    """
    if sigma < 0.05:
        return frame
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(frame, (size, size), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


def adjust_brightness(frame: np.ndarray, factor: float) -> np.ndarray:
    """factor * frame, clipped: (H, W, 3) uint8 -> uint8."""
    return cv2.LUT(frame, _lut(np.arange(256) * factor))


def adjust_contrast(frame: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the mean grey level of the whole frame: factor * frame + (1 - factor) * mean, clipped."""
    channel_means = np.asarray(cv2.mean(frame)[:3])
    mean = float(channel_means @ np.asarray(GRAY_WEIGHTS))
    return cv2.LUT(frame, _lut(np.arange(256) * factor + (1 - factor) * mean))


def adjust_saturation(frame: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the frame's own grey image: factor * frame + (1 - factor) * grey, clipped.

    The blend is linear in (r, g, b), so it runs as one 3x3 colour matrix per pixel (cv2.transform, rounded and
    clipped to uint8 once): M = factor * I + (1 - factor) * 1 w^T with w the grey weights.
    """
    weights = np.asarray(GRAY_WEIGHTS, dtype=np.float32)
    matrix = factor * np.eye(3, dtype=np.float32) + (1.0 - factor) * np.outer(np.ones(3, np.float32), weights)
    return cv2.transform(frame, matrix)


def adjust_hue(frame: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the hue by `shift` turns (in [-0.5, 0.5]) through OpenCV's full-range 8-bit HSV."""
    steps = int(round(shift * 256)) % 256
    if steps == 0:
        return frame  # the 8-bit HSV round trip alone is not lossless
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] += np.uint8(steps)  # uint8 addition wraps around: (hue + steps) mod 256
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def apply_color(frame: np.ndarray, color_augm: ColorAugm) -> np.ndarray:
    """Apply the colour factors of `color_augm` in its order to an (H, W, 3) uint8 RGB frame; returns uint8."""
    ops = (
        lambda im: adjust_brightness(im, color_augm.brightness),
        lambda im: adjust_contrast(im, color_augm.contrast),
        lambda im: adjust_saturation(im, color_augm.saturation),
        lambda im: adjust_hue(im, color_augm.hue),
    )
    for i in color_augm.order:
        frame = ops[i](frame)
    return frame


def augmented_image(frame: np.ndarray, affine: np.ndarray, color: Optional[ColorAugm], blur_sigma: float
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Network image of a frame: blur, colour jitter, then the spatial map.

    Args:
        frame: (H, W, 3) uint8 RGB.
        affine: (3, 3) frame pixels -> output pixels (same size); a pure integer translation is applied exactly
            (integer_shift_image), anything else bilinearly (warp_image).
        color: colour factors or None; blur_sigma: Gaussian blur sigma in pixels (0: none).
    Returns:
        (3, H, W) float32 image in [-0.5, 0.5] (padding -0.5) and its (1, H, W) jitter mask.
    """
    height, width = frame.shape[:2]
    pixels = frame
    if blur_sigma > 0:
        pixels = apply_blur(pixels, blur_sigma)
    if color is not None:
        pixels = apply_color(pixels, color)
    pixels = torch.from_numpy(np.stack(cv2.split(pixels)))  # (3, H, W) uint8; 4x faster than permute+copy
    translation = affine[:2, 2]
    if np.array_equal(affine[:2, :2], np.eye(2)) and np.array_equal(translation, np.round(translation)):
        pixels, mask = integer_shift_image(pixels, (-int(translation[0]), -int(translation[1])))
        image = pixels.float().div_(255.0)
    else:
        image, mask = warp_image(pixels.float().div_(255.0), affine, (width, height))
    return image.sub_(0.5), mask
