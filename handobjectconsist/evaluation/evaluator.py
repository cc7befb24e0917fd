"""Hand/object metrics, per batch and per sample.

Metric names follow the original with explicit units in saved/printed values (metres in code, mm and px in outputs).
2D errors are in pixels of the dataset's REFERENCE frame (FPHAB 480x270, HO3D-v2 640x480, as the original reports
them) whatever the input width: predictions go back through the inverse AFFINE to the stored frame, then both
prediction and ground truth are scaled by REPORT_SCALE (absent: the stored frame's pixels).
  joints3d        camera-space 3D joints (recov_joints3d vs JOINTS3D), PCK thresholds 0..0.5 m (20 steps)
  joints3d_cent   root-relative 3D joints (both centred on joint `center_idx`), PCK 0..0.2 m (20 steps)
  joints3d_procrustes  3D joints after the best similarity (scale, rotation, translation) onto the ground truth,
                  PCK 0..0.05 m (100 steps, HO3D's range)
  joints2d_base   2D joints in reference-frame pixels, PCK 0..100 px
  objverts3d_mepe_trans  mean 3D object-vertex distance (real vertices only, OBJ_VERTS_MASK), per sample then mean
  objverts2d_mepe        mean 2D object-vertex distance in reference-frame pixels (real vertices only)
  corners3d_mepe_mm      mean 3D distance of the 8 object bounding-box corners (recov_objcorners3d vs
                         OBJ_CORNERS3D, camera frame; HO3D only), per sample then mean
  corners2d_mepe_px      mean 2D corner distance in reference-frame pixels (obj_corners2d vs OBJ_CORNERS2D)
  hand_root_{lateral,depth}_mm   error of joint `center_idx` (camera frame) in the image plane (x, y) and along z
  obj_centroid_{lateral,depth}_mm  the same for the centroid of the object's real vertices
"""

import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.devices import to_host
from handobjectconsist.evaluation.pck import KeypointErrorAccumulator
from libyana.procrustes import procrustes_align
from libyana.transforms2d import apply_affine_2d

# name -> (PCK min, max, steps) in metres or pixels; and the factor to the reported unit.
PCK_RANGES = {"joints2d_base": (0.0, 100.0, 100), "joints3d_cent": (0.0, 0.2, 20), "joints3d": (0.0, 0.5, 20),
              "joints3d_procrustes": (0.0, 0.05, 100)}
REPORT_UNITS = {"joints2d_base": ("px", 1.0), "joints3d_cent": ("mm", 1000.0), "joints3d": ("mm", 1000.0),
                "joints3d_procrustes": ("mm", 1000.0)}
# Per-sample point errors averaged over samples: name -> factor to the unit in the name.
SAMPLE_MEANS = {"objverts3d_mepe_trans_mm": 1000.0, "objverts2d_mepe_px": 1.0, "hand_root_lateral_mm": 1000.0,
                "hand_root_depth_mm": 1000.0, "obj_centroid_lateral_mm": 1000.0, "obj_centroid_depth_mm": 1000.0,
                "corners3d_mepe_mm": 1000.0, "corners2d_mepe_px": 1.0}

# The batch entries and results feed() reads (copied to the host together).
BATCH_KEYS = (K.JOINTS3D, K.REPORT_SCALE, K.JOINTS2D, K.AFFINE, K.OBJ_VERTS_MASK, K.OBJ_VERTS3D, K.OBJ_VERTS2D,
              K.OBJ_CORNERS3D, K.OBJ_CORNERS2D, K.FRAME_IDX)
RESULT_KEYS = ("recov_joints3d", "joints2d", "recov_objverts3d", "obj_verts2d", "recov_objcorners3d",
               "obj_corners2d")


