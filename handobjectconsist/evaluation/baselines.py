"""Mean-pose baseline: always predict the mean training hand joints and, per object model, the mean training
object vertices (camera frame). A trained model must beat it by far; used for the learning check. Command line:
python -m handobjectconsist.training.mean_pose_baseline (it builds the datasets from trainmeshreg's flags).
"""

from typing import Dict, Iterable

import torch

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.evaluation.evaluator import HandObjectEvaluator
from libyana.camutils import project_points


class MeanPoseBaseline:
    """fit(batches) accumulates means; predict(batch) -> a MeshRegNet-like results dict."""

    def __init__(self, center_idx: int = 9):
        self.center_idx = center_idx
        self.joint_sum = None
        self.count = 0
        self.obj_sums: Dict[str, torch.Tensor] = {}
        self.obj_counts: Dict[str, int] = {}

    def fit(self, batches: Iterable[Dict]) -> "MeanPoseBaseline":
        for batch in batches:
            joints = batch[K.JOINTS3D].double()
            self.joint_sum = joints.sum(0) if self.joint_sum is None else self.joint_sum + joints.sum(0)
            self.count += joints.shape[0]
            if K.OBJ_VERTS3D in batch:
                mask = batch.get(K.OBJ_VERTS_MASK)
                for b, name in enumerate(batch[K.OBJ_NAME]):
                    verts = batch[K.OBJ_VERTS3D][b].double()
                    if mask is not None:
                        verts = verts[mask[b]]
                    self.obj_sums[name] = self.obj_sums.get(name, 0) + verts
                    self.obj_counts[name] = self.obj_counts.get(name, 0) + 1
        return self

    def predict(self, batch: Dict) -> Dict[str, torch.Tensor]:
        batch_size = batch[K.IMAGE].shape[0]
        mean_joints = (self.joint_sum / self.count).float()
        joints = mean_joints.unsqueeze(0).expand(batch_size, -1, -1)
        results = {
            "recov_joints3d": joints,
            "joints3d": joints - joints[:, self.center_idx : self.center_idx + 1],
            "joints2d": project_points(joints, batch[K.CAM_INTR]),
        }
        if K.OBJ_VERTS3D in batch:
            objs = torch.zeros_like(batch[K.OBJ_VERTS3D])
            for b, name in enumerate(batch[K.OBJ_NAME]):
                mean = (self.obj_sums[name] / self.obj_counts[name]).float()
                objs[b, : mean.shape[0]] = mean
            results["recov_objverts3d"] = objs
            results["obj_verts2d"] = project_points(objs, batch[K.CAM_INTR])
        return results


def evaluate_baseline(train_loader, val_loader, center_idx: int = 9) -> Dict[str, float]:
    baseline = MeanPoseBaseline(center_idx).fit(train_loader)
    evaluator = HandObjectEvaluator(center_idx)
    for batch in val_loader:
        evaluator.feed(batch, baseline.predict(batch))
    return evaluator.summary()
