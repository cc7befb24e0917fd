"""vertex_normals against the sphere's radial directions and trimesh's vertex normals."""

import numpy as np
import torch
import trimesh

from handobjectconsist.render import vertex_normals


def test_vertex_normals_of_a_sphere_point_outwards_and_follow_winding():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    verts = torch.tensor(sphere.vertices, dtype=torch.float64)[None]
    faces = torch.tensor(sphere.faces)
    normals = vertex_normals(verts, faces)
    radial = verts[0] / verts[0].norm(dim=-1, keepdim=True)
    torch.testing.assert_close(normals[0], radial, atol=2e-2, rtol=0)
    np.testing.assert_allclose(normals[0].numpy(), sphere.vertex_normals, atol=2e-2)
    torch.testing.assert_close(vertex_normals(verts, faces.flip(-1)), -normals)


def test_unused_vertex_gets_zero_normal():
    verts = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [5.0, 5.0, 5.0]]])
    normals = vertex_normals(verts, torch.tensor([[0, 1, 2]]))
    torch.testing.assert_close(normals[0, :3], torch.tensor([[0.0, 0.0, 1.0]]).expand(3, 3))
    assert (normals[0, 3] == 0).all()
