"""Generic mesh helpers."""

from typing import Sequence

import torch


def concat_meshes(verts_list: Sequence[torch.Tensor], faces_list: Sequence[torch.Tensor]):
    """Concatenate batched meshes into one mesh per batch element, offsetting face indices.

    Args:
        verts_list: tensors (B, V_k, 3).
        faces_list: tensors (F_k, 3) or (B, F_k, 3), indexing the matching vertex tensor.
    Returns:
        verts (B, sum V_k, 3) and faces (B, sum F_k, 3) (long).
    """
    if len(verts_list) != len(faces_list):
        raise ValueError(f"got {len(verts_list)} vertex tensors but {len(faces_list)} face tensors")
    batch_size = verts_list[0].shape[0]
    all_faces = []
    offset = 0
    for verts, faces in zip(verts_list, faces_list):
        faces = faces.long()
        if faces.dim() == 2:
            faces = faces.unsqueeze(0).expand(batch_size, -1, -1)
        all_faces.append(faces + offset)
        offset += verts.shape[1]
    return torch.cat(list(verts_list), dim=1), torch.cat(all_faces, dim=1)
