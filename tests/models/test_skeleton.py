import pickle

import numpy as np
import pytest
import torch

from handobjectconsist.mano import ManoLayer
from handobjectconsist.models.skeleton import SkeletonRegressor, fallback_skeleton_matrix, load_skeleton_matrix


def test_fallback_reproduces_mano_joints_in_rest_pose(mano_root):
    # In the rest pose (flat hand, zero pose, template shape) posed vertices equal the template, so J_regressor @ verts
    # equals the MANO joints exactly, and the tips are vertices: the fallback must match the layer's 21 joints.
    layer = ManoLayer(mano_root, use_pca=False, flat_hand_mean=True)
    verts, joints = layer(torch.zeros(1, 48))
    regressor = SkeletonRegressor(fallback_skeleton_matrix(layer.J_regressor.float(), layer.tip_vertex_ids))
    assert torch.allclose(regressor(verts), joints, atol=1e-6)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pkl"])
def test_regressor_file_round_trip(tmp_path, suffix):
    matrix = np.random.default_rng(0).random((21, 30)).astype(np.float32)
    path = tmp_path / f"skel{suffix}"
    if suffix == ".npy":
        np.save(path, matrix)
    elif suffix == ".npz":  # the layout of datasets.fit_fphab's fhb_skel_regressor.npz
        np.savez(path, regressor=matrix, joint_order=np.array(["wrist"] * 21))
    else:
        path.write_bytes(pickle.dumps({"adaptor": matrix, "shape": np.zeros(10)}))
    loaded = load_skeleton_matrix(path, num_verts=30)
    np.testing.assert_array_equal(loaded.numpy(), matrix)
    verts = torch.randn(2, 30, 3)
    expected = np.einsum("jv,bvc->bjc", matrix, verts.numpy())
    np.testing.assert_allclose(SkeletonRegressor(loaded)(verts).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_wrong_shape_is_rejected_with_path(tmp_path):
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros((16, 30)))
    with pytest.raises(ValueError, match="bad.npy"):
        load_skeleton_matrix(path, num_verts=30)
