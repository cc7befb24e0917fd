"""Vertex normals of triangle meshes."""

import torch


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Area-weighted unit vertex normals.

    Each face adds its cross product (v1 - v0) x (v2 - v0), whose length is twice its area, to its three vertices
    (first corner 0 of every face in face order, then corner 1, then corner 2: a fixed summation order, so the
    synthetic-data renderer, synth/compose.py, gives the same bits as before it used this function); the sums are
    normalised. The direction follows the face winding; vertices used by no face get a zero normal.

    Args:
        verts: (B, V, 3) vertices.
        faces: (F, 3) or (B, F, 3) long.
    Returns:
        (B, V, 3) unit normals (zero where undefined).
    """
    batch_size = verts.shape[0]
    faces = faces.long()
    if faces.dim() == 2:
        faces = faces.unsqueeze(0).expand(batch_size, -1, -1)
    flat = faces.reshape(batch_size, -1)
    tri = torch.gather(verts, 1, flat.unsqueeze(-1).expand(-1, -1, 3)).view(batch_size, -1, 3, 3)
    face_normals = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    sums = torch.zeros_like(verts)
    for corner in range(3):
        sums.scatter_add_(1, faces[:, :, corner : corner + 1].expand(-1, -1, 3), face_normals)
    return sums / sums.norm(dim=-1, keepdim=True).clamp(min=eps)
