"""handobjectconsist/mano/layer.py: ManoLayer against numpy references computed from the model file."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from handobjectconsist.mano import MANO_TO_PROJECT, ManoLayer, load_mano_model
from tests.mano.mano_testmodels import mirror_mano_model, mirror_pose, write_model

ATOL = 2e-6  # metres; the layer runs in float32


@pytest.fixture(scope="module", params=["synthetic", "random"])
def hand_root(request, random_mano_root):
    """Each kinematic test runs on the synthetic hand and on a small random model (sparse J_regressor, non-zero
    hands_mean, mirrored left hand)."""
    if request.param == "synthetic":
        return request.getfixturevalue("mano_root")
    return random_mano_root


def numpy_mano(model, full_pose, betas):
    """Reference MANO forward written from the model equations: (48,) axis-angle, (10,) betas -> verts, 16 joints."""
    parents = model["kintree_table"][0].astype(np.int64)
    v_shaped = model["v_template"] + model["shapedirs"] @ betas
    rest_joints = model["J_regressor"] @ v_shaped
    rotations = Rotation.from_rotvec(full_pose.reshape(16, 3)).as_matrix()
    pose_feature = (rotations[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + model["posedirs"] @ pose_feature
    world = [None] * 16
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = rest_joints[j] - (rest_joints[parents[j]] if j else 0)
        world[j] = local if j == 0 else world[parents[j]] @ local
    joints = np.stack([w[:3, 3] for w in world])
    skinning = np.zeros((len(v_posed), 4, 4))
    for j in range(16):
        moved = world[j].copy()
        moved[:3, 3] -= world[j][:3, :3] @ rest_joints[j]  # transform of rest-pose points attached to joint j
        skinning += model["weights"][:, j, None, None] * moved
    verts = np.einsum("vij,vj->vi", skinning[:, :3, :3], v_posed) + skinning[:, :3, 3]
    return verts, joints


def project_joints(model, verts, joints16):
    tips = verts[model["hoc_tip_vertex_ids"]]
    return np.concatenate([joints16, tips])[list(MANO_TO_PROJECT)]


def as_np(tensor):
    return tensor.detach().double().numpy()


def test_rest_pose_is_template_plus_shape(hand_root):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    layer = ManoLayer(hand_root, use_pca=False, flat_hand_mean=True)
    betas = np.random.default_rng(0).normal(size=(2, 10))
    verts, joints = layer(torch.zeros(2, 48), torch.as_tensor(betas, dtype=torch.float32))
    for b in range(2):
        expected = model["v_template"] + np.einsum("vck,k->vc", model["shapedirs"], betas[b])
        np.testing.assert_allclose(as_np(verts[b]), expected, atol=ATOL)
        rest_joints = model["J_regressor"] @ expected
        tips = expected[model["hoc_tip_vertex_ids"]]
        np.testing.assert_allclose(as_np(joints[b]), np.concatenate([rest_joints, tips])[list(MANO_TO_PROJECT)],
                                   atol=ATOL)


def test_betas_none_is_template_shape(hand_root):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    verts, _ = ManoLayer(hand_root, use_pca=False)(torch.zeros(1, 48))
    np.testing.assert_allclose(as_np(verts[0]), model["v_template"], atol=ATOL)


def test_root_rotation_rotates_about_root_joint(hand_root):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    rotvec = np.array([0.4, -1.1, 0.7])
    pose = torch.zeros(1, 48)
    pose[0, :3] = torch.as_tensor(rotvec)
    verts, joints = ManoLayer(hand_root, use_pca=False)(pose)
    root = model["J_regressor"][0] @ model["v_template"]
    rotation = Rotation.from_rotvec(rotvec)
    expected_verts = rotation.apply(model["v_template"] - root) + root
    np.testing.assert_allclose(as_np(verts[0]), expected_verts, atol=ATOL)
    rest_joints = project_joints(model, model["v_template"], model["J_regressor"] @ model["v_template"])
    np.testing.assert_allclose(as_np(joints[0]), rotation.apply(rest_joints - root) + root, atol=ATOL)


def test_articulated_pose_matches_numpy_lbs(hand_root):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    rng = np.random.default_rng(1)
    full_pose = rng.normal(scale=0.5, size=(3, 48))
    betas = rng.normal(size=(3, 10))
    layer = ManoLayer(hand_root, use_pca=False, flat_hand_mean=True)
    verts, joints = layer(torch.as_tensor(full_pose, dtype=torch.float32), torch.as_tensor(betas, dtype=torch.float32))
    for b in range(3):
        ref_verts, ref_joints = numpy_mano(model, full_pose[b], betas[b])
        np.testing.assert_allclose(as_np(verts[b]), ref_verts, atol=1e-5)
        np.testing.assert_allclose(as_np(joints[b]), project_joints(model, ref_verts, ref_joints), atol=1e-5)


@pytest.mark.parametrize("flat_hand_mean", [True, False])
def test_pca_matches_axis_angle(hand_root, flat_hand_mean):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    rng = np.random.default_rng(2)
    coeffs = rng.normal(scale=0.5, size=(2, 45))
    root = rng.normal(scale=0.5, size=(2, 3))
    pca = ManoLayer(hand_root, ncomps=45, use_pca=True, flat_hand_mean=flat_hand_mean)
    verts_pca, joints_pca = pca(torch.as_tensor(np.concatenate([root, coeffs], 1), dtype=torch.float32))
    hand = coeffs @ model["hands_components"] + (0 if flat_hand_mean else model["hands_mean"])
    axisang = ManoLayer(hand_root, use_pca=False, flat_hand_mean=True)
    verts_aa, joints_aa = axisang(torch.as_tensor(np.concatenate([root, hand], 1), dtype=torch.float32))
    torch.testing.assert_close(verts_pca, verts_aa, atol=1e-5, rtol=0)
    torch.testing.assert_close(joints_pca, joints_aa, atol=1e-5, rtol=0)


def test_fewer_pca_components_use_the_leading_ones(hand_root):
    rng = np.random.default_rng(3)
    pose6 = torch.as_tensor(rng.normal(scale=0.5, size=(2, 3 + 6)), dtype=torch.float32)
    pose45 = torch.cat([pose6, torch.zeros(2, 39)], dim=1)
    verts6, _ = ManoLayer(hand_root, ncomps=6, flat_hand_mean=False)(pose6)
    verts45, _ = ManoLayer(hand_root, ncomps=45, flat_hand_mean=False)(pose45)
    torch.testing.assert_close(verts6, verts45, atol=1e-6, rtol=0)


def test_flat_hand_mean_false_adds_hands_mean(hand_root):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    pose = torch.as_tensor(np.random.default_rng(4).normal(scale=0.3, size=(2, 48)), dtype=torch.float32)
    with_mean = ManoLayer(hand_root, use_pca=False, flat_hand_mean=False)(pose)
    shifted = pose.clone()
    shifted[:, 3:] += torch.as_tensor(model["hands_mean"], dtype=torch.float32)
    flat = ManoLayer(hand_root, use_pca=False, flat_hand_mean=True)(shifted)
    for a, b in zip(with_mean, flat):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # and the mean really moves the hand (the random model has a non-zero mean; a hand may have a zero one)
    if np.abs(model["hands_mean"]).max() > 0.1:
        moved = ManoLayer(hand_root, use_pca=False, flat_hand_mean=True)(pose)[0] - with_mean[0]
        assert moved.abs().max() > 1e-3


def test_left_is_mirror_of_right(tmp_path, hand_root):
    right_model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    mirrored_root = tmp_path / "mirrored"
    write_model(mirrored_root / "MANO_RIGHT.pkl", right_model)
    write_model(mirrored_root / "MANO_LEFT.pkl", mirror_mano_model(right_model))
    rng = np.random.default_rng(5)
    root_pose = rng.normal(scale=0.5, size=(2, 3))
    coeffs = rng.normal(scale=0.8, size=(2, 10))
    betas = torch.as_tensor(rng.normal(size=(2, 10)), dtype=torch.float32)
    right = ManoLayer(mirrored_root, side="right", ncomps=10, flat_hand_mean=False)
    left = ManoLayer(mirrored_root, side="left", ncomps=10, flat_hand_mean=False)
    verts_r, joints_r = right(torch.as_tensor(np.concatenate([root_pose, coeffs], 1), dtype=torch.float32), betas)
    verts_l, joints_l = left(torch.as_tensor(np.concatenate([mirror_pose(root_pose), coeffs], 1),
                                             dtype=torch.float32), betas)
    flip = torch.tensor([-1.0, 1.0, 1.0])
    torch.testing.assert_close(verts_l, verts_r * flip, atol=1e-5, rtol=0)
    torch.testing.assert_close(joints_l, joints_r * flip, atol=1e-5, rtol=0)
    assert torch.equal(left.faces, right.faces.flip(1))


def test_left_side_reads_left_file(hand_root):
    left_model = load_mano_model(hand_root / "MANO_LEFT.pkl")
    verts, _ = ManoLayer(hand_root, side="left", use_pca=False)(torch.zeros(1, 48))
    np.testing.assert_allclose(as_np(verts[0]), left_model["v_template"], atol=ATOL)


def test_centring_and_translation(hand_root):
    rng = np.random.default_rng(6)
    pose = torch.as_tensor(rng.normal(scale=0.5, size=(2, 3 + 15)), dtype=torch.float32)
    trans = torch.as_tensor(rng.normal(size=(2, 3)), dtype=torch.float32)
    plain_verts, plain_joints = ManoLayer(hand_root, ncomps=15)(pose)
    centred = ManoLayer(hand_root, ncomps=15, center_idx=9)
    verts_c, joints_c = centred(pose)
    torch.testing.assert_close(joints_c[:, 9], torch.zeros(2, 3), atol=1e-7, rtol=0)
    offset = plain_joints[:, 9:10]
    torch.testing.assert_close(verts_c, plain_verts - offset, atol=1e-6, rtol=0)
    torch.testing.assert_close(joints_c, plain_joints - offset, atol=1e-6, rtol=0)
    # an explicit translation is added to the uncentred output, even when center_idx is set
    verts_t, joints_t = centred(pose, trans=trans)
    torch.testing.assert_close(verts_t, plain_verts + trans[:, None], atol=1e-6, rtol=0)
    torch.testing.assert_close(joints_t, plain_joints + trans[:, None], atol=1e-6, rtol=0)
    verts_0, _ = centred(pose, trans=torch.zeros(2, 3))
    torch.testing.assert_close(verts_0, plain_verts, atol=1e-6, rtol=0)


def test_gradients_are_finite_and_nonzero(hand_root):
    rng = np.random.default_rng(7)
    layer = ManoLayer(hand_root, ncomps=15, flat_hand_mean=False, center_idx=9)
    pose = torch.zeros(3, 18)
    pose[1:] = torch.as_tensor(rng.normal(scale=0.5, size=(2, 18)), dtype=torch.float32)  # includes exact zeros
    pose.requires_grad_(True)
    betas = torch.as_tensor(rng.normal(size=(3, 10)), dtype=torch.float32).requires_grad_(True)
    verts, joints = layer(pose, betas)
    (verts.square().sum() + joints.abs().sum()).backward()
    for grad in (pose.grad, betas.grad):
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_gradient_matches_finite_differences(hand_root):
    layer = ManoLayer(hand_root, ncomps=6, flat_hand_mean=False).double()
    rng = np.random.default_rng(8)
    pose = torch.tensor(rng.normal(scale=0.5, size=(1, 9)), dtype=torch.float64, requires_grad=True)
    betas = torch.tensor(rng.normal(size=(1, 10)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, b: layer(p, b)[1], (pose, betas), eps=1e-6, atol=1e-6, fast_mode=True)


def test_attributes(hand_root):
    model = load_mano_model(hand_root / "MANO_RIGHT.pkl")
    layer = ManoLayer(hand_root)
    num_faces = len(model["f"])
    assert layer.faces.dtype == torch.long and layer.faces.shape == (num_faces, 3)
    np.testing.assert_array_equal(layer.faces.numpy(), model["f"])
    assert layer.num_verts == len(model["v_template"])
    np.testing.assert_allclose(layer.J_regressor.numpy(), model["J_regressor"], atol=1e-7)
    assert layer.tip_vertex_ids == [int(i) for i in model["hoc_tip_vertex_ids"]]
    assert layer.closed_faces.dtype == torch.long and layer.wrist_face_ids.dtype == torch.long
    np.testing.assert_array_equal(layer.closed_faces[:num_faces].numpy(), model["f"])
    np.testing.assert_array_equal(layer.closed_faces[layer.wrist_face_ids].numpy(), model["hoc_wrist_faces"])
    assert layer.closed_faces.shape[0] == num_faces + len(model["hoc_wrist_faces"])


def test_bad_arguments_are_explained(hand_root, tmp_path):
    with pytest.raises(ValueError, match="ncomps"):
        ManoLayer(hand_root, ncomps=46)
    with pytest.raises(ValueError, match="side"):
        ManoLayer(hand_root, side="both")
    layer = ManoLayer(hand_root, ncomps=6)
    with pytest.raises(ValueError, match=r"\(B, 9\)"):
        layer(torch.zeros(2, 48))
    with pytest.raises(ValueError, match="betas"):
        layer(torch.zeros(2, 9), torch.zeros(2, 7))
    with pytest.raises(FileNotFoundError, match="MANO_RIGHT.pkl"):
        ManoLayer(tmp_path / "empty")


def test_no_parameters_and_no_checkpoint_state(hand_root):
    """The layer has nothing to learn, and its constants come from the model file, not from a checkpoint."""
    layer = ManoLayer(hand_root, ncomps=15)
    assert list(layer.parameters()) == []
    assert layer.state_dict() == {}
