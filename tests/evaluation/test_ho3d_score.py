"""Offline HO3D-v2 scorer (handobjectconsist/evaluation/ho3d_score.py) against values worked out by hand."""

import json

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from handobjectconsist.evaluation import ho3d_score as hs

# PCK thresholds t_i = i h, i = 0..99, h = 5 cm / 99. A constant error d with t_k < d < t_k+1 gives the curve 0 up to
# t_k and 1 from t_k+1: trapezoid area h (98.5 - k), normalised by 99 h: AUC = (98.5 - k) / 99.
H = 0.05 / 99


def auc_of_constant_error(d):
    k = int(np.floor(d / H))
    assert k * H < d < (k + 1) * H  # not on a threshold
    return (98.5 - k) / 99


# An alignment that is exact up to rounding leaves errors of ~1e-16 m: above the first threshold (0), so the curve
# starts at 0 or 1 there and the AUC is 1 or 98.5 / 99 (as in the challenge, which thresholds with <= as well).
AUC_EXACT = 98.5 / 99 - 1e-12


def hand_like(num_frames, num_points, seed=0, spread=0.05):
    """(N, K, 3) random points in OpenGL camera space, metres (z negative: in front of the camera)."""
    gen = np.random.default_rng(seed)
    return gen.normal(scale=spread, size=(num_frames, num_points, 3)) + np.array([0.02, -0.01, -0.6])


def sparse_verts(num_frames, spacing=0.1):
    """(N, 778, 3) vertices on a grid `spacing` apart: a shift below spacing / 2 keeps each nearest neighbour."""
    grid = np.stack(np.meshgrid(*[np.arange(10)] * 3, indexing="ij"), -1).reshape(-1, 3)[:778] * spacing
    return np.repeat(grid[None], num_frames, axis=0) + np.array([0.0, 0.0, -1.0])


def write_reference(folder, xyz, verts):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hs.REFERENCE_XYZ).write_text(json.dumps(np.asarray(xyz).tolist()))
    (folder / hs.REFERENCE_VERTS).write_text(json.dumps(np.asarray(verts).tolist()))
    return folder


def write_pred(path, xyz, verts):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([np.asarray(xyz).tolist(), np.asarray(verts).tolist()]))
    return path


# ------------------------------------------------------------------------------------------ alignments


def test_procrustes_matches_the_issue_recipe_with_scipy_orthogonal_procrustes():
    gt = hand_like(3, 21)
    pred = gt + np.random.default_rng(1).normal(scale=0.02, size=gt.shape)
    aligned = hs.procrustes_align(pred, gt)
    for b in range(3):
        # Centre both, divide by the Frobenius norm, orthogonal Procrustes, back to the ground truth's norm/centroid.
        g, p = gt[b] - gt[b].mean(0), pred[b] - pred[b].mean(0)
        rot, scale = orthogonal_procrustes(g / np.linalg.norm(g), p / np.linalg.norm(p))
        expected = (p / np.linalg.norm(p)) @ rot.T * scale * np.linalg.norm(g) + gt[b].mean(0)
        np.testing.assert_allclose(aligned[b], expected, atol=1e-12)
        np.testing.assert_allclose(hs.procrustes_align(pred[b], gt[b]), aligned[b], atol=1e-12)


def test_procrustes_undoes_a_similarity_and_its_transform_moves_other_points():
    gt = hand_like(2, 21)
    rot = Rotation.from_rotvec([[0.3, -1.2, 2.0], [2.5, 0.1, -0.4]]).as_matrix()
    scale, shift = np.array([1.7, 0.6]), np.array([[0.1, -0.4, 0.9], [-0.2, 0.0, 0.3]])
    pred = scale[:, None, None] * np.einsum("bij,bnj->bni", rot, gt) + shift[:, None]
    np.testing.assert_allclose(hs.procrustes_align(pred, gt), gt, atol=1e-12)
    found_scale, found_rot, found_shift = hs.procrustes_transform(pred, gt)
    np.testing.assert_allclose(found_scale, 1 / scale, rtol=1e-12)
    np.testing.assert_allclose(found_rot, np.swapaxes(rot, 1, 2), atol=1e-12)
    other = hand_like(2, 5, seed=3)  # any point follows the same map: back where it came from
    moved = scale[:, None, None] * np.einsum("bij,bnj->bni", rot, other) + shift[:, None]
    np.testing.assert_allclose(hs.apply_similarity(moved, found_scale, found_rot, found_shift), other, atol=1e-12)


