"""interpolate_attributes: analytic values on a slanted plane, gradcheck, background, batched faces."""

import numpy as np
import torch

from handobjectconsist.render import interpolate_attributes, rasterize


def slanted_quad(K, height, width, normal, offset):
    """Vertices (4, 3) of a quad on the plane normal . X = offset projecting to most of the image."""
    corners = np.array([[1.3, 1.2], [width - 2.2, 0.7], [width - 1.6, height - 1.9], [0.8, height - 2.4]])
    rays = np.concatenate([corners, np.ones((4, 1))], 1) @ np.linalg.inv(K).T
    return rays * (offset / (rays @ normal))[:, None], np.array([[0, 1, 2], [0, 2, 3]])


def test_linear_function_of_position_is_interpolated_exactly_on_a_slanted_plane(device):
    height, width = 27, 35
    K = np.array([[30.0, 0.0, 17.2], [0.0, 29.0, 13.1], [0.0, 0.0, 1.0]])
    normal, offset = np.array([0.5, -0.3, 1.0]), 2.5
    vertices, faces = slanted_quad(K, height, width, normal, offset)
    coeffs, const = np.array([[0.7, -1.3, 2.1], [0.0, 0.0, 1.0]]), np.array([0.4, 0.0])  # f(X) and z
    attrs = vertices @ coeffs.T + const
    fragments = rasterize(torch.tensor(vertices, device=device)[None], torch.tensor(faces, device=device),
                          torch.tensor(K, device=device)[None], (height, width))
    out = interpolate_attributes(fragments, torch.tensor(faces, device=device),
                                 torch.tensor(attrs, device=device)[None])[0].cpu().numpy()
    assert out.shape == (2, height, width)

    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    rays = np.stack([cols, rows, np.ones_like(cols)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    hits = (rays * (offset / (rays @ normal))[:, None]).reshape(height, width, 3)
    expected = hits @ coeffs.T + const
    mask = fragments.mask[0].cpu().numpy()
    assert mask.mean() > 0.7
    np.testing.assert_allclose(out[:, mask].T, expected[mask], rtol=1e-9, atol=1e-12)
    # Affine (screen-space) interpolation would be visibly off on this plane: the check above is meaningful.
    np.testing.assert_allclose(out[1][mask], fragments.depth[0].cpu().numpy()[mask], rtol=1e-9)
    assert np.all(out[:, ~mask] == 0)


def test_gradcheck_with_respect_to_attributes_batched_faces(device):
    height, width = 9, 11
    K = torch.tensor([[9.0, 0.0, 5.2], [0.0, 9.0, 4.1], [0.0, 0.0, 1.0]], dtype=torch.float64, device=device).expand(2,
                     3, 3)
    verts = torch.tensor(
        [[[-0.5, -0.4, 1.0], [0.6, -0.3, 1.2], [0.1, 0.5, 0.9], [-0.4, 0.4, 1.4]]], dtype=torch.float64, device=device
    ).expand(2, -1, -1)
    faces = torch.tensor([[[0, 1, 2], [0, 2, 3]], [[1, 2, 3], [3, 0, 1]]], device=device)
    fragments = rasterize(verts, faces, K, (height, width))
    assert fragments.mask.sum() > 20
    attrs = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True, device=device)
    assert torch.autograd.gradcheck(lambda a: interpolate_attributes(fragments, faces, a), (attrs,))

    # Gradient of the sum over pixels w.r.t. vertex k = sum of its weights over the pixels of faces using it.
    out = interpolate_attributes(fragments, faces, attrs)
    out[:, 0].sum().backward()
    for b in range(2):
        expected = torch.zeros(4, dtype=torch.float64, device=device)
        covered = fragments.face_index[b] >= 0
        vert_ids = faces[b][fragments.face_index[b][covered]]
        expected.index_add_(0, vert_ids.reshape(-1), fragments.bary[b][covered].reshape(-1))
        torch.testing.assert_close(attrs.grad[b, :, 0], expected)
        assert (attrs.grad[b, :, 1:] == 0).all()


def test_background_is_zero_and_has_no_gradient(device):
    K = torch.tensor([[[20.0, 0.0, 9.5], [0.0, 20.0, 7.5], [0.0, 0.0, 1.0]]], device=device)
    verts = torch.tensor([[[-0.1, -0.1, 2.0], [0.1, -0.1, 2.0], [0.0, 0.1, 2.0]]], device=device)
    fragments = rasterize(verts, torch.tensor([[0, 1, 2]], device=device), K, (16, 20))
    attrs = torch.full((1, 3, 1), 5.0, requires_grad=True, device=device)
    out = interpolate_attributes(fragments, torch.tensor([[0, 1, 2]], device=device), attrs)
    torch.testing.assert_close(out[0, 0][fragments.mask[0]],
                               torch.full((int(fragments.mask.sum()),), 5.0, device=device))
    assert (out[0, 0][~fragments.mask[0]] == 0).all()
    out.sum().backward()
    torch.testing.assert_close(attrs.grad.sum(), fragments.mask.sum().float())
