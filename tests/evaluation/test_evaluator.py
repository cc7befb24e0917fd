import json

import numpy as np
import pytest
import torch

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.evaluation.evaluator import HandObjectEvaluator


def _batch_and_results():
    torch.manual_seed(0)
    B = 2
    gt3d = torch.rand(B, 21, 3) + torch.tensor([0, 0, 0.5])
    gt2d = torch.rand(B, 21, 2) * 100
    # Original -> input pixels: zoom 2 and shift (10, -4).
    affine = torch.tensor([[2.0, 0, 10], [0, 2.0, -4], [0, 0, 1]]).expand(B, 3, 3).clone()
    gt2d_input = gt2d * 2 + torch.tensor([10.0, -4.0])
    obj_gt = torch.rand(B, 6, 3)
    obj_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    obj_pred = obj_gt + torch.tensor([0.0, 0.006, 0.008])  # 10 mm on every real vertex
    obj_pred[1, 4:] += 50.0  # padding: huge error that must be ignored
    obj2d_gt = torch.rand(B, 6, 2) * 50
    obj2d_pred_input = (obj2d_gt + torch.tensor([6.0, 8.0])) * 2 + torch.tensor([10.0, -4.0])  # 10 px originally
    obj2d_pred_input[1, 4:] = -1000.0
    batch = {K.IMAGE: torch.zeros(B, 3, 4, 4), K.JOINTS3D: gt3d, K.JOINTS2D: gt2d, K.AFFINE: affine,
             K.OBJ_VERTS3D: obj_gt, K.OBJ_VERTS2D: obj2d_gt, K.OBJ_VERTS_MASK: obj_mask,
             K.SEQ_NAME: ["s/a/1", "s/a/1"], K.FRAME_IDX: torch.tensor([3, 4])}
    results = {
        "recov_joints3d": gt3d + torch.tensor([0.003, 0.004, 0.0]),  # 5 mm everywhere, a pure translation
        "joints3d": gt3d - gt3d[:, 9:10] + torch.tensor([0.003, 0.004, 0.0]),
        "joints2d": gt2d_input + torch.tensor([6.0, 8.0]),  # 10 input px = 5 original px
        "recov_objverts3d": obj_pred,
        "obj_verts2d": obj2d_pred_input,
    }
    return batch, results


def test_known_errors_in_mm_and_original_pixels():
    evaluator = HandObjectEvaluator()
    evaluator.feed(*_batch_and_results())
    summary = evaluator.summary()
    assert summary["joints3d_epe_mean_mm"] == pytest.approx(5.0, abs=1e-4)
    assert summary["joints3d_cent_epe_mean_mm"] == pytest.approx(0.0, abs=1e-4)  # translation cancels
    assert summary["joints2d_base_epe_mean_px"] == pytest.approx(5.0, abs=1e-4)
    assert summary["objverts3d_mepe_trans_mm"] == pytest.approx(10.0, abs=1e-4)
    assert summary["objverts2d_mepe_px"] == pytest.approx(10.0, abs=1e-4)
    # All 3D joint errors (5 mm) are below the second threshold (26.3 mm) of 0..0.5 m in 20 steps:
    # PCK = (0, 1, 1, ...), so AUC = (19 - 0.5) / 19.
    assert summary["joints3d_auc"] == pytest.approx(18.5 / 19)


def test_per_sample_dump_round_trip(tmp_path):
    evaluator = HandObjectEvaluator()
    evaluator.feed(*_batch_and_results())
    json_path, npz_path = evaluator.dump_per_sample(tmp_path / "val_epoch0001")
    records = json.loads(json_path.read_text())
    assert [r["frame_idx"] for r in records] == [3, 4]
    assert records[1]["objverts3d_mepe_trans_mm"] == pytest.approx(10.0, abs=1e-4)
    arrays = np.load(npz_path)
    np.testing.assert_allclose(arrays["joints3d_mm"], [5.0, 5.0], atol=1e-4)


def test_2d_errors_are_reported_in_the_reference_frame():
    """Frames stored at 128 wide, reference 480 wide: every pixel error is 480 / 128 = 3.75 times larger."""
    batch, results = _batch_and_results()
    batch[K.REPORT_SCALE] = torch.full((2, 2), 480 / 128)
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    summary = evaluator.summary()
    assert summary["joints2d_base_epe_mean_px"] == pytest.approx(5.0 * 3.75, abs=1e-4)
    assert summary["objverts2d_mepe_px"] == pytest.approx(10.0 * 3.75, abs=1e-4)
    assert summary["joints3d_epe_mean_mm"] == pytest.approx(5.0, abs=1e-4)  # 3D unaffected


def test_anisotropic_report_scale_scales_each_axis():
    batch, results = _batch_and_results()
    batch[K.REPORT_SCALE] = torch.tensor([[2.0, 0.5], [2.0, 0.5]])
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    # Hand 2D error (3, 4) original px -> (6, 2) reference px; object (6, 8) -> (12, 4).
    assert evaluator.summary()["joints2d_base_epe_mean_px"] == pytest.approx(np.hypot(6, 2), abs=1e-4)
    assert evaluator.summary()["objverts2d_mepe_px"] == pytest.approx(np.hypot(12, 4), abs=1e-4)


