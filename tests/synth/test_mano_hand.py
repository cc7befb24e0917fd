"""Tests of the synthetic MANO-format hand (handobjectconsist/synth/mano_hand.py and its hand_* modules)."""

import pickle

import numpy as np
import pytest
import scipy.sparse
import torch
import trimesh

from handobjectconsist.synth import mano_hand
from handobjectconsist.synth.hand_lbs import pose_model

# Official MANO file layout (the official pickles; docs/differences-from-upstream.md, K4): key -> (shape, dtype kind).
OFFICIAL_SPEC = {
    "v_template": ((778, 3), "f"),
    "shapedirs": ((778, 3, 10), "f"),
    "posedirs": ((778, 3, 135), "f"),
    "J_regressor": ((16, 778), "f"),
    "weights": ((778, 16), "f"),
    "f": ((1538, 3), "u"),
    "kintree_table": ((2, 16), "i"),
    "hands_components": ((45, 45), "f"),
    "hands_mean": ((45,), "f"),
    "J": ((16, 3), "f"),
}
# MANO kinematic tree: 0 wrist; index 1-3, middle 4-6, pinky 7-9, ring 10-12, thumb 13-15, three levels each.
EXPECTED_PARENTS = [0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]  # of joints 1..15
FINGER_JOINTS = {"thumb": (13, 14, 15), "index": (1, 2, 3), "middle": (4, 5, 6), "ring": (10, 11, 12),
                 "pinky": (7, 8, 9)}
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")


def _load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def right(mano_root):
    return _load(mano_root / "MANO_RIGHT.pkl")


@pytest.fixture(scope="module")
def left(mano_root):
    return _load(mano_root / "MANO_LEFT.pkl")


def _smplx_mano(model, is_rhand):
    import smplx
    from smplx.utils import Struct

    return smplx.MANO(model_path="unused", data_struct=Struct(**model), is_rhand=is_rhand, use_pca=False,
                      flat_hand_mean=True, num_betas=10, dtype=torch.float64)  # fmt: skip


def _smplx_pose(layer, hand_pose, root=None, betas=None):
    """hand_pose (45,) numpy -> verts (778, 3), joints (16, 3) numpy, via smplx (an independent implementation)."""
    t = lambda a, n: torch.tensor(np.zeros(n) if a is None else a, dtype=torch.float64)[None]  # noqa: E731
    with torch.no_grad():
        out = layer(hand_pose=t(hand_pose, 45), global_orient=t(root, 3), betas=t(betas, 10))
    return out.vertices[0].numpy(), out.joints[0].numpy()


@pytest.mark.parametrize("side", ["right", "left"])
def test_official_keys_dtypes_and_ranks(mano_root, side):
    model = _load(mano_root / f"MANO_{side.upper()}.pkl")
    for key, (shape, kind) in OFFICIAL_SPEC.items():
        value = model[key]
        assert value.shape == shape, key
        assert value.dtype.kind == kind, (key, value.dtype)
    assert scipy.sparse.issparse(model["J_regressor"]) and model["J_regressor"].format == "csc"
    assert model["hands_coeffs"].ndim == 2 and model["hands_coeffs"].shape[1] == 45
    assert model["bs_style"] == "lbs" and model["bs_type"] == "lrotmin"
    assert model["kintree_table"][0, 0] == 4294967295
    assert list(model["kintree_table"][0, 1:]) == EXPECTED_PARENTS
    assert list(model["kintree_table"][1]) == list(range(16))
    assert model["hoc_tip_vertex_ids"].dtype == np.int64 and model["hoc_tip_vertex_ids"].shape == (5,)
    assert model["hoc_wrist_faces"].dtype == np.int64 and model["hoc_wrist_faces"].ndim == 2
    # plain numpy / scipy only: the files must load without chumpy or project code
    assert all(type(v).__module__.split(".")[0] in ("numpy", "scipy", "builtins") for v in model.values())


def test_same_seed_gives_byte_identical_files(tmp_path, mano_root):
    paths = mano_hand.write_synthetic_mano(tmp_path / "again", seed=0)
    for path in paths:
        assert path.read_bytes() == (mano_root / path.name).read_bytes()
    other = mano_hand.build_synthetic_mano("right", seed=1)
    assert not np.allclose(other["hands_coeffs"], _load(mano_root / "MANO_RIGHT.pkl")["hands_coeffs"])


