import pytest
import torch

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.evaluation.baselines import MeanPoseBaseline
from handobjectconsist.evaluation.evaluator import HandObjectEvaluator


def _batch(offsets, names):
    B = len(offsets)
    joints = torch.zeros(B, 21, 3) + torch.tensor([0.0, 0.0, 0.5])
    joints[:, :, 0] += torch.tensor(offsets).view(B, 1)
    objs = torch.zeros(B, 4, 3) + torch.tensor([0.0, 0.0, 0.6])
    objs[:, :, 1] += torch.tensor(offsets).view(B, 1)
    K = torch.tensor([[100.0, 0, 32], [0, 100.0, 18], [0, 0, 1]]).expand(B, 3, 3)
    return {SK.IMAGE: torch.zeros(B, 3, 4, 4), SK.JOINTS3D: joints, SK.OBJ_VERTS3D: objs, SK.OBJ_NAME: names,
            SK.OBJ_VERTS_MASK: torch.ones(B, 4, dtype=torch.bool), SK.CAM_INTR: K}


def test_mean_pose_error_is_half_the_spread():
    # Training poses at x = -0.01 and +0.01 m: the mean is 0, so each of them is 10 mm away from it.
    train = _batch([-0.01, 0.01], ["a", "a"])
    baseline = MeanPoseBaseline().fit([train])
    evaluator = HandObjectEvaluator()
    evaluator.feed(train, baseline.predict(train))
    summary = evaluator.summary()
    assert summary["joints3d_epe_mean_mm"] == pytest.approx(10.0, abs=1e-4)
    assert summary["joints3d_cent_epe_mean_mm"] == pytest.approx(0.0, abs=1e-4)
    assert summary["objverts3d_mepe_trans_mm"] == pytest.approx(10.0, abs=1e-4)
