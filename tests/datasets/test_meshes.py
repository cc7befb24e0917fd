"""Object-mesh loading keeps the file's vertices (differences-from-upstream.md, D12)."""

import numpy as np
import pytest
import trimesh

from handobjectconsist.datasets.errors import AnnotationFormatError
from handobjectconsist.datasets.meshes import load_mesh


def _split_vertex_quad():
    # Two triangles of a unit square that do not share vertices: positions 1 and 3 are repeated (as in a PLY whose
    # vertices are split along a texture seam). Merging would leave 4 vertices.
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0]], dtype=np.float64)
    faces = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.int64)
    return verts, faces


@pytest.mark.parametrize("suffix", [".ply", ".obj"])
def test_duplicate_positions_are_kept_in_file_order(tmp_path, suffix):
    verts, faces = _split_vertex_quad()
    path = tmp_path / f"quad{suffix}"
    trimesh.Trimesh(verts, faces, process=False).export(str(path))
    assert len(trimesh.load(str(path), force="mesh").vertices) == 4  # trimesh's default processing merges them
    loaded_verts, loaded_faces = load_mesh(path)
    np.testing.assert_allclose(loaded_verts, verts)
    np.testing.assert_array_equal(loaded_faces, faces)


def test_unreadable_file_names_the_path(tmp_path):
    path = tmp_path / "broken.ply"
    path.write_bytes(b"ply\nformat nonsense\n")
    with pytest.raises(AnnotationFormatError, match="broken.ply"):
        load_mesh(path)
