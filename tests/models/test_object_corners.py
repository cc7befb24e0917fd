"""Object bounding-box corners: posed by the object head exactly like the object vertices (HO3D), absent for FPHAB."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from torch import nn

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.models.meshregnet import MeshRegNet
from libyana.boxes import box_corners, box_edge_segments

WIDTH, HEIGHT = 128, 72
FX, CX, CY = 200.0, 60.0, 35.0
HALF = np.array([0.03, 0.05, 0.1])  # box half extents (m)
RAW = [1.0, 0.1, -0.05, 0.3, -0.8, 0.5]  # object head: prescale, pretrans (2), axis-angle (3)


class FixedHead(nn.Module):
    """Stands in for the object head: the same raw output for every image."""

    def __init__(self, raw):
        super().__init__()
        self.raw = torch.tensor(raw)

    def forward(self, features):
        return self.raw.expand(features.shape[0], -1)


@pytest.fixture(scope="module")
def posed(mano_root):
    torch.manual_seed(0)
    model = MeshRegNet(mano_root, encoder_arch="tiny").eval()
    model.scaletrans_branch_obj = FixedHead(RAW)
    corners = torch.tensor(box_corners(-HALF, HALF), dtype=torch.float32)
    inside = (torch.rand(5, 3) * 2 - 1) * torch.tensor(HALF, dtype=torch.float32)
    can_verts = torch.cat([corners, inside])[None].repeat(2, 1, 1)
    K = torch.tensor([[FX, 0, CX], [0, FX, CY], [0, 0, 1]]).expand(2, 3, 3)
    batch = {SK.IMAGE: torch.zeros(2, 3, HEIGHT, WIDTH), SK.CAM_INTR: K, SK.OBJ_CAN_VERTS: can_verts,
             SK.OBJ_CAN_CORNERS: corners[None].repeat(2, 1, 1)}
    with torch.no_grad():
        _, results, _ = model(batch)
    return results


def test_corners_of_a_known_box_under_a_known_pose(posed):
    """Analytic: R from the axis-angle, depth fx * scale + 0.4 m, image position centre + trans (pixels)."""
    R = Rotation.from_rotvec(RAW[3:]).as_matrix()
    scale, trans = RAW[0] * 1e-4, np.array(RAW[1:3]) * 100.0
    z0 = FX * scale + 0.4  # 0.42 m
    xy0 = (trans + [WIDTH / 2, HEIGHT / 2] - [CX, CY]) * z0 / FX  # (14, -4) px from the principal point
    expected = box_corners(-HALF, HALF) @ R.T + np.r_[xy0, z0]
    got = posed["recov_objcorners3d"].double().numpy()
    np.testing.assert_allclose(got[0], expected, atol=1e-6)
    np.testing.assert_allclose(got[1], expected, atol=1e-6)
    np.testing.assert_allclose(posed["obj_corners3d"][0].double().numpy(), box_corners(-HALF, HALF) @ R.T, atol=1e-6)
    uv = expected[:, :2] / expected[:, 2:] * FX + [CX, CY]
    np.testing.assert_allclose(posed["obj_corners2d"][0].double().numpy(), uv, atol=1e-3)
    # The box keeps its edge lengths (a rigid motion).
    edges = box_edge_segments(got[0])
    np.testing.assert_allclose(sorted(np.linalg.norm(edges[:, 1] - edges[:, 0], axis=1)),
                               sorted(np.repeat(2 * HALF, 4)), atol=1e-6)


def test_corners_move_exactly_like_the_object_vertices(posed):
    # The first 8 canonical vertices are the corners themselves.
    torch.testing.assert_close(posed["recov_objcorners3d"], posed["recov_objverts3d"][:, :8], atol=1e-6, rtol=0)
    torch.testing.assert_close(posed["obj_corners2d"], posed["obj_verts2d"][:, :8], atol=1e-4, rtol=0)


def test_no_corner_outputs_without_canonical_corners(mano_root):
    model = MeshRegNet(mano_root, encoder_arch="tiny").eval()
    batch = {SK.IMAGE: torch.zeros(1, 3, HEIGHT, WIDTH),
             SK.CAM_INTR: torch.tensor([[FX, 0, CX], [0, FX, CY], [0, 0, 1]])[None],
             SK.OBJ_CAN_VERTS: torch.rand(1, 10, 3) * 0.05}
    with torch.no_grad():
        _, results, _ = model(batch)
    assert "recov_objverts3d" in results
    assert not {"obj_corners3d", "recov_objcorners3d", "obj_corners2d"} & set(results)
