"""Tests of the HO3D-v2 CodaLab submission writer (handobjectconsist/evaluation/ho3d_submission.py)."""

import json
import re
import zipfile

import numpy as np
import pytest
import torch

from handobjectconsist.datasets.ho3dv2 import HO3D_TO_PROJECT
from handobjectconsist.evaluation.ho3d_submission import HO3DSubmissionWriter, read_submission, to_ho3d_frame

GL_TO_CV = np.array([1.0, -1.0, -1.0])  # HO3D's OpenGL camera -> OpenCV: negate y and z


def ho3d_predictions(num_frames, num_verts=12, seed=0):
    """Joints (N, 21, 3) in HO3D file order and verts (N, V, 3), OpenGL frame, metres, with every joint distinct."""
    gen = np.random.default_rng(seed)
    joints_gl = gen.uniform(-0.2, 0.2, size=(num_frames, 21, 3)) + np.array([0.0, 0.0, -0.6])
    verts_gl = gen.uniform(-0.2, 0.2, size=(num_frames, num_verts, 3)) + np.array([0.0, 0.0, -0.6])
    return joints_gl, verts_gl


def as_project_inputs(joints_gl, verts_gl):
    """What the model predicts for those frames: project joint order (the reader's reordering), OpenCV frame."""
    return joints_gl[:, list(HO3D_TO_PROJECT)] * GL_TO_CV, verts_gl * GL_TO_CV


def test_write_round_trip_restores_ho3d_order_and_opengl_frame(tmp_path):
    joints_gl, verts_gl = ho3d_predictions(5)
    joints_cv, verts_cv = as_project_inputs(joints_gl, verts_gl)
    writer = HO3DSubmissionWriter()
    writer.add(torch.tensor(joints_cv[:2]), torch.tensor(verts_cv[:2]))  # batches, in dataset order
    writer.add(joints_cv[2:], verts_cv[2:])
    assert len(writer) == 5
    paths = writer.write(tmp_path / "sub")
    assert paths.json == tmp_path / "sub" / "pred.json" and paths.zip == tmp_path / "sub" / "pred.zip"

    xyz_list, verts_list = json.loads(paths.json.read_text())
    np.testing.assert_allclose(np.array(xyz_list), joints_gl, rtol=0, atol=5.1e-6)
    np.testing.assert_allclose(np.array(verts_list), verts_gl, rtol=0, atol=5.1e-6)

    with zipfile.ZipFile(paths.zip) as archive:
        assert archive.namelist() == ["pred.json"]
        assert archive.read("pred.json") == paths.json.read_bytes()
    for path in (paths.json, paths.zip):
        joints_back, verts_back = read_submission(path)
        np.testing.assert_array_equal(joints_back, np.array(xyz_list))
        np.testing.assert_array_equal(verts_back, np.array(verts_list))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["pred.json", "pred.zip"]  # no temp files


def test_wrist_is_first_and_tips_last_in_ho3d_order():
    # Project order: wrist, thumb MCP..tip, index, middle, ring, pinky (4 each). HO3D order: wrist, index 1-3,
    # middle 1-3, pinky 1-3, ring 1-3, thumb 1-3, tips thumb..pinky. Label each project joint by its x coordinate.
    joints_cv = np.zeros((1, 21, 3))
    joints_cv[0, :, 0] = np.arange(21)
    joints_ho3d, _ = to_ho3d_frame(joints_cv, np.zeros((1, 3, 3)))
    finger = {name: [1 + 4 * k + j for j in range(4)] for k, name in enumerate(["thumb", "index", "middle",
                                                                                 "ring", "pinky"])}
    expected = [0]
    for name in ["index", "middle", "pinky", "ring", "thumb"]:
        expected += finger[name][:3]
    expected += [finger[name][3] for name in ["thumb", "index", "middle", "ring", "pinky"]]
    np.testing.assert_array_equal(joints_ho3d[0, :, 0], expected)


def test_coordinates_are_rounded_to_five_decimals(tmp_path):
    joints_cv = np.full((1, 21, 3), 0.123456789)
    verts_cv = np.array([[[0.1, -0.000004999, 1.0 / 3.0]]])
    writer = HO3DSubmissionWriter()
    writer.add(joints_cv, verts_cv)
    text = writer.write(tmp_path).json.read_text()
    numbers = re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", text)
    assert len(numbers) == 21 * 3 + 3
    assert all(len(n.split(".")[1]) <= 5 for n in numbers if "." in n and "e" not in n)
    xyz_list, verts_list = json.loads(text)
    assert xyz_list[0][0] == [0.12346, -0.12346, -0.12346]
    assert verts_list[0][0] == [0.1, 0.0, -0.33333]


def test_true_root_replaces_the_wrist(tmp_path):
    joints_gl, verts_gl = ho3d_predictions(2)
    joints_cv, verts_cv = as_project_inputs(joints_gl, verts_gl)
    roots_cv = np.array([[0.01, 0.02, 0.5], [-0.03, 0.04, 0.6]])
    writer = HO3DSubmissionWriter()
    writer.add(joints_cv, verts_cv, root_joints3d=roots_cv)
    xyz, _ = read_submission(writer.write(tmp_path).json)
    np.testing.assert_allclose(xyz[:, 0], roots_cv * GL_TO_CV, atol=5.1e-6)
    np.testing.assert_allclose(xyz[:, 1:], joints_gl[:, 1:], atol=5.1e-6)
    # The caller's array is not modified.
    np.testing.assert_array_equal(joints_cv, as_project_inputs(joints_gl, verts_gl)[0])


def test_user_errors_are_explained(tmp_path):
    writer = HO3DSubmissionWriter()
    with pytest.raises(ValueError, match=r"joints3d must have shape \(B, 21, 3\)"):
        writer.add(np.zeros((2, 16, 3)), np.zeros((2, 12, 3)))
    with pytest.raises(ValueError, match="hand_verts3d"):
        writer.add(np.zeros((2, 21, 3)), np.zeros((3, 12, 3)))
    writer.add(np.zeros((2, 21, 3)), np.zeros((2, 12, 3)))
    with pytest.raises(ValueError, match="same number of hand vertices"):
        writer.add(np.zeros((1, 21, 3)), np.zeros((1, 13, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        writer.add(np.full((1, 21, 3), np.nan), np.zeros((1, 12, 3)))
    assert len(writer) == 2
    with pytest.raises(ValueError, match="2 frames were added but the split has 3"):
        writer.write(tmp_path / "out", expected_frames=3)
    assert not (tmp_path / "out").exists()
    with pytest.raises(FileNotFoundError, match="missing.zip"):
        read_submission(tmp_path / "missing.zip")
    bad_zip = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_zip, "w") as archive:
        archive.writestr("sub/pred.json", "[[], []]")
    with pytest.raises(ValueError, match="at its root"):
        read_submission(bad_zip)
