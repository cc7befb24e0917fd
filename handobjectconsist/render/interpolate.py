"""Differentiable interpolation of per-vertex attributes over rasterised pixels."""

import torch

from handobjectconsist.render.rasterize import Fragments


def interpolate_attributes(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """Perspective-correct interpolation of per-vertex attributes at every covered pixel.

    Each covered pixel combines the attributes of its face's three vertices with the fragments' barycentric
    weights. The weights and face indices are constants (detached): the result is differentiable with respect to
    ``attributes`` only, never through visibility or coverage (upstream detach_renders=True).

    Args:
        fragments: output of ``rasterize`` for the same faces (image (H, W), batch B).
        faces: (F, 3) or (B, F, 3) long, the faces given to ``rasterize``.
        attributes: (B, V, C) per-vertex values (any float dtype; the weights are cast to it).
    Returns:
        (B, C, H, W) interpolated attributes, exactly 0 on background pixels.
    """
    batch_size, height, width = fragments.face_index.shape
    if attributes.dim() != 3 or attributes.shape[0] != batch_size:
        raise ValueError(
            f"interpolate_attributes: attributes must have shape (B={batch_size}, V, C), "
            f"got {tuple(attributes.shape)}"
        )
    faces = faces.long()
    if faces.dim() == 2:
        faces = faces.unsqueeze(0).expand(batch_size, -1, -1)
    if faces.dim() != 3 or faces.shape[0] != batch_size or faces.shape[-1] != 3:
        raise ValueError(
            f"interpolate_attributes: faces must have shape (F, 3) or (B={batch_size}, F, 3), got {tuple(faces.shape)}"
        )
    num_verts, channels = attributes.shape[1:]
    num_faces = faces.shape[1]

    flat_face_index = fragments.face_index.reshape(-1)
    covered = (flat_face_index >= 0).nonzero().squeeze(1)
    batch_index = covered // (height * width)
    global_faces = (faces + (torch.arange(batch_size, device=faces.device) * num_verts).view(-1, 1, 1)).reshape(-1, 3)
    vert_ids = global_faces[batch_index * num_faces + flat_face_index[covered]]  # (N, 3) into B*V
    weights = fragments.bary.reshape(-1, 3)[covered].detach().to(attributes.dtype)  # (N, 3)

    values = attributes.reshape(batch_size * num_verts, channels)[vert_ids.reshape(-1)].view(-1, 3, channels)
    pixel_values = (values * weights.unsqueeze(-1)).sum(1)  # (N, C)

    out = attributes.new_zeros(batch_size * height * width, channels)
    out = out.index_put((covered,), pixel_values)
    return out.view(batch_size, height, width, channels).permute(0, 3, 1, 2)