def test_root_and_centroid_errors_split_into_lateral_and_depth():
    batch, results = _batch_and_results()
    results["recov_joints3d"] = batch[K.JOINTS3D] + torch.tensor([0.003, 0.004, -0.012])  # 5 mm lateral, 12 deep
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    summary = evaluator.summary()
    assert summary["hand_root_lateral_mm"] == pytest.approx(5.0, abs=1e-4)
    assert summary["hand_root_depth_mm"] == pytest.approx(12.0, abs=1e-4)
    assert summary["joints3d_epe_mean_mm"] == pytest.approx(13.0, abs=1e-4)
    # Object prediction offset (0, 6, 8) mm on the real vertices; padding vertices must not move the centroid.
    assert summary["obj_centroid_lateral_mm"] == pytest.approx(6.0, abs=1e-4)
    assert summary["obj_centroid_depth_mm"] == pytest.approx(8.0, abs=1e-4)


def test_procrustes_error_ignores_similarity_but_not_articulation():
    from scipy.spatial.transform import Rotation

    batch, results = _batch_and_results()
    gt = batch[K.JOINTS3D].double()
    rotation = torch.from_numpy(Rotation.from_rotvec([0.2, 0.5, -0.3]).as_matrix())
    moved = 1.3 * gt @ rotation.T + torch.tensor([0.05, -0.02, 0.1], dtype=torch.float64)
    results["recov_joints3d"] = moved.float()
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    summary = evaluator.summary()
    assert summary["joints3d_procrustes_epe_mean_mm"] == pytest.approx(0.0, abs=1e-3)
    # Errors of ~1e-13 m miss only the threshold 0 of 0..0.05 m in 100 steps: AUC = (99 - 0.5) / 99.
    assert summary["joints3d_procrustes_auc"] == pytest.approx(98.5 / 99, abs=1e-9)
    assert summary["joints3d_epe_mean_mm"] > 50
    # One joint displaced by 21 mm: no similarity undoes it, so the aligned error stays well above zero (least
    # squares spreads it over the joints, so its mean may exceed the unaligned 1 mm).
    bent = gt.clone()
    bent[:, 20, 0] += 0.021
    results["recov_joints3d"] = bent.float()
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    summary = evaluator.summary()
    assert summary["joints3d_epe_mean_mm"] == pytest.approx(1.0, abs=1e-3)
    assert summary["joints3d_procrustes_epe_mean_mm"] > 0.5


def _with_corners(batch, results):
    """HO3D-style corners: GT (8, 3) and (8, 2); predictions 5 mm and (6, 8) original pixels = 10 px off, the 2D
    prediction given in input pixels (through the batch's AFFINE: zoom 2, shift (10, -4))."""
    torch.manual_seed(1)
    corners3d = torch.rand(2, 8, 3) + torch.tensor([0, 0, 0.5])
    corners2d = torch.rand(2, 8, 2) * 100
    batch = {**batch, K.OBJ_CORNERS3D: corners3d, K.OBJ_CORNERS2D: corners2d}
    results = {**results, "recov_objcorners3d": corners3d + torch.tensor([0.0, 0.003, -0.004]),
               "obj_corners2d": (corners2d + torch.tensor([-6.0, 8.0])) * 2 + torch.tensor([10.0, -4.0])}
    return batch, results


def test_corner_errors_with_known_offsets_in_mm_and_reference_pixels():
    batch, results = _with_corners(*_batch_and_results())
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    summary = evaluator.summary()
    assert summary["corners3d_mepe_mm"] == pytest.approx(5.0, abs=1e-4)
    assert summary["corners2d_mepe_px"] == pytest.approx(10.0, abs=1e-4)
    # Stored at 128 wide, reported at 640 wide (HO3D): 2D errors x5, 3D unchanged.
    batch[K.REPORT_SCALE] = torch.full((2, 2), 5.0)
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    assert evaluator.summary()["corners2d_mepe_px"] == pytest.approx(50.0, abs=1e-4)
    assert evaluator.summary()["corners3d_mepe_mm"] == pytest.approx(5.0, abs=1e-4)
    assert evaluator.records[0]["corners2d_mepe_px"] == pytest.approx(50.0, abs=1e-4)


def test_corner_errors_average_per_sample_then_over_samples():
    batch, results = _with_corners(*_batch_and_results())
    results["recov_objcorners3d"] = results["recov_objcorners3d"].clone()
    results["recov_objcorners3d"][1, :2] += torch.tensor([0.0, 0.0, 0.020])  # 2 of 8 corners 20 mm further off
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    second = (6 * 5.0 + 2 * float(np.hypot(3.0, 16.0))) / 8  # those 2 corners are (0, 3, 16) mm off
    assert evaluator.summary()["corners3d_mepe_mm"] == pytest.approx((5.0 + second) / 2, abs=1e-4)


def test_batches_without_corners_report_no_corner_metrics():
    evaluator = HandObjectEvaluator()
    evaluator.feed(*_batch_and_results())
    summary = evaluator.summary()
    assert "objverts3d_mepe_trans_mm" in summary
    assert not any(name.startswith("corners") for name in summary)
    assert not any(name.startswith("corners") for name in evaluator.records[0])


def test_sample_means_do_not_depend_on_batch_sizes():
    # Batches of 1 and 3 samples, object vertices 10 mm and 20 mm off: the mean over the 4 samples is 17.5 mm; a mean
    # of batch means (the original's meters) would give 15 mm (differences-from-upstream.md, D13).
    evaluator = HandObjectEvaluator()
    for size, offset_m in ((1, 0.010), (3, 0.020)):
        gt = torch.rand(size, 5, 3)
        batch = {K.IMAGE: torch.zeros(size, 3, 4, 4), K.OBJ_VERTS3D: gt}
        evaluator.feed(batch, {"recov_objverts3d": gt + torch.tensor([0.0, 0.0, offset_m])})
    assert evaluator.summary()["objverts3d_mepe_trans_mm"] == pytest.approx(17.5, abs=1e-4)
