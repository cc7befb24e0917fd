import numpy as np
import torch

from libyana.camutils import project_points, project_points_np

K = np.array([[500.0, 0.0, 320.0], [0.0, 480.0, 240.0], [0.0, 0.0, 1.0]])


def test_points_on_the_optical_axis_and_off_it_land_where_the_pinhole_model_says():
    points = np.array([[0.0, 0.0, 2.0], [0.1, -0.2, 0.5], [-0.3, 0.05, 1.0]])
    expected = np.array([[320.0, 240.0], [320.0 + 500 * 0.2, 240.0 - 480 * 0.4], [320.0 - 150.0, 240.0 + 24.0]])
    np.testing.assert_allclose(project_points_np(points, K), expected, atol=1e-9)
    got = project_points(torch.tensor(points)[None], torch.tensor(K)[None])[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_numpy_variant_keeps_leading_dimensions_and_float32():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (4, 7, 2)), rng.uniform(0.3, 1.0, (4, 7, 1))], -1)
    uv = project_points_np(points, K)
    assert uv.shape == (4, 7, 2)
    flat = project_points_np(points.reshape(-1, 3), K).reshape(4, 7, 2)
    np.testing.assert_array_equal(uv, flat)
    assert project_points_np(points.astype(np.float32), K.astype(np.float32)).dtype == np.float32


def test_torch_variant_guards_zero_depth():
    points = torch.tensor([[[0.1, 0.1, 0.0]]])
    uv = project_points(points, torch.tensor(K, dtype=torch.float32)[None])
    assert torch.isfinite(uv).all()