def test_procrustes_allows_a_reflection_as_the_challenge():
    gt = hand_like(1, 21)[0]
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    _, rot, _ = hs.procrustes_transform(mirrored, gt)
    assert np.linalg.det(rot) == pytest.approx(-1.0)
    np.testing.assert_allclose(hs.procrustes_align(mirrored, gt), gt, atol=1e-12)


def test_collapsed_prediction_lands_on_the_ground_truth_centroid():
    gt = hand_like(1, 21)
    aligned = hs.procrustes_align(np.zeros_like(gt), gt)
    np.testing.assert_allclose(aligned, np.broadcast_to(gt.mean(axis=1, keepdims=True), gt.shape), atol=1e-15)


def test_scale_translation_alignment_by_hand():
    gt = np.zeros((1, 21, 3))
    gt[0, 4] = [0.1, 0.0, 0.0]  # wrist at the origin, middle MCP 10 cm along x
    gt[0, 5] = [0.0, 0.1, 0.0]
    pred = np.ones((1, 21, 3))
    pred[0, 4] = [1.2, 1.0, 1.0]  # twice as long, shifted by (1, 1, 1)
    pred[0, 5] = [1.0, 1.1, 1.0]  # half of the ground truth's offset (before halving the scale)
    aligned = hs.scale_translation_align(pred, gt)
    np.testing.assert_allclose(aligned[0, [0, 4]], gt[0, [0, 4]], atol=1e-15)
    np.testing.assert_allclose(aligned[0, 5], [0.0, 0.05, 0.0], atol=1e-15)  # 5 cm short of the ground truth
    np.testing.assert_allclose(np.delete(aligned[0], [4, 5], axis=0), 0.0, atol=1e-15)


# ------------------------------------------------------------------------------------------ measures


def test_fscore_by_hand():
    gt = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0.3, 0, 0]])
    pred = gt[:3] + np.array([[0.003, 0, 0], [0, 0.010, 0], [0, 0, 0.020]])  # 3, 10, 20 mm off; D has no partner
    f, precision, recall = hs.fscore(gt, pred, [0.005, 0.015])
    # precision: ground-truth points with a prediction within the threshold (1/4, 2/4); recall: the converse (1/3,
    # 2/3). F = 2PR/(P+R): 2/7 and 4/7.
    np.testing.assert_allclose(precision, [1 / 4, 2 / 4])
    np.testing.assert_allclose(recall, [1 / 3, 2 / 3])
    np.testing.assert_allclose(f, [2 / 7, 4 / 7])
    f, precision, recall = hs.fscore(gt, gt + 0.5, [0.005])
    assert f[0] == precision[0] == recall[0] == 0.0


def test_error_measures_of_a_constant_error():
    measures = hs.error_measures(np.full((3, 21), 0.01))
    assert measures["mean_cm"] == pytest.approx(1.0)
    assert measures["auc"] == pytest.approx(auc_of_constant_error(0.01), abs=1e-12)  # 79.5 / 99
    assert measures["auc"] == pytest.approx(79.5 / 99, abs=1e-12)
    assert hs.error_measures(np.zeros((2, 5)))["auc"] == pytest.approx(1.0)


