import numpy as np
import torch
from scipy.spatial.transform import Rotation

from handobjectconsist.models.rotation import axis_angle_to_matrix


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
