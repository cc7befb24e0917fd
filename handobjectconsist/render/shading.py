"""Simple shading for pictures and synthetic data: per-vertex colours, ambient + Lambert light, compositing."""

from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from handobjectconsist.render.interpolate import interpolate_attributes
from handobjectconsist.render.normals import vertex_normals
from handobjectconsist.render.rasterize import rasterize

VertexColors = Union[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


def shade_mesh(
    verts: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    image_size: Sequence[int],
    vertex_colors: VertexColors,
    background: Optional[torch.Tensor] = None,
    ambient: float = 0.45,
    diffuse: float = 0.55,
    light_dir: Sequence[float] = (0.3, -0.5, -1.0),
    near: float = 0.1,
    far: float = 100.0,
) -> dict:
    """Render shaded meshes over a background.

    Colour of a covered pixel = vertex colour * (ambient + diffuse * max(0, n . l)), clamped to [0, 1], where the
    colour and the normal n are interpolated (perspective-correct) from the vertices, n is renormalised and flipped
    to face the camera (there is no back-face culling, so both sides of a surface are lit the same way), and l is
    the unit direction from the surface towards a distant light, in the camera frame (OpenCV axes; the default
    comes from above-right of the camera, (0, 0, -1) is a light at the camera).

    Args:
        verts: (B, V, 3) camera-frame vertices in metres.
        faces: (F, 3) or (B, F, 3) long.
        K: (B, 3, 3) intrinsics in pixels.
        image_size: (H, W).
        vertex_colors: (B, V, 3) in [0, 1], or a callable mapping verts (B, V, 3) to such colours (procedural
            textures, see handobjectconsist.render.textures; to keep a texture attached to a moving surface,
            compute the colours once from canonical vertices and pass the tensor).
        background: (B, 3, H, W) in [0, 1] or None (black).
        ambient, diffuse: light weights.
        light_dir: (3,) direction towards the light (normalised here).
        near, far: clipping distances, see ``rasterize``.
    Returns:
        dict with "rgb" (B, 3, H, W) float in [0, 1], "mask" (B, H, W) bool coverage, "face_index" (B, H, W) long
        (-1 on background), "depth" (B, H, W) metres (0 on background). Differentiable w.r.t. the colours only.
    """
    height, width = int(image_size[0]), int(image_size[1])
    colors = vertex_colors(verts) if callable(vertex_colors) else vertex_colors
    if colors.shape != verts.shape:
        raise ValueError(f"shade_mesh: vertex_colors must have shape {tuple(verts.shape)}, got {tuple(colors.shape)}")
    if background is not None and background.shape != (verts.shape[0], 3, height, width):
        raise ValueError(
            f"shade_mesh: background must have shape (B, 3, H, W) = {(verts.shape[0], 3, height, width)}, "
            f"got {tuple(background.shape)}"
        )
    fragments = rasterize(verts, faces, K, (height, width), near=near, far=far)
    normals = vertex_normals(verts.detach(), faces)
    attributes = torch.cat([colors.to(device=verts.device, dtype=verts.dtype), normals, verts.detach()], dim=-1)
    interpolated = interpolate_attributes(fragments, faces, attributes)
    pixel_colors, pixel_normals, points = interpolated[:, :3], interpolated[:, 3:6], interpolated[:, 6:9]
    pixel_normals = pixel_normals / pixel_normals.norm(dim=1, keepdim=True).clamp(min=1e-12)
    # Face the camera: the normal must point against the viewing ray (the ray goes from the origin to `points`).
    facing = torch.where((pixel_normals * points).sum(1, keepdim=True) > 0, -1.0, 1.0).to(pixel_normals.dtype)
    pixel_normals = pixel_normals * facing
    light = torch.as_tensor(light_dir, dtype=verts.dtype, device=verts.device)
    light = light / light.norm()
    lambert = (pixel_normals * light.view(1, 3, 1, 1)).sum(1, keepdim=True).clamp(min=0)
    shaded = (pixel_colors * (ambient + diffuse * lambert)).clamp(0, 1)
    mask = fragments.mask.unsqueeze(1)
    if background is None:
        background = torch.zeros_like(shaded)
    rgb = torch.where(mask, shaded, background.to(shaded.dtype))
    return {"rgb": rgb, "mask": fragments.mask, "face_index": fragments.face_index, "depth": fragments.depth}


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Convert float images (B, 3, H, W) in [0, 1] to a uint8 array (B, H, W, 3) (clamped, rounded)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"to_uint8: images must have shape (B, 3, H, W), got {tuple(images.shape)}")
    scaled = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()
