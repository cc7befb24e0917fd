"""Loading object meshes (PLY, OBJ) with vertex order preserved."""

from typing import Tuple

import numpy as np
import trimesh

from .errors import AnnotationFormatError, require_file


def load_mesh(path) -> Tuple[np.ndarray, np.ndarray]:
    """Load a triangle mesh without merging or reordering vertices.

    Returns:
        verts (N, 3) float64 (file units) and faces (F, 3) int64.
    """
    path = require_file(path, "an object mesh file")
    try:
        mesh = trimesh.load(str(path), process=False, maintain_order=True, force="mesh")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise AnnotationFormatError(path, None, f"cannot read the mesh ({exc})") from None
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if verts.size == 0 or faces.size == 0:
        raise AnnotationFormatError(path, None, "the mesh has no vertices or no faces")
    return verts, faces
