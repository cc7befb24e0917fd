"""Per-keypoint distance accumulator with mean/median EPE, PCK curves and their AUC (Zimmermann's EvalUtil)."""

from typing import Dict, Optional

import numpy as np


def pck_curve(distances: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of distances (N,) <= each threshold (T,) -> (T,)."""
    if distances.size == 0:
        return np.full(len(thresholds), np.nan)
    return (distances[None, :] <= thresholds[:, None]).mean(axis=1)


def area_under_curve(pck: np.ndarray, thresholds: np.ndarray) -> float:
    """Normalised AUC: trapezoid integral of the PCK over [t_min, t_max] divided by (t_max - t_min)."""
    return float(np.trapezoid(pck, thresholds) / np.trapezoid(np.ones_like(thresholds), thresholds))


class KeypointErrorAccumulator:
    """Collects Euclidean distances per keypoint between predictions and ground truth.

    feed(gt (B, K, D), pred (B, K, D), visible (B, K) bool or None); distances are in the input units.
    """

    def __init__(self, num_kp: int):
        self.num_kp = num_kp
        self.distances = [[] for _ in range(num_kp)]

    def feed(self, gt, pred, visible: Optional[np.ndarray] = None) -> np.ndarray:
        """Store the distances of visible keypoints; returns the (B, K) distances (NaN where not visible)."""
        gt, pred = np.asarray(gt, dtype=np.float64), np.asarray(pred, dtype=np.float64)
        if gt.shape != pred.shape or gt.shape[1] > self.num_kp:
            raise ValueError(f"gt {gt.shape} and pred {pred.shape} must match, with at most {self.num_kp} keypoints")
        dist = np.linalg.norm(gt - pred, axis=-1)
        visible = np.ones(dist.shape, dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
        for kp in range(dist.shape[1]):
            self.distances[kp].extend(dist[visible[:, kp], kp].tolist())
        return np.where(visible, dist, np.nan)

    def get_measures(self, val_min: float, val_max: float, steps: int) -> Dict:
        """Metrics over keypoints that received data.

        Returns dict: epe_mean (mean over keypoints of the per-keypoint mean), epe_mean_joints (K,), epe_median
        (mean of per-keypoint medians), auc (mean of per-keypoint AUCs), pck_curve (T,) (mean over keypoints),
        thresholds (T,) = linspace(val_min, val_max, steps).
        """
        thresholds = np.linspace(val_min, val_max, steps)
        used = [np.asarray(d) for d in self.distances if len(d)]
        if not used:
            nan = float("nan")
            return {"epe_mean": nan, "epe_mean_joints": [], "epe_median": nan, "auc": nan,
                    "pck_curve": np.full(steps, np.nan), "thresholds": thresholds}
        means = np.array([d.mean() for d in used])
        curves = np.stack([pck_curve(d, thresholds) for d in used])
        return {
            "epe_mean": float(means.mean()),
            "epe_mean_joints": means.tolist(),
            "epe_median": float(np.mean([np.median(d) for d in used])),
            "auc": float(np.mean([area_under_curve(c, thresholds) for c in curves])),
            "pck_curve": curves.mean(axis=0),
            "thresholds": thresholds,
        }