def test_hand_size_and_orientation(right):
    verts, joints = right["v_template"], right["J"]
    length = verts[:, 0].max() - verts[:, 0].min()
    assert 0.17 < length < 0.21  # metres, adult hand incl. a short forearm stub
    middle_tip = verts[right["hoc_tip_vertex_ids"][2]]
    assert 0.17 < np.linalg.norm(middle_tip - joints[0]) < 0.20  # wrist joint -> middle fingertip
    # MANO canonical right hand: fingers towards -x, thumb towards +z
    assert middle_tip[0] < joints[0, 0] - 0.15
    assert verts[right["hoc_tip_vertex_ids"][0], 2] > joints[[1, 4, 7, 10], 2].max()


def test_skinning_weights_are_a_partition_of_unity(right):
    w = right["weights"]
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert (w.max(axis=0) > 0.5).all()  # every joint drives some part of the hand


def test_joint_regressor_rows_and_joints_inside_the_hand(right):
    jreg = right["J_regressor"].toarray()
    assert (jreg >= 0).all()
    np.testing.assert_allclose(jreg.sum(axis=1), 1.0, atol=1e-9)
    joints = jreg @ right["v_template"]
    np.testing.assert_allclose(joints, right["J"], atol=1e-12)
    lo, hi = right["v_template"].min(0), right["v_template"].max(0)
    assert ((joints > lo) & (joints < hi)).all()
    closed = trimesh.Trimesh(right["v_template"], _closed_faces(right), process=False)
    assert closed.contains(joints).all()  # ray-casting inside test: joints are inside the surface


def test_pose_components_are_orthonormal(right, left):
    for model in (right, left):
        c = model["hands_components"]
        np.testing.assert_allclose(c @ c.T, np.eye(45), atol=1e-10)


def _closed_faces(model):
    return np.concatenate([model["f"].astype(np.int64), model["hoc_wrist_faces"]])


def test_surface_is_manifold_with_one_wrist_loop_closed_by_the_wrist_faces(right, left):
    for model in (right, left):
        faces = model["f"].astype(np.int64)
        assert faces.min() == 0 and faces.max() == 777
        assert len(np.unique(faces)) == 778
        edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        uniq, counts = np.unique(edges, axis=0, return_counts=True)
        assert set(counts.tolist()) == {1, 2}
        boundary = uniq[counts == 1]
        # the boundary edges form a single cycle
        graph = {}
        for a, b in boundary:
            graph.setdefault(a, []).append(b)
            graph.setdefault(b, []).append(a)
        assert all(len(n) == 2 for n in graph.values())
        start, prev, cur, steps = boundary[0][0], None, boundary[0][0], 0
        while True:
            nxt = [n for n in graph[cur] if n != prev][0]
            prev, cur, steps = cur, nxt, steps + 1
            if cur == start:
                break
        assert steps == len(boundary) == len(graph)
        closed = trimesh.Trimesh(model["v_template"], _closed_faces(model), process=False)
        assert closed.is_watertight and closed.is_winding_consistent
        assert closed.euler_number == 2
        assert closed.volume > 0  # outward-facing normals
        assert set(np.unique(model["hoc_wrist_faces"])) == set(graph)


def test_tip_vertices_are_the_extreme_vertices_of_their_fingers(right):
    verts, joints, w = right["v_template"], right["J"], right["weights"]
    owner = w.argmax(axis=1)
    for name, tip in zip(TIP_ORDER, right["hoc_tip_vertex_ids"]):
        ids = FINGER_JOINTS[name]
        on_finger = np.isin(owner, ids)
        direction = joints[ids[2]] - joints[ids[1]]
        proj = verts @ direction
        assert on_finger[tip]
        assert proj[tip] == proj[on_finger].max(), name


def test_left_is_the_mirror_of_the_right(right, left):
    m = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(left["v_template"], right["v_template"] * m)
    np.testing.assert_array_equal(left["f"], right["f"][:, ::-1])
    # posing the left hand with the mirrored pose (x, y, z) -> (x, -y, -z) per joint mirrors the posed right hand
    rng = np.random.default_rng(3)
    pose = right["hands_mean"] + right["hands_components"][:6].T @ rng.normal(0, 1.0, 6)
    root = rng.normal(0, 0.4, 3)
    betas = rng.normal(0, 1.0, 10)
    flip = np.tile([1.0, -1.0, -1.0], 15)
    rv, rj = _smplx_pose(_smplx_mano(right, True), pose, root, betas)
    lv, lj = _smplx_pose(_smplx_mano(left, False), pose * flip, root * flip[:3], betas)
    np.testing.assert_allclose(lv, rv * m, atol=1e-9)
    np.testing.assert_allclose(lj, rj * m, atol=1e-9)
    # the PCA coefficients mean the same hand shape on both sides
    np.testing.assert_allclose(left["hands_components"], right["hands_components"] * flip[None])


