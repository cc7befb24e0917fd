"""Synthetic HO3D-v2 layout: file layout, meta keys in the OpenGL convention, exact MANO translation, split files."""

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from handobjectconsist.synth import ho3d
from handobjectconsist.synth.pipeline import hand_mesh, hand_model

FLIP = np.diag([1.0, -1.0, -1.0])
HO3D_TO_PROJECT = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]


def _meta(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def test_layout_and_split_files(ho3d_tiny_root):
    root = Path(ho3d_tiny_root)
    for split, list_name in (("train", "train.txt"), ("evaluation", "evaluation.txt")):
        entries = (root / list_name).read_text().split()
        assert entries
        for entry in entries:
            seq, frame = entry.split("/")
            assert len(frame) == 4
            assert (root / split / seq / "rgb" / f"{frame}.png").is_file()
            assert (root / split / seq / "meta" / f"{frame}.pkl").is_file()
        seqs = sorted({e.split("/")[0] for e in entries})
        assert sorted(p.name for p in (root / split).iterdir()) == seqs
    image = Image.open(next((root / "train").glob("*/rgb/0000.png")))
    assert image.size == (640, 480) and image.mode == "RGB"
    names = {_meta(p)["objName"] for p in root.glob("*/*/meta/0000.pkl")}
    for name in names:
        assert (root / "modelsprocess" / name / "textured_simple_2000.obj").is_file()


def test_train_meta_is_exact_opengl_mano(ho3d_tiny_root, mano_root):
    root = Path(ho3d_tiny_root)
    layer, _ = hand_model(mano_root)
    _, seqs = ho3d.plan("tiny")
    for spec in [s for s in seqs if s.split == "train"]:
        truth = ho3d.sequence_truth(spec, 0, mano_root)
        metas = [_meta(root / "train" / spec.name / "meta" / f"{t:04d}.pkl") for t in range(spec.n_frames)]
        m = metas[0]
        assert m["handJoints3D"].shape == (21, 3) and m["handPose"].shape == (48,)
        assert m["handTrans"].shape == (3,) and m["handBeta"].shape == (10,)
        assert m["objCorners3DRest"].shape == (8, 3) and m["camMat"].shape == (3, 3)
        pose = np.stack([x["handPose"] for x in metas])
        trans = np.stack([x["handTrans"] for x in metas])
        verts_gl, joints_gl = hand_mesh(layer, pose, m["handBeta"], trans)
        verts_cv, joints_cv = hand_mesh(layer, truth.fullpose, truth.betas, truth.trans)
        # OpenGL annotations flipped by (1, -1, -1) give the generator's OpenCV hand.
        np.testing.assert_allclose(verts_gl.numpy() @ FLIP, verts_cv.numpy(), atol=2e-5)
        stored = np.stack([x["handJoints3D"] for x in metas])[:, HO3D_TO_PROJECT]
        np.testing.assert_allclose(stored @ FLIP, joints_cv.numpy(), atol=2e-5)
        model = ho3d.ho3d_object(m["objName"]).verts
        for t, x in enumerate(metas):
            R = Rotation.from_rotvec(np.asarray(x["objRot"], dtype=np.float64).reshape(3)).as_matrix()
            obj_cv = (model @ R.T + np.asarray(x["objTrans"]).reshape(3)) @ FLIP
            np.testing.assert_allclose(obj_cv, model @ truth.obj_R[t].T + truth.obj_t[t], atol=2e-5)
            z = (np.asarray(x["objTrans"]) @ FLIP)[2]
            assert 0.3 < z < 1.0  # OpenCV depth in front of the camera after the flip


def test_evaluation_meta_hides_the_hand(ho3d_tiny_root):
    meta = _meta(next(Path(ho3d_tiny_root).glob("evaluation/*/meta/0000.pkl")))
    assert meta["handJoints3D"].shape == (3,)
    assert not np.any(meta["handPose"]) and not np.any(meta["handBeta"])


def test_rerender_from_annotations_matches_stored_pixels(ho3d_tiny_root, mano_root):
    from handobjectconsist.synth.verify import verify_ho3d

    report = verify_ho3d(ho3d_tiny_root, mano_root, max_frames=2)
    assert report["mad_covered"] < 0.5  # PNG is lossless: re-render from the files is pixel-identical
    assert report["joints_on_hand_or_object"] >= 0.8
    assert report["joints_vs_mano_mm"] < 0.05


def test_evaluation_reference_files_hold_the_hidden_hand(ho3d_tiny_root, mano_root):
    """evaluation_xyz.json / evaluation_verts.json: per evaluation.txt frame the generator's hand, HO3D joint order,
    OpenGL frame, metres; the same convention as the train metas and as pred.json (to_ho3d_frame)."""
    from handobjectconsist.evaluation.ho3d_submission import to_ho3d_frame

    root = Path(ho3d_tiny_root)
    xyz = np.asarray(json.loads((root / "evaluation_xyz.json").read_text()))
    verts = np.asarray(json.loads((root / "evaluation_verts.json").read_text()))
    listed = (root / "evaluation.txt").read_text().split()
    assert xyz.shape == (len(listed), 21, 3) and verts.shape == (len(listed), 778, 3)
    layer, _ = hand_model(mano_root)
    _, seqs = ho3d.plan("tiny")
    start = 0
    for spec in [s for s in seqs if s.split == "evaluation"]:
        assert listed[start] == f"{spec.name}/0000"
        truth = ho3d.sequence_truth(spec, 0, mano_root)
        verts_cv, joints_cv = hand_mesh(layer, truth.fullpose, truth.betas, truth.trans)  # project order, OpenCV
        joints_gl, verts_gl = to_ho3d_frame(joints_cv, verts_cv)
        stop = start + spec.n_frames
        np.testing.assert_allclose(xyz[start:stop], joints_gl, atol=2e-5)
        np.testing.assert_allclose(verts[start:stop], verts_gl, atol=2e-5)
        # The hidden meta keeps only the root: the reference's wrist.
        for t in range(spec.n_frames):
            meta = _meta(root / "evaluation" / spec.name / "meta" / f"{t:04d}.pkl")
            np.testing.assert_allclose(meta["handJoints3D"], xyz[start + t, 0], atol=2e-6)
        start = stop
    assert start == len(listed)
    assert (xyz[:, :, 2] < 0).all()  # in front of an OpenGL camera
