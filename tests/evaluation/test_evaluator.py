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
    assert records[1]["objverts3d_mm"] == pytest.approx(10.0, abs=1e-4)
    arrays = np.load(npz_path)
    np.testing.assert_allclose(arrays["joints3d_mm"], [5.0, 5.0], atol=1e-4)