def test_numpy_lbs_matches_smplx(right):
    rng = np.random.default_rng(0)
    pose = right["hands_mean"] + 2.0 * right["hands_components"][0]
    root, betas = rng.normal(0, 0.5, 3), rng.normal(0, 1, 10)
    sv, sj = _smplx_pose(_smplx_mano(right, True), pose, root, betas)
    nv, nj = pose_model(right, pose, root, betas)
    np.testing.assert_allclose(nv, sv, atol=1e-7)  # smplx adds 1e-8 inside its Rodrigues norm
    np.testing.assert_allclose(nj, sj, atol=1e-7)


def test_first_component_closes_the_hand_into_a_grasp(right):
    layer = _smplx_mano(right, True)
    tips = right["hoc_tip_vertex_ids"]

    def tip_to_palm(pose):
        verts, joints = _smplx_pose(layer, pose)
        palm_centre = joints[[0, 1, 4, 7, 10]].mean(axis=0)
        return np.linalg.norm(verts[tips] - palm_centre, axis=1)

    flat, mean = tip_to_palm(np.zeros(45)), tip_to_palm(right["hands_mean"])
    grasp = tip_to_palm(right["hands_mean"] + 3.0 * right["hands_components"][0])
    assert (grasp[1:] < 0.7 * flat[1:]).all()  # the four fingers curl towards the palm
    assert grasp[0] < flat[0]  # and so does the thumb
    assert (mean[1:] < flat[1:]).all() and (mean[1:] > grasp[1:]).all()  # the mean pose is relaxed, in between


def test_grasp_deforms_the_surface_smoothly(right):
    """Skinning quality: bending the hand into a fist stretches no edge more than 2.5x nor collapses it."""
    faces = right["f"].astype(np.int64)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    rest = np.linalg.norm(np.diff(right["v_template"][edges], axis=1)[:, 0], axis=1)
    verts, _ = pose_model(right, right["hands_mean"] + 3.0 * right["hands_components"][0])
    posed = np.linalg.norm(np.diff(verts[edges], axis=1)[:, 0], axis=1)
    ratio = posed / rest
    assert ratio.max() < 2.5 and ratio.min() > 0.2


def test_shape_directions_change_size_finger_length_and_palm_width(right):
    def measures(betas):
        verts, joints = pose_model(right, np.zeros(45), betas=betas)
        tips = verts[right["hoc_tip_vertex_ids"]]
        finger = np.linalg.norm(tips[2] - joints[4])  # middle MCP -> tip
        palm_len = np.linalg.norm(joints[4] - joints[0])
        palm_width = np.linalg.norm(joints[1] - joints[7])  # index MCP <-> pinky MCP
        return np.array([finger, palm_len, palm_width])

    base = measures(np.zeros(10))
    unit = np.eye(10)
    size, flen, pwidth = (measures(2.0 * unit[k]) / base for k in range(3))
    assert (size > 1.08).all()  # beta0 scales everything
    assert flen[0] > 1.08 and abs(flen[1] - 1) < 0.01 and abs(flen[2] - 1) < 0.01  # beta1: finger length only
    assert pwidth[2] > 1.08 and abs(pwidth[0] - 1) < 0.01  # beta2: palm width, fingers unchanged
    assert np.abs(right["shapedirs"]).max() < 0.02  # one unit of beta moves no vertex more than 2 cm


def test_command_line_writes_both_files(tmp_path, capsys):
    assert mano_hand.main(["--out", str(tmp_path / "m"), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    for name in ("MANO_RIGHT.pkl", "MANO_LEFT.pkl"):
        assert _load(tmp_path / "m" / name)["hands_components"].shape == (45, 45)
        assert str(tmp_path / "m" / name) in printed


def test_preview_draws_the_hand(tmp_path, right):
    from PIL import Image

    from handobjectconsist.synth.hand_preview import save_preview

    png = save_preview(tmp_path / "hand.png", [(right["v_template"], _closed_faces(right))], ["rest"], views=["palm"])
    image = np.asarray(Image.open(png).convert("RGB")).astype(float)
    skin = (image[..., 0] > image[..., 2] + 30)  # the skin colour is reddish, the background white
    assert 0.05 < skin.mean() < 0.6