def masked_point_errors(pred: torch.Tensor, gt: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean Euclidean distance per sample over real points. pred, gt (B, N, D); mask (B, N) bool -> (B,)."""
    dist = (pred - gt).norm(dim=-1)
    if mask is None:
        return dist.mean(dim=1)
    weights = mask.to(dist.dtype)
    return (dist * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def to_original_pixels(points_input: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Map (B, N, 2) input-image pixels back to original pixels with the inverse of AFFINE (B, 3, 3)."""
    return apply_affine_2d(points_input, torch.linalg.inv(affine.double()).to(points_input.dtype))


def to_report_pixels(points: torch.Tensor, scale: Optional[torch.Tensor]) -> torch.Tensor:
    """(B, N, 2) stored-frame pixels -> reference-frame pixels; scale (B, 2) = REPORT_SCALE (None: unchanged).

    Pixel-centre convention of an area-preserving resize: u' = (u + 0.5) * s - 0.5 (distances scale by s)."""
    if scale is None:
        return points
    scale = scale.to(points.dtype)[:, None, :]
    return (points + 0.5) * scale - 0.5


def lateral_depth_errors(pred: torch.Tensor, gt: torch.Tensor):
    """Camera-frame point errors split: (B, 3) pred, gt -> (B,) image-plane distance (x, y) and (B,) |z| error."""
    diff = pred - gt
    return diff[:, :2].norm(dim=-1), diff[:, 2].abs()


def masked_centroid(points: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """(B, N, 3) points, (B, N) bool real-point mask or None -> (B, 3) mean of the real points."""
    if mask is None:
        return points.mean(dim=1)
    weights = mask.to(points.dtype)[..., None]
    return (points * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class HandObjectEvaluator:
    """Accumulates the metrics over batches; feed(batch, results) then summary() / dump_per_sample(path)."""

    def __init__(self, center_idx: int = 9):
        self.center_idx = center_idx
        self.accumulators = {name: KeypointErrorAccumulator(21) for name in PCK_RANGES}
        self.sample_errors: Dict[str, List[float]] = {name: [] for name in SAMPLE_MEANS}
        self.records: List[Dict] = []

    @torch.no_grad()
    def feed(self, batch: Dict, results: Dict) -> None:
        """batch: collated sample dict; results: MeshRegNet results (tensors on any device)."""
        c = self.center_idx
        # Every tensor used below comes to the host in one go (one device synchronisation per batch).
        batch = {**batch,
                 **to_host({key: batch[key] for key in BATCH_KEYS if isinstance(batch.get(key), torch.Tensor)})}
        results = to_host({key: results[key] for key in RESULT_KEYS if isinstance(results.get(key), torch.Tensor)})
        per_sample: Dict[str, np.ndarray] = {}
        if K.JOINTS3D in batch and "recov_joints3d" in results:
            gt = batch[K.JOINTS3D].detach().cpu().double()
            pred = results["recov_joints3d"].detach().cpu().double()
            d = self.accumulators["joints3d"].feed(gt.numpy(), pred.numpy())
            per_sample["joints3d_mm"] = 1000 * d.mean(axis=1)
            gt_c, pred_c = gt - gt[:, c : c + 1], pred - pred[:, c : c + 1]
            d = self.accumulators["joints3d_cent"].feed(gt_c.numpy(), pred_c.numpy())
            per_sample["joints3d_cent_mm"] = 1000 * d.mean(axis=1)
            aligned = procrustes_align(pred.numpy(), gt.numpy())
            d = self.accumulators["joints3d_procrustes"].feed(gt.numpy(), aligned)
            per_sample["joints3d_procrustes_mm"] = 1000 * d.mean(axis=1)
            lateral, depth = lateral_depth_errors(pred[:, c], gt[:, c])
            self._add_sample_errors(per_sample, hand_root_lateral_mm=lateral, hand_root_depth_mm=depth)
        scale = batch.get(K.REPORT_SCALE)
        scale = None if scale is None else scale.cpu().double()
        if K.JOINTS2D in batch and K.AFFINE in batch and "joints2d" in results:
            pred2d = to_original_pixels(results["joints2d"].detach().cpu().double(), batch[K.AFFINE].cpu())
            gt2d = to_report_pixels(batch[K.JOINTS2D].cpu().double(), scale)
            d = self.accumulators["joints2d_base"].feed(gt2d.numpy(), to_report_pixels(pred2d, scale).numpy())
            per_sample["joints2d_base_px"] = d.mean(axis=1)
        mask = batch.get(K.OBJ_VERTS_MASK)
        mask = None if mask is None else mask.cpu()
        if K.OBJ_VERTS3D in batch and "recov_objverts3d" in results:
            pred3d, gt3d = results["recov_objverts3d"].detach().cpu().double(), batch[K.OBJ_VERTS3D].cpu().double()
            lateral, depth = lateral_depth_errors(masked_centroid(pred3d, mask), masked_centroid(gt3d, mask))
            self._add_sample_errors(per_sample, objverts3d_mepe_trans_mm=masked_point_errors(pred3d, gt3d, mask),
                                    obj_centroid_lateral_mm=lateral, obj_centroid_depth_mm=depth)
        if K.OBJ_VERTS2D in batch and K.AFFINE in batch and "obj_verts2d" in results:
            pred2d = to_original_pixels(results["obj_verts2d"].detach().cpu().double(), batch[K.AFFINE].cpu())
            gt2d = to_report_pixels(batch[K.OBJ_VERTS2D].cpu().double(), scale)
            self._add_sample_errors(per_sample, objverts2d_mepe_px=masked_point_errors(
                to_report_pixels(pred2d, scale), gt2d, mask))
        if K.OBJ_CORNERS3D in batch and "recov_objcorners3d" in results:
            pred3d = results["recov_objcorners3d"].detach().cpu().double()
            self._add_sample_errors(per_sample, corners3d_mepe_mm=masked_point_errors(
                pred3d, batch[K.OBJ_CORNERS3D].cpu().double()))
        if K.OBJ_CORNERS2D in batch and K.AFFINE in batch and "obj_corners2d" in results:
            pred2d = to_original_pixels(results["obj_corners2d"].detach().cpu().double(), batch[K.AFFINE].cpu())
            gt2d = to_report_pixels(batch[K.OBJ_CORNERS2D].cpu().double(), scale)
            self._add_sample_errors(per_sample, corners2d_mepe_px=masked_point_errors(
                to_report_pixels(pred2d, scale), gt2d))
        batch_size = batch[K.IMAGE].shape[0]
        frame_idx = batch[K.FRAME_IDX] if K.FRAME_IDX in batch else None
        frame_idx = frame_idx.tolist() if isinstance(frame_idx, torch.Tensor) else frame_idx
        for b in range(batch_size):
            record = {
                "seq_name": batch[K.SEQ_NAME][b] if K.SEQ_NAME in batch else "",
                "frame_idx": int(frame_idx[b]) if frame_idx is not None else -1,
            }
            record.update({name: float(values[b]) for name, values in per_sample.items()})
            self.records.append(record)

    def _add_sample_errors(self, per_sample: Dict[str, np.ndarray], **errors: torch.Tensor) -> None:
        """Store (B,) errors in metres / pixels under SAMPLE_MEANS names; per-sample records get reported units."""
        for name, values in errors.items():
            values = values.numpy()
            self.sample_errors[name].extend(values.tolist())
            per_sample[name] = SAMPLE_MEANS[name] * values

    def detailed(self) -> Dict[str, Dict]:
        """{name: measures dict (see KeypointErrorAccumulator.get_measures)} for metrics that received data."""
        out = {}
        for name, acc in self.accumulators.items():
            measures = acc.get_measures(*PCK_RANGES[name])
            if not np.isnan(measures["epe_mean"]):
                out[name] = measures
        return out

    def summary(self) -> Dict[str, float]:
        """Flat metrics with units in the names, e.g. joints3d_epe_mean_mm, joints3d_auc, objverts3d_mepe_trans_mm."""
        out = {}
        for name, measures in self.detailed().items():
            unit, factor = REPORT_UNITS[name]
            out[f"{name}_epe_mean_{unit}"] = measures["epe_mean"] * factor
            out[f"{name}_epe_median_{unit}"] = measures["epe_median"] * factor
            out[f"{name}_auc"] = measures["auc"]
        for name, values in self.sample_errors.items():
            if values:
                out[name] = SAMPLE_MEANS[name] * float(np.mean(values))
        return out

    def dump_per_sample(self, path_stem) -> List[Path]:
        """Write per-sample errors to <stem>.json (list of records) and <stem>.npz (one array per column)."""
        path_stem = Path(path_stem)
        path_stem.parent.mkdir(parents=True, exist_ok=True)
        json_path, npz_path = path_stem.with_suffix(".json"), path_stem.with_suffix(".npz")
        json_path.write_text(json.dumps(self.records, indent=1))
        columns = sorted({key for record in self.records for key in record})
        arrays = {key: np.array([record.get(key, np.nan) for record in self.records]) for key in columns}
        np.savez(npz_path, **arrays)
        return [json_path, npz_path]
