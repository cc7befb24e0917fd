"""HO3D-v2 reader on a hand-written layout: the OpenGL flip is applied exactly once, joints reordered, splits."""

import pickle

import numpy as np
import pytest
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.errors import MissingDataError
from handobjectconsist.datasets.ho3dv2 import HO3DV2
from libyana.boxes import BOX_EDGES, box_corners

# HO3D file order: 0 wrist, 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb, 16-20 tips T, I, M, R, P.
FILE_NAMES = (["W"] + [f"I{k}" for k in (1, 2, 3)] + [f"M{k}" for k in (1, 2, 3)] + [f"P{k}" for k in (1, 2, 3)]
              + [f"R{k}" for k in (1, 2, 3)] + [f"T{k}" for k in (1, 2, 3)] + [f"{f}4" for f in "TIMRP"])
PROJECT_NAMES = ["W"] + [f"{f}{k}" for f in "TIMRP" for k in (1, 2, 3, 4)]


def _write_layout(root, seqs=("MC1", "SM3"), n=3):
    rng = np.random.default_rng(0)
    box = trimesh.creation.box(extents=(0.05, 0.05, 0.1))
    (root / "modelsprocess/003_cracker_box").mkdir(parents=True)
    box.export(root / "modelsprocess/003_cracker_box/textured_simple_2000.obj")
    metas = {}
    for seq in seqs:
        for sub in ("rgb", "meta"):
            (root / "train" / seq / sub).mkdir(parents=True)
        for t in range(n):
            meta = {
                "handJoints3D": rng.uniform([-0.1, -0.1, -0.6], [0.1, 0.1, -0.4], size=(21, 3)),  # OpenGL: z < 0
                "handPose": np.zeros(48), "handTrans": np.zeros(3), "handBeta": np.zeros(10),
                "objRot": rng.normal(size=3), "objTrans": np.array([0.0, 0.0, -0.5]), "objName": "003_cracker_box",
                "camMat": np.array([[617.0, 0, 315.0], [0, 617.0, 242.0], [0, 0, 1]]),
                "objCorners3DRest": np.asarray(box.bounding_box.vertices),
            }
            with open(root / "train" / seq / "meta" / f"{t:04d}.pkl", "wb") as handle:
                pickle.dump(meta, handle)
            Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(root / "train" / seq / "rgb" / f"{t:04d}.png")
            metas[(seq, t)] = meta
    (root / "train.txt").write_text("".join(f"{s}/{t:04d}\n" for s in seqs for t in range(n)))
    return metas, box


def test_flip_once_reorder_objects_splits(tmp_path):
    metas, box = _write_layout(tmp_path)
    data = HO3DV2(tmp_path, sequences=["SM3", "MC1"])
    assert data.seq_names[:3] == ["MC1"] * 3 and len(data) == 6  # sequences sorted
    ann = data.get_annotation(4)  # SM3 frame 1
    raw = metas[("SM3", 1)]
    for p, name in enumerate(PROJECT_NAMES):
        x, y, z = raw["handJoints3D"][FILE_NAMES.index(name)]
        assert np.allclose(ann[K.JOINTS3D][p], [x, -y, -z])  # flipped once: z forward (positive)
    assert (ann[K.JOINTS3D][:, 2] > 0).all()
    R = Rotation.from_rotvec(raw["objRot"]).as_matrix()
    raw_obj = box.vertices @ R.T + raw["objTrans"]
    assert np.allclose(ann[K.OBJ_VERTS3D], raw_obj * [1, -1, -1], atol=1e-6)
    uv = ann[K.JOINTS3D] @ raw["camMat"].T
    assert np.allclose(ann[K.JOINTS2D], uv[:, :2] / uv[:, 2:], atol=1e-3)
    assert ann[K.OBJ_CORNERS3D].shape == (8, 3)
    assert HO3DV2(tmp_path, split="train", split_mode="paper").sparse_map.annotated.all()
    frac = HO3DV2(tmp_path, sequences=["SM3", "MC1"], fraction=0.5)  # 6 frames, 3 annotated -> spacing 2
    assert frac.sparse_map.strong_idxs.tolist() == [0, 2, 3, 5]
    half = HO3DV2(tmp_path, sequences=["MC1"], input_width=320)
    assert half.get_image(0).shape == (240, 320, 3)
    assert np.isclose(half.get_annotation(0)[K.CAM_INTR_ORIG][0, 0], 617.0 / 2)