def test_known_translations_give_known_unaligned_errors_and_zero_aligned():
    gt_xyz, gt_verts = hand_like(2, 21), sparse_verts(2)
    offsets = np.array([[0.01, 0.0, 0.0], [0.0, 0.0, -0.03]])  # 1 cm and 3 cm
    result = hs.score_submission(gt_xyz + offsets[:, None], gt_verts + offsets[:, None], gt_xyz, gt_verts)
    s = result.scores
    assert list(s) == [key for key, _ in hs.SCORE_KEYS]
    expected_auc = (auc_of_constant_error(0.01) + auc_of_constant_error(0.03)) / 2  # (79.5 + 39.5) / 2 / 99
    for prefix in ("xyz", "mesh"):
        assert s[f"{prefix}_mean3d"] == pytest.approx(2.0)
        assert s[f"{prefix}_auc3d"] == pytest.approx(expected_auc, abs=1e-12)
    for key in ("xyz_procrustes_al_mean3d", "xyz_scale_trans_al_mean3d", "mesh_al_mean3d"):
        assert s[key] == pytest.approx(0.0, abs=1e-10)
    for key in ("xyz_procrustes_al_auc3d", "xyz_scale_trans_al_auc3d", "mesh_al_auc3d"):
        assert s[key] >= AUC_EXACT
    # Every vertex is 1 cm (frame 0) or 3 cm (frame 1) from its partner, the others are >= 7 cm away: F@5mm 0 in
    # both frames; F@15mm 1 in frame 0 and 0 in frame 1. Aligned, all vertices coincide.
    assert s["f_score_5"] == 0.0 and s["f_score_15"] == pytest.approx(0.5)
    assert s["f_al_score_5"] == pytest.approx(1.0) and s["f_al_score_15"] == pytest.approx(1.0)
    assert result.mesh_scored and not result.notes


def test_rotated_scaled_shifted_copy_scores_zero_aligned():
    gt_xyz, gt_verts = hand_like(3, 21), hand_like(3, 778, seed=5)
    rot = Rotation.from_rotvec([0.4, -0.9, 1.3]).as_matrix()

    def move(points):
        return 1.25 * points @ rot.T + np.array([0.05, -0.02, 0.1])

    s = hs.score_submission(move(gt_xyz), move(gt_verts), gt_xyz, gt_verts).scores
    assert s["xyz_mean3d"] > 5.0 and s["mesh_mean3d"] > 5.0  # far off unaligned
    assert s["xyz_procrustes_al_mean3d"] == pytest.approx(0.0, abs=1e-10)
    assert s["mesh_al_mean3d"] == pytest.approx(0.0, abs=1e-10)
    assert s["xyz_procrustes_al_auc3d"] >= AUC_EXACT and s["mesh_al_auc3d"] >= AUC_EXACT
    assert s["f_al_score_5"] == pytest.approx(1.0) and s["f_al_score_15"] == pytest.approx(1.0)
    assert s["xyz_scale_trans_al_mean3d"] > 0.5  # scale and translation alone cannot undo a rotation
    # A scaled and shifted copy (no rotation) is undone by the scale-translation alignment as well.
    scaled = 0.8 * gt_xyz + np.array([0.1, 0.0, 0.2])
    s = hs.score_submission(scaled, gt_verts, gt_xyz, gt_verts).scores
    assert s["xyz_scale_trans_al_mean3d"] == pytest.approx(0.0, abs=1e-10)


def test_other_vertex_count_skips_mesh_errors_and_aligns_with_the_joints():
    gt_xyz, gt_verts = hand_like(2, 21), sparse_verts(2)
    rot = Rotation.from_rotvec([0.0, 0.3, 0.0]).as_matrix()
    pred_xyz = 0.9 * gt_xyz @ rot.T + 0.05
    pred_verts = (0.9 * gt_verts @ rot.T + 0.05)[:, :500]  # the same similarity; 500 of the 778 vertices
    result = hs.score_submission(pred_xyz, pred_verts, gt_xyz, gt_verts)
    s = result.scores
    for key in ("mesh_mean3d", "mesh_auc3d", "mesh_al_mean3d", "mesh_al_auc3d"):
        assert s[key] == -1.0
    assert not result.mesh_scored and "500 vertices" in result.notes[0]
    assert set(result.curves) == {"xyz", "xyz_procrustes_al", "xyz_scale_trans_al"}
    # Aligned with the joints' transform, the 500 vertices are exact: recall 1, precision 500/778.
    expected = 2 * (500 / 778) / (1 + 500 / 778)
    assert s["f_al_score_5"] == pytest.approx(expected) and s["f_al_score_15"] == pytest.approx(expected)


