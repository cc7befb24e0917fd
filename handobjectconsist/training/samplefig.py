"""Figure of a few samples of a batch: predicted vs GT joints and object vertices (matplotlib, written to a file;
the command lines select the Agg backend in handobjectconsist.entry.run_main)."""

from pathlib import Path
from typing import Dict

import matplotlib.pyplot as plt
import numpy as np

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.mano.joints import SKELETON_LINKS
from libyana.boxes import box_edge_segments
from libyana.camutils import project_points
from libyana.transforms2d import apply_affine_2d


def _draw_hand(ax, joints2d: np.ndarray, color: str, label: str) -> None:
    for parent, child in SKELETON_LINKS:
        ax.plot(joints2d[[parent, child], 0], joints2d[[parent, child], 1], color=color, linewidth=1)
    ax.scatter(joints2d[:, 0], joints2d[:, 1], s=4, c=color, label=label)


def _draw_box(ax, corners2d: np.ndarray, color: str, label: str) -> None:
    """The 12 edges of an object's bounding box from its 8 projected corners (8, 2) in pixels."""
    for k, segment in enumerate(box_edge_segments(corners2d)):
        ax.plot(segment[:, 0], segment[:, 1], color=color, linewidth=1, label=label if k == 0 else None)


def save_sample_figure(batch: Dict, results: Dict, path, max_rows: int = 4) -> Path:
    """Rows: up to `max_rows` samples. Columns: input image with GT (green/blue) and predicted (red/orange) joints
    and object vertices in input pixels, plus the object's bounding box (12 edges) where the batch has corners
    (OBJ_CORNERS2D, HO3D) and the results have obj_corners2d; camera-space x-y view; y-z view (metres). Returns the
    written path."""
    images = batch[SK.IMAGE].detach().cpu()
    rows = min(max_rows, images.shape[0])
    K = batch[SK.CAM_INTR].detach().cpu().float()
    fig, axes = plt.subplots(rows, 3, figsize=(12, 3 * rows), squeeze=False)
    for row in range(rows):
        image = (images[row].permute(1, 2, 0).float().numpy() + 0.5).clip(0, 1)
        ax = axes[row, 0]
        ax.imshow(image)
        if SK.JOINTS2D in batch and SK.AFFINE in batch:
            gt2d = apply_affine_2d(batch[SK.JOINTS2D][row : row + 1].cpu().float(),
                                   batch[SK.AFFINE][row : row + 1].cpu())
            _draw_hand(ax, gt2d[0].numpy(), "limegreen", "GT joints")
        if "joints2d" in results:
            _draw_hand(ax, results["joints2d"][row].detach().cpu().float().numpy(), "red", "pred joints")
        mask = batch.get(SK.OBJ_VERTS_MASK)
        keep = slice(None) if mask is None else mask[row].cpu().numpy().astype(bool)
        if SK.OBJ_VERTS3D in batch:
            gt_obj = project_points(batch[SK.OBJ_VERTS3D][row : row + 1].cpu().float(), K[row : row + 1])[0]
            ax.scatter(*gt_obj.numpy()[keep].T, s=2, c="blue", label="GT object")
        if "obj_verts2d" in results:
            ax.scatter(*results["obj_verts2d"][row].detach().cpu().float().numpy()[keep].T, s=2, c="orange",
                       label="pred object")
        if SK.OBJ_CORNERS2D in batch and SK.AFFINE in batch:
            gt_corners = apply_affine_2d(batch[SK.OBJ_CORNERS2D][row : row + 1].cpu().float(),
                                         batch[SK.AFFINE][row : row + 1].cpu())
            _draw_box(ax, gt_corners[0].numpy(), "blue", "GT box")
        if "obj_corners2d" in results:
            _draw_box(ax, results["obj_corners2d"][row].detach().cpu().float().numpy(), "orange", "pred box")
        ax.set_xlim(0, image.shape[1] - 1)
        ax.set_ylim(image.shape[0] - 1, 0)
        ax.axis("off")
        for col, (i, j, names) in enumerate(((0, 1, "x-y"), (2, 1, "z-y")), start=1):
            ax3 = axes[row, col]
            for key, res_key, color_gt, color_pred in ((SK.JOINTS3D, "recov_joints3d", "limegreen", "red"),
                                                         (SK.OBJ_VERTS3D, "recov_objverts3d", "blue", "orange")):
                sel = keep if key == SK.OBJ_VERTS3D else slice(None)
                if key in batch:
                    pts = batch[key][row].detach().cpu().float().numpy()[sel]
                    ax3.scatter(pts[:, i], pts[:, j], s=2, c=color_gt)
                if res_key in results:
                    pts = results[res_key][row].detach().cpu().float().numpy()[sel]
                    ax3.scatter(pts[:, i], pts[:, j], s=2, c=color_pred)
            ax3.invert_yaxis()
            ax3.set_aspect("equal", adjustable="datalim")
            ax3.set_title(f"camera {names} (m)", fontsize=8)
            ax3.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    fig.subplots_adjust(left=0.03, right=0.98, top=0.95, bottom=0.05, wspace=0.25, hspace=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_pck_figure(detailed: Dict[str, Dict], path, title: str = "") -> Path:
    """One PCK-curve subplot per metric (evaluator.detailed()), titled with mean EPE and AUC."""
    names = sorted(detailed)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        measures = detailed[name]
        ax.plot(measures["thresholds"], measures["pck_curve"])
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}\nepe {measures['epe_mean']:.4g} auc {measures['auc']:.3f}", fontsize=8)
        ax.set_xlabel("threshold (m)" if "3d" in name else "threshold (px)")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(top=0.78, bottom=0.18, wspace=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
