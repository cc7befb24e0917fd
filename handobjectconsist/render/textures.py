"""UV-free procedural textures: per-vertex colours computed from vertex positions or ids.

All functions take points (B, V, 3) or (V, 3) in metres (typically a mesh's canonical/rest vertices, so that the
texture stays attached to the surface when the mesh moves) and return colours of the same shape in [0, 1].
"""

from typing import Sequence

import torch

ColorPair = Sequence[Sequence[float]]


def _two_colors(points: torch.Tensor, selector: torch.Tensor, colors: ColorPair) -> torch.Tensor:
    first = torch.as_tensor(colors[0], dtype=points.dtype, device=points.device)
    second = torch.as_tensor(colors[1], dtype=points.dtype, device=points.device)
    return torch.where(selector.unsqueeze(-1), second, first).expand_as(points).clone()


def checker(
    points: torch.Tensor, cell: float = 0.01, colors: ColorPair = ((0.9, 0.9, 0.9), (0.15, 0.15, 0.15))
) -> torch.Tensor:
    """3D checkerboard: colour 1 where floor(x/cell) + floor(y/cell) + floor(z/cell) is odd, colour 0 otherwise.

    Args:
        points: (..., 3) positions in metres; cell: cube side in metres; colors: two RGB triples in [0, 1].
    Returns:
        (..., 3) colours.
    """
    parity = torch.floor(points / cell).long().sum(-1) % 2 == 1
    return _two_colors(points, parity, colors)


def stripes(
    points: torch.Tensor,
    period: float = 0.02,
    direction: Sequence[float] = (1.0, 0.0, 0.0),
    colors: ColorPair = ((0.85, 0.3, 0.2), (0.95, 0.85, 0.6)),
) -> torch.Tensor:
    """Parallel planar stripes: colour 1 where frac(points . d / period) >= 0.5 (d = unit direction), else colour 0."""
    d = torch.as_tensor(direction, dtype=points.dtype, device=points.device)
    phase = (points @ (d / d.norm())) / period
    return _two_colors(points, (phase - torch.floor(phase)) >= 0.5, colors)


def smooth_noise(
    points: torch.Tensor,
    scale: float = 0.03,
    seed: int = 0,
    base_color: Sequence[float] = (0.8, 0.6, 0.5),
    amplitude: float = 0.25,
    num_waves: int = 8,
) -> torch.Tensor:
    """Smooth colour noise: base colour plus, per channel, a sum of seeded random plane waves of wavelength ~scale.

    Deterministic given ``seed``; varies smoothly over the surface (useful texture for photometric consistency).
    """
    generator = torch.Generator().manual_seed(seed)
    dirs = torch.randn(3, num_waves, 3, generator=generator, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    freqs = (2 * torch.pi / scale) * (0.5 + torch.rand(3, num_waves, generator=generator, dtype=torch.float64))
    phases = 2 * torch.pi * torch.rand(3, num_waves, generator=generator, dtype=torch.float64)
    waves = dirs * freqs.unsqueeze(-1)  # (3 channels, N, 3)
    waves = waves.to(points.dtype).to(points.device)
    phases = phases.to(points.dtype).to(points.device)
    # (..., 3 channels, N)
    arguments = torch.einsum("...k,cnk->...cn", points, waves) + phases
    noise = torch.sin(arguments).mean(-1) * (2.0**0.5)
    base = torch.as_tensor(base_color, dtype=points.dtype, device=points.device)
    return (base + amplitude * noise).clamp(0, 1)


def random_vertex_colors(num_verts: int, batch_size: int = 1, seed: int = 0, device=None) -> torch.Tensor:
    """Independent uniform random colour per vertex id (B, V, 3), identical across the batch; seeded."""
    generator = torch.Generator().manual_seed(seed)
    colors = torch.rand(num_verts, 3, generator=generator)
    return colors.unsqueeze(0).expand(batch_size, -1, -1).to(device).clone()
