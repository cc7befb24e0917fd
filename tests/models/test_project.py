import torch

from handobjectconsist.models.project import recover_3d_proj
from libyana.camutils import project_points


def test_depth_and_projection_of_recovered_centre():
    # fx = fy = 200, principal point (30, 20), input 64x36: image centre (32, 18).
    K = torch.tensor([[[200.0, 0, 30], [0, 200.0, 20], [0, 0, 1]]])
    points = torch.tensor([[[0.0, 0, 0], [0.01, -0.02, 0.03]]])
    scale = torch.tensor([[0.5e-3]])  # Z0 = 200 * 0.5e-3 + 0.4 = 0.5 m
    trans = torch.tensor([[5.0, -3.0]])
    recovered, centre = recover_3d_proj(points, K, scale, trans, input_res=(64, 36))
    assert torch.allclose(centre[0, 0, 2], torch.tensor(0.5))
    # Hand-computed: X0 = (5 + 32 - 30) * 0.5 / 200 = 0.0175, Y0 = (-3 + 18 - 20) * 0.5 / 200 = -0.0125.
    assert torch.allclose(centre[0, 0], torch.tensor([0.0175, -0.0125, 0.5]))
    # The anchor projects to the image centre shifted by est_trans (fx == fy here).
    uv = project_points(centre, K)
    assert torch.allclose(uv, torch.tensor([[[37.0, 15.0]]]), atol=1e-4)
    assert torch.allclose(recovered - centre, points)