# ------------------------------------------------------------------------------------------ command line


def test_command_writes_scores_and_plot(tmp_path, capsys):
    gt_xyz, gt_verts = hand_like(2, 21), sparse_verts(2)
    gt = write_reference(tmp_path / "gt", gt_xyz, gt_verts)
    pred = write_pred(tmp_path / "sub" / "pred.json", gt_xyz + [0.01, 0.0, 0.0], gt_verts + [0.01, 0.0, 0.0])
    assert hs.main(["--pred", str(pred), "--gt", str(gt)]) == 0  # --out defaults to the folder of --pred
    lines = (tmp_path / "sub" / "scores.txt").read_text().splitlines()
    scores = dict(line.split(": ") for line in lines)
    assert list(scores) == [key for key, _ in hs.SCORE_KEYS]
    assert float(scores["xyz_mean3d"]) == pytest.approx(1.0, abs=1e-6)
    assert float(scores["mesh_auc3d"]) == pytest.approx(79.5 / 99, abs=1e-6)
    assert float(scores["f_score_15"]) == 1.0 and float(scores["f_score_5"]) == 0.0
    png = (tmp_path / "sub" / "pck_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "xyz_procrustes_al_mean3d" in out and "scores.txt" in out
    # pred.zip works too, and --out chooses the folder.
    import zipfile

    with zipfile.ZipFile(tmp_path / "pred.zip", "w") as archive:
        archive.writestr("pred.json", pred.read_text())
    assert hs.main(["--pred", str(tmp_path / "pred.zip"), "--gt", str(gt), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "scores.txt").read_text() == "\n".join(lines) + "\n"


def _bad_case(tmp_path, case):
    gt_xyz, gt_verts = hand_like(3, 21), sparse_verts(3)
    gt = write_reference(tmp_path / "gt", gt_xyz, gt_verts)
    pred = tmp_path / "pred.json"
    if case == "missing pred":
        return pred, gt, "pred.json"
    if case == "missing gt folder":
        write_pred(pred, gt_xyz, gt_verts)
        return pred, tmp_path / "nowhere", "nowhere"
    if case == "missing gt file":
        write_pred(pred, gt_xyz, gt_verts)
        (gt / hs.REFERENCE_VERTS).unlink()
        return pred, gt, hs.REFERENCE_VERTS
    if case == "frame count":
        write_pred(pred, gt_xyz[:2], gt_verts[:2])
        return pred, gt, "2 frames, but the reference"
    if case == "joint count":
        write_pred(pred, gt_xyz[:, :20], gt_verts)
        return pred, gt, "frame 0 has shape (20, 3) instead of (21, 3)"
    if case == "ragged verts":
        verts = gt_verts.tolist()
        verts[1] = verts[1][:-1]
        pred.write_text(json.dumps([gt_xyz.tolist(), verts]))
        return pred, gt, "frame 1 has shape (777, 3) instead of (778, 3)"
    if case == "malformed json":
        pred.write_text("[[1, 2], ")
        return pred, gt, "not valid JSON"
    if case == "not a pair":
        pred.write_text(json.dumps({"xyz": []}))
        return pred, gt, "[xyz_list, verts_list]"
    if case == "malformed reference":
        write_pred(pred, gt_xyz, gt_verts)
        (gt / hs.REFERENCE_XYZ).write_text("{")
        return pred, gt, hs.REFERENCE_XYZ
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing pred", "missing gt folder", "missing gt file", "frame count",
                                  "joint count", "ragged verts", "malformed json", "not a pair",
                                  "malformed reference"])