def test_missing_sequence_and_model(tmp_path):
    _write_layout(tmp_path)
    with pytest.raises(MissingDataError, match="MC2"):
        HO3DV2(tmp_path, split="test", like_v1=True)
    (tmp_path / "modelsprocess/003_cracker_box/textured_simple_2000.obj").unlink()
    with pytest.raises(MissingDataError, match="prepare_ho3d_models"):
        HO3DV2(tmp_path, sequences=["MC1"]).get_annotation(0)


def test_object_corners_posed_like_the_vertices_and_projected(tmp_path):
    """An off-centre box model: OBJ_CAN_CORNERS must be centred like OBJ_CAN_VERTS, so the rigid motion that takes
    the canonical vertices to OBJ_VERTS3D takes the canonical corners to OBJ_CORNERS3D; OBJ_CORNERS2D projects them."""
    metas, box = _write_layout(tmp_path, seqs=("MC1",), n=2)
    box.apply_translation([0.01, -0.02, 0.03])
    box.export(tmp_path / "modelsprocess/003_cracker_box/textured_simple_2000.obj")
    lo, hi = box.bounds
    rest = box_corners(lo, hi)
    for t in range(2):
        metas[("MC1", t)]["objCorners3DRest"] = rest
        with open(tmp_path / "train" / "MC1" / "meta" / f"{t:04d}.pkl", "wb") as handle:
            pickle.dump(metas[("MC1", t)], handle)
    ann = HO3DV2(tmp_path, sequences=["MC1"]).get_annotation(1)
    can, verts = ann[K.OBJ_CAN_VERTS].astype(np.float64), ann[K.OBJ_VERTS3D].astype(np.float64)
    np.testing.assert_allclose((can.min(0) + can.max(0)) / 2, 0, atol=1e-7)
    # Rigid motion can -> verts, solved from the vertices alone (Kabsch).
    cc, vc = can - can.mean(0), verts - verts.mean(0)
    u, _, vt = np.linalg.svd(cc.T @ vc)
    R = (u @ vt).T
    t_ = verts.mean(0) - can.mean(0) @ R.T
    np.testing.assert_allclose(can @ R.T + t_, verts, atol=1e-5)
    np.testing.assert_allclose(ann[K.OBJ_CAN_CORNERS] @ R.T + t_, ann[K.OBJ_CORNERS3D], atol=1e-5)
    # Independent GL->CV check of the posed corners, and their projection in the camera.
    raw = metas[("MC1", 1)]
    gl = rest @ Rotation.from_rotvec(raw["objRot"]).as_matrix().T + raw["objTrans"]
    np.testing.assert_allclose(ann[K.OBJ_CORNERS3D], gl * [1, -1, -1], atol=1e-6)
    uv = ann[K.OBJ_CORNERS3D].astype(np.float64) @ raw["camMat"].T
    np.testing.assert_allclose(ann[K.OBJ_CORNERS2D], uv[:, :2] / uv[:, 2:], atol=1e-3)
    # The canonical corners are the box of the canonical vertices (the rest corners are the model's box here); the
    # OpenGL flip reorders them (y and z bounds swap) but BOX_EDGES still join corners along one axis only.
    can_corners = ann[K.OBJ_CAN_CORNERS].astype(np.float64)
    expected = box_corners(can.min(0), can.max(0))
    assert sorted(map(tuple, np.round(can_corners, 6))) == sorted(map(tuple, np.round(expected, 6)))
    for a, b in BOX_EDGES:
        assert np.count_nonzero(np.abs(can_corners[a] - can_corners[b]) > 1e-6) == 1, (a, b)
