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