def test_user_errors_are_one_line_naming_the_file(case, tmp_path, capsys):
    pred, gt, expected = _bad_case(tmp_path, case)
    assert hs.main(["--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert expected in err
    assert not (tmp_path / "out" / "scores.txt").exists()


def test_missing_flag_is_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        hs.main(["--gt", "somewhere"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--pred" in err and "\n" not in err


# ------------------------------------------------------------------------------------------ end to end


def test_train_predict_score_on_synthetic_ho3d(ho3d_tiny_root, mano_root, tmp_path):
    """trainmeshreg (1 epoch, tiny encoder) -> evalho3dv2.py -> the scorer, on the synthetic HO3D-v2 set whose
    generator wrote the reference files; then the reference itself submitted scores exactly."""
    import evalho3dv2
    from handobjectconsist.training.trainmeshreg import run as train

    history = train(f"--train_datasets ho3dv2 --val_dataset ho3dv2 --split_mode paper --train_splits train "
                    f"--val_split train --data_root {ho3d_tiny_root} --mano_root {mano_root} --input_width 64 "
                    f"--epochs 1 --batch_size 4 --encoder_arch tiny --eval_freq -1 --epoch_display_freq 0 "
                    f"--exp_dir {tmp_path / 'run'}".split())
    assert len(history["train"]) == 1
    checkpoint = tmp_path / "run" / "checkpoint.pth"
    assert evalho3dv2.main(["--resume", str(checkpoint), "--val_split", "test", "--data_root", str(ho3d_tiny_root),
                            "--mano_root", str(mano_root), "--device", "cpu", "--workers", "0",
                            "--out_dir", str(tmp_path / "sub"), "--json_folder", str(tmp_path / "jsonres")]) == 0
    result = hs.run(["--pred", str(tmp_path / "sub" / "pred.zip"), "--gt", str(ho3d_tiny_root),
                     "--out", str(tmp_path / "scores")])
    listed = (ho3d_tiny_root / "evaluation.txt").read_text().split()
    assert result.num_frames == len(listed) and result.mesh_scored
    scores = dict(line.split(": ") for line in (tmp_path / "scores" / "scores.txt").read_text().splitlines())
    assert list(scores) == [key for key, _ in hs.SCORE_KEYS]
    values = {key: float(value) for key, value in scores.items()}
    assert all(np.isfinite(v) for v in values.values())
    # An untrained-ish model: unaligned errors of centimetres; aligning can only help the joints and vertices.
    assert 0.0 < values["xyz_procrustes_al_mean3d"] <= values["xyz_mean3d"]
    assert 0.0 < values["mesh_al_mean3d"] <= values["mesh_mean3d"]
    assert all(0.0 <= values[k] <= 1.0 for k in values if "auc" in k or k.startswith("f_"))
    assert (tmp_path / "scores" / "pck_curves.png").stat().st_size > 0

    # The reference submitted as a prediction (through the submission writer) scores 0 cm and F-score 1.
    from handobjectconsist.evaluation.ho3d_submission import HO3DSubmissionWriter, read_submission
    from handobjectconsist.mano.joints import MANO_TO_PROJECT

    gt_xyz, gt_verts = hs.load_reference(ho3d_tiny_root)
    flip = np.array([1.0, -1.0, -1.0])  # back to what the model outputs: project order, OpenCV frame
    writer = HO3DSubmissionWriter()
    writer.add(gt_xyz[:, list(MANO_TO_PROJECT)] * flip, gt_verts * flip)
    pred_xyz, pred_verts = read_submission(writer.write(tmp_path / "perfect").json)
    perfect = hs.score_submission(pred_xyz, pred_verts, gt_xyz, gt_verts)
    for key in ("xyz_mean3d", "xyz_procrustes_al_mean3d", "mesh_mean3d", "mesh_al_mean3d"):
        assert perfect.scores[key] < 1e-3  # below the 5-decimal rounding of pred.json
    assert perfect.scores["f_score_5"] == 1.0 and perfect.scores["f_al_score_5"] == 1.0
