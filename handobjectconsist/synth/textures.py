"""Procedural, UV-free textures: solid (3-D) noise evaluated at surface points, and image-space backgrounds.

Solid textures are functions of a point in a mesh's *rest* frame (object model frame, or the hand in its zero pose),
so a surface point keeps its colour while the mesh moves: what the photometric-consistency loss relies on.
All functions are deterministic (seeded wave banks, no global random state) and run on torch tensors.
"""

import math

import numpy as np
import torch


def _wave_bank(frequency: float, octaves: int, seed: int, waves: int):
    """Random plane waves: wave vectors (octaves * waves, 3) in radians per unit, phases and amplitudes."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 7919])
    dirs = rng.normal(size=(octaves * waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    scale = np.repeat(frequency * 2.0 ** np.arange(octaves), waves) * rng.uniform(0.8, 1.25, octaves * waves)
    amps = np.repeat(0.5 ** np.arange(octaves), waves)
    return (torch.as_tensor(dirs * scale[:, None] * 2.0 * math.pi, dtype=torch.float32),
            torch.as_tensor(rng.uniform(0, 2 * math.pi, octaves * waves), dtype=torch.float32),
            torch.as_tensor(amps / np.sqrt((amps**2).sum() / 2.0), dtype=torch.float32))


def fbm3(points: torch.Tensor, frequency: float, octaves: int = 4, seed: int = 0, waves: int = 6) -> torch.Tensor:
    """Smooth fractal noise as a sum of random plane waves (fast: one matmul and one sin per wave).

    Args:
        points: (N, 3) coordinates; frequency: cycles per unit of the first octave (each octave doubles it, halves
            the amplitude); seed: selects an independent field; waves: random directions per octave.
    Returns:
        (N,) float32 in [0, 1], mean 0.5.
    """
    k, phase, amp = _wave_bank(frequency, octaves, seed, waves)
    k, phase, amp = k.to(points.device), phase.to(points.device), amp.to(points.device)
    # Coordinates can be far from 0 (camera-frame metres x frequency): keep the product in float32 range.
    total = torch.sin(points.float() @ k.T + phase) @ amp  # roughly unit variance
    return (0.5 + 0.18 * total).clamp(0.0, 1.0)


def value_noise3(points: torch.Tensor, frequency: float, seed: int = 0) -> torch.Tensor:
    """Single-octave smooth noise (N, 3) -> (N,) in [0, 1] (see fbm3)."""
    return fbm3(points, frequency, 1, seed, waves=8)


def _mix(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Blend colours a, b (N, 3) or (3,) with weights t (N,)."""
    t = t.unsqueeze(-1)
    return a * (1.0 - t) + b * t


def skin_texture(rest_points: torch.Tensor, tone: torch.Tensor, params: dict) -> torch.Tensor:
    """Albedo of skin at hand surface points.

    Args:
        rest_points: (N, 3) points of the hand in its zero pose (metres, MANO frame).
        tone: (3,) base skin colour in [0, 1].
        params: {"seed": int, "creases": (C, 2, 3) tensor of (centre, unit axis) per crease, "nails": (5, 3) tensor
            of nail centres, "nail_normal": (3,) direction of the back of the hand}.
    Returns:
        (N, 3) albedo in [0, 1].
    """
    seed = int(params["seed"])
    tone = tone.to(rest_points)
    blotch = fbm3(rest_points, 60.0, 3, seed)  # ~1.5 cm blotches
    pores = value_noise3(rest_points, 900.0, seed + 7)  # ~1 mm grain: photometric gradients at fine scale
    albedo = tone * (0.86 + 0.24 * blotch.unsqueeze(-1)) * (0.94 + 0.1 * pores.unsqueeze(-1))
    creases = params["creases"].to(rest_points)
    if creases.numel():
        centres, axes = creases[:, 0, :], creases[:, 1, :]
        # (N, C) signed distance along each crease axis and squared distance to its centre, via matmuls.
        along = rest_points @ axes.T - (centres * axes).sum(-1)
        radial2 = (rest_points**2).sum(-1, keepdim=True) - 2.0 * rest_points @ centres.T + (centres**2).sum(-1)
        line = torch.exp(-((along / 0.0015) ** 2) - radial2 / 0.013**2)
        albedo = albedo * (1.0 - 0.35 * line.amax(dim=1, keepdim=True).clamp(max=1.0))
    nails = params["nails"].to(rest_points)
    back = params["nail_normal"].to(rest_points)
    d2 = ((rest_points**2).sum(-1, keepdim=True) - 2.0 * rest_points @ nails.T + (nails**2).sum(-1)).clamp(min=0)
    nail_w = torch.exp(-((d2 / 0.0055**2) ** 2)).amax(dim=1)
    dorsal = ((rest_points - nails.mean(0)) @ back > -0.004).float()
    nail_colour = torch.tensor([0.93, 0.78, 0.76]).to(rest_points)
    albedo = _mix(albedo, nail_colour, 0.8 * nail_w * dorsal)
    return albedo.clamp(0.0, 1.0)


