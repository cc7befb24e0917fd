"""Overlay pictures of the predict command: predicted hand and object meshes shaded over the user's frames.

One batched call of the project's renderer (render.shade_mesh: pure-PyTorch rasteriser, per-vertex colour with
ambient + Lambert light) per batch of frames, with the colours and lighting of the visualize figures'
ground-truth rows (visualize.comparison: hand blue, object red).
"""

from typing import Optional

import numpy as np
import torch

from handobjectconsist.render import shade_mesh, to_uint8
from handobjectconsist.visualize.comparison import GT_HAND_COLOR, GT_OBJ_COLOR, Lighting
from libyana.meshutils import concat_meshes

HAND_COLOR = GT_HAND_COLOR
OBJ_COLOR = GT_OBJ_COLOR
NEAR = 0.01  # metres: as the visualize figures, faces closer than this to the camera are not drawn


def render_overlays(frames: np.ndarray, K: torch.Tensor, hand_verts: torch.Tensor, hand_faces: torch.Tensor,
                    obj_verts: Optional[torch.Tensor] = None, obj_faces: Optional[torch.Tensor] = None,
                    lighting: Lighting = Lighting()) -> np.ndarray:
    """Render the meshes of each frame over it, through the frame's own camera.

    Args:
        frames: (B, H, W, 3) uint8 RGB.
        K: (3, 3) or (B, 3, 3) intrinsics of the frames in pixels (OpenCV; pixel (i, j) centred at (u=j, v=i)).
        hand_verts: (B, V, 3) camera-frame metres, on the rendering device; hand_faces (F, 3) long.
        obj_verts: (B, N, 3) camera-frame metres, or None; obj_faces (G, 3) long.
        lighting: shading (visualize.comparison.Lighting).
    Returns:
        (B, H, W, 3) uint8 RGB overlays.
    """
    device, dtype = hand_verts.device, hand_verts.dtype
    batch, height, width = frames.shape[0], frames.shape[1], frames.shape[2]
    verts_list, faces_list = [hand_verts], [hand_faces.to(device)]
    colors = [torch.tensor(HAND_COLOR, device=device, dtype=dtype).expand(batch, hand_verts.shape[1], 3)]
    if obj_verts is not None:
        verts_list.append(obj_verts.to(dtype))
        faces_list.append(obj_faces.to(device))
        colors.append(torch.tensor(OBJ_COLOR, device=device, dtype=dtype).expand(batch, obj_verts.shape[1], 3))
    verts, faces = concat_meshes(verts_list, faces_list)
    K = torch.as_tensor(K, dtype=dtype, device=device)
    K = K.expand(batch, 3, 3) if K.dim() == 2 else K
    background = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).to(dtype) / 255.0
    rendered = shade_mesh(verts, faces, K, (height, width), torch.cat(colors, 1), background=background,
                          ambient=lighting.ambient, diffuse=lighting.diffuse, light_dir=lighting.light_dir, near=NEAR)
    return to_uint8(rendered["rgb"])
