import numpy as np
import torch
from scipy.spatial.transform import Rotation

from libyana.rotations import axis_angle_to_matrix, axis_angle_to_matrix_np


def test_matches_scipy_rotvec_including_tiny_and_large_angles():
    rng = np.random.default_rng(0)
    rotvecs = np.concatenate([rng.normal(0, 1.5, (20, 3)), rng.normal(0, 1e-6, (3, 3)), np.zeros((1, 3))])
    expected = Rotation.from_rotvec(rotvecs).as_matrix()
    got = axis_angle_to_matrix(torch.tensor(rotvecs, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_gradient_is_finite_at_zero_rotation():
    rotvec = torch.zeros(2, 3, requires_grad=True)
    axis_angle_to_matrix(rotvec).sum().backward()
    assert torch.isfinite(rotvec.grad).all()


def test_numpy_variant_matches_scipy_and_the_torch_variant():
    rng = np.random.default_rng(1)
    rotvecs = np.concatenate([rng.normal(0, 1.5, (20, 3)), np.zeros((1, 3))])
    expected = Rotation.from_rotvec(rotvecs).as_matrix()
    batched = axis_angle_to_matrix_np(rotvecs)
    assert batched.shape == (21, 3, 3)
    np.testing.assert_allclose(batched, expected, atol=1e-12)
    np.testing.assert_allclose(batched, axis_angle_to_matrix(torch.tensor(rotvecs)).numpy(), atol=1e-12)
    single = axis_angle_to_matrix_np(rotvecs[3])
    assert single.shape == (3, 3)
    np.testing.assert_array_equal(single, batched[3])
    np.testing.assert_array_equal(axis_angle_to_matrix_np(np.full(3, 1e-14)), np.eye(3))