def object_texture(points: torch.Tensor, style: dict) -> torch.Tensor:
    """Albedo of a printed object (labels, stripes, text-like blocks, cap) at model-frame points.

    Args:
        points: (N, 3) model-frame points (metres), height along +z.
        style: dict with "seed", "base", "label", "stripe", "ink", "cap" (3,) colours, "label_z" (z0, z1),
            "cap_z" float, "stripe_freq" (cycles per metre), "stripe_angle" (rad), "blocks" (K, 4) tensor of
            (s0, s1, z0, z1) rectangles in (arc length, height) coordinates, "radius" nominal radius (m).
    Returns:
        (N, 3) albedo in [0, 1].
    """
    colour = lambda key: torch.as_tensor(style[key], dtype=torch.float32).to(points.device)  # noqa: E731
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    s = torch.atan2(y, x) * style["radius"]  # arc length around the height axis
    albedo = colour("base").expand(points.shape[0], 3).clone()
    z0, z1 = style["label_z"]
    on_label = (z >= z0) & (z <= z1)
    phase = (s * math.cos(style["stripe_angle"]) + z * math.sin(style["stripe_angle"])) * style["stripe_freq"]
    stripe = torch.sigmoid(8.0 * torch.sin(2.0 * math.pi * phase))
    label = _mix(colour("label").expand_as(albedo), colour("stripe").expand_as(albedo), 0.7 * stripe)
    blocks = torch.as_tensor(style["blocks"], dtype=torch.float32).to(points.device)
    if blocks.numel():
        inside = (
            (s[:, None] >= blocks[None, :, 0])
            & (s[:, None] <= blocks[None, :, 1])
            & (z[:, None] >= blocks[None, :, 2])
            & (z[:, None] <= blocks[None, :, 3])
        ).any(dim=1)
        # Text-like: the blocks are hatched by fine vertical bars.
        bars = (torch.sin(2.0 * math.pi * s * 600.0) > -0.2) & inside
        label = torch.where(bars[:, None], colour("ink").expand_as(albedo), label)
    albedo = torch.where(on_label[:, None], label, albedo)
    albedo = torch.where((z >= style["cap_z"])[:, None], colour("cap").expand_as(albedo), albedo)
    grain = fbm3(points, 150.0, 3, int(style["seed"]))
    albedo = albedo * (0.85 + 0.3 * grain.unsqueeze(-1))
    return albedo.clamp(0.0, 1.0)


def _noise_image(height: int, width: int, frequency: float, octaves: int, seed: int, stretch=(1.0, 1.0)):
    """(H, W) fbm noise over normalised image coordinates (u / H scaled by the aspect, v / H).

    The noise is smooth, so it is evaluated on a grid 4x coarser than the image and upsampled bilinearly (cost).
    """
    h, w = max(2, -(-height // 4)), max(2, -(-width // 4))
    v, u = torch.meshgrid((torch.arange(h, dtype=torch.float32) + 0.5) / h,
                          (torch.arange(w, dtype=torch.float32) + 0.5) / w, indexing="ij")
    pts = torch.stack([u.reshape(-1) * (width / height) * stretch[0], v.reshape(-1) * stretch[1],
                       torch.zeros(h * w)], dim=-1)
    coarse = fbm3(pts, frequency, octaves, seed).reshape(1, 1, h, w)
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return fine[0, 0]


def background_image(height: int, width: int, style: dict) -> torch.Tensor:
    """Procedural background (3, H, W) in [0, 1], defined on normalised image coordinates.

    The pattern depends only on (u / W, v / H), so a 1920x1080 and a 480x270 background of the same style show
    the same picture.

    Args:
        style: {"kind": "gradient"|"stripes"|"noise"|"tiles"|"table", "colours": (3, 3) list, "seed": int,
            "angle": rad, "freq": cycles across the width}.
    """
    v, u = torch.meshgrid(
        (torch.arange(height, dtype=torch.float32) + 0.5) / height,
        (torch.arange(width, dtype=torch.float32) + 0.5) / width,
        indexing="ij",
    )
    aspect = width / height
    cols = torch.as_tensor(style["colours"], dtype=torch.float32)
    seed = int(style["seed"])
    kind = style["kind"]
    n = _noise_image(height, width, 6.0, 4, seed).reshape(-1)
    direction = u * aspect * math.cos(style["angle"]) + v * math.sin(style["angle"])
    if kind == "gradient":
        t = (direction - direction.min()) / (direction.max() - direction.min() + 1e-9)
        img = _mix(cols[0], cols[1], t.reshape(-1)) * (0.8 + 0.4 * n[:, None])
    elif kind == "stripes":
        t = torch.sigmoid(6.0 * torch.sin(2.0 * math.pi * direction * style["freq"])).reshape(-1)
        img = _mix(cols[0], cols[1], t) * (0.85 + 0.3 * n[:, None])
    elif kind == "noise":
        n2 = _noise_image(height, width, 14.0, 3, seed + 3).reshape(-1)
        img = _mix(_mix(cols[0], cols[1], n), cols[2], n2)
    elif kind == "tiles":
        f = style["freq"]
        tu, tv = (u * aspect * f), (v * f)
        checker = ((torch.floor(tu) + torch.floor(tv)) % 2).reshape(-1)
        grout = ((tu - torch.floor(tu)) < 0.06) | ((tv - torch.floor(tv)) < 0.06)
        img = _mix(cols[0], cols[1], checker) * (0.85 + 0.3 * n[:, None])
        img = torch.where(grout.reshape(-1, 1), cols[2].expand_as(img), img)
    elif kind == "table":
        # Wall above a wooden table: wood grain = noise stretched across the grain.
        horizon = 0.35 + 0.1 * math.sin(style["angle"])
        grain = _noise_image(height, width, 2.0, 4, seed + 5, stretch=(3.0, 40.0)).reshape(-1)
        wood = _mix(cols[0], cols[1], grain)
        wall = cols[2] * (0.9 + 0.2 * n[:, None])
        img = torch.where((v.reshape(-1) > horizon)[:, None], wood, wall)
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    return img.clamp(0.0, 1.0).T.reshape(3, height, width)
