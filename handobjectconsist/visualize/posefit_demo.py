"""The demo's consistency stage (make demo): the photometric loss alone pulls a displaced hand and object back to
the truth.

On unannotated training frames of the synthetic FPHAB-layout set (query), paired as in trainmeshwarp.py with the
nearest annotated frame (reference, --fraction of the demo), the query's TRUE hand and object meshes are moved by
known rigid offsets (KNOWN_OFFSETS) and then only their rotation and translation are optimised by the photometric
loss against the reference frame (consistency.posefit). The truth of the query is used only to measure the errors
before and after; the GIF of the first pair shows every step (visualize.posefit_gif).

This isolates the mechanism the consistency fine-tuning relies on (the loss's gradient points back to the true
pose); it does not show that fine-tuning a network with it helps, which the demo's table and the experiment address.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from PIL import Image

from handobjectconsist.consistency.posefit import fit_rigid_motions, move_rigidly
from handobjectconsist.datasets import FPHAB, HandObjectDataset
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.locate import dataset_folder
from handobjectconsist.mano import ManoLayer
from handobjectconsist.visualize.posefit_gif import posefit_frames, write_gif
from libyana.camutils import project_points

# part -> (rotation about its vertex mean in degrees, translation in mm), camera axes (x right, y down, z forward).
KNOWN_OFFSETS = {"hand": ((0.0, 0.0, 12.0), (15.0, -10.0, 10.0)), "object": ((10.0, -12.0, 0.0), (-12.0, 10.0, 10.0))}
ERROR_COLUMNS = (  # (key, title)
    ("hand_mm", "hand verts (mm)"), ("object_mm", "object verts (mm)"),
    ("hand_depth_mm", "hand depth (mm)"), ("object_depth_mm", "object depth (mm)"),
    ("hand_px", "hand 2D (px, 480x270)"), ("object_px", "object 2D (px, 480x270)"),
)


@dataclass
class PosefitConfig:
    """Sizes of the stage: frame width of the fit, annotated fraction (pairing), pairs, optimiser steps and lr
    (degrees / mm per step), and which steps become GIF frames."""

    width: int = 240
    fraction: float = 0.1
    pairs: int = 6
    steps: int = 100
    lr: float = 1.0
    gif_every: int = 2  # GIF frames: every gif_every-th step (and the last)


def pick_items(dataset: HandObjectDataset, count: int) -> List[int]:
    """count item indices evenly spread over the consist items (the first, the last and between)."""
    count = max(1, min(count, len(dataset)))
    return sorted({int(round(i)) for i in np.linspace(0, len(dataset) - 1, count)})


def pose_errors(hand: torch.Tensor, obj: torch.Tensor, hand_gt: torch.Tensor, obj_gt: torch.Tensor,
                K_frame: torch.Tensor, report_scale: torch.Tensor) -> Dict[str, float]:
    """Errors of a hand (Vh, 3) and object (No, 3) against the truth (camera frame, metres; K_frame (3, 3) of the
    frame; report_scale (2,) frame pixels -> reference-frame pixels): mean vertex distance (mm), depth error of the
    vertex mean (|dz|, mm), mean 2D vertex distance in reference-frame pixels."""
    out = {}
    for name, pred, gt in (("hand", hand, hand_gt), ("object", obj, obj_gt)):
        out[f"{name}_mm"] = float((pred - gt).norm(dim=-1).mean()) * 1000
        out[f"{name}_depth_mm"] = float((pred.mean(0)[2] - gt.mean(0)[2]).abs()) * 1000
        uv = project_points(torch.stack([pred, gt]).double(), K_frame.double()[None].expand(2, 3, 3))
        out[f"{name}_px"] = float(((uv[0] - uv[1]) * report_scale.double()).norm(dim=-1).mean())
    return out


def _offsets(device, dtype):
    return {part: (torch.deg2rad(torch.tensor(rot, device=device, dtype=dtype)),
                   torch.tensor(trans, device=device, dtype=dtype) / 1000.0)
            for part, (rot, trans) in KNOWN_OFFSETS.items()}


def run_posefit(data_root, mano_root, out_dir, cfg: PosefitConfig, device) -> Dict:
    """Fit cfg.pairs consist pairs of the train split; write out_dir/posefit.gif (first pair), posefit_start.png,
    posefit_end.png, posefit.md (table) and return {"gif", "start_png", "end_png", "table", "rows", "median"}."""
    out_dir = Path(out_dir)
    root = dataset_folder(data_root, "fhbhands")
    reader = FPHAB(root, split="train", fraction=cfg.fraction, input_width=cfg.width, mano_root=mano_root)
    dataset = HandObjectDataset(reader, mode="weak", sample_nb=2, augment=False)
    layer = ManoLayer(mano_root).to(device)
    hand_faces, wrist_ids = layer.closed_faces.to(device), layer.wrist_face_ids.to(device)
    offsets = _offsets(device, torch.float32)
    rows, gif_parts = [], None
    for number, item in enumerate(pick_items(dataset, cfg.pairs)):
        query, ref = dataset[item]
        get = lambda frame, key: frame[key].to(device=device, dtype=torch.float32)  # noqa: E731
        hand_gt, obj_gt = get(query, K.HAND_VERTS3D), get(query, K.OBJ_VERTS3D)
        hand_start = move_rigidly(hand_gt, *offsets["hand"])
        obj_start = move_rigidly(obj_gt, *offsets["object"])
        obj_faces = query[K.OBJ_FACES].to(device)
        states = fit_rigid_motions(
            get(query, K.IMAGE), get(ref, K.IMAGE), get(query, K.CAM_INTR), get(ref, K.CAM_INTR), hand_start,
            obj_start, get(ref, K.HAND_VERTS3D), get(ref, K.OBJ_VERTS3D), hand_faces, obj_faces, wrist_ids,
            steps=cfg.steps, lr=cfg.lr)
        errors = [pose_errors(s.hand_verts, s.obj_verts, hand_gt, obj_gt, get(query, K.CAM_INTR_ORIG),
                              get(query, K.REPORT_SCALE)) for s in states]
        rows.append({"sequence": query[K.SEQ_NAME], "query_frame": int(query[K.FRAME_IDX]),
                     "reference_frame": int(ref[K.FRAME_IDX]), "distance": int(ref[K.DIST2QUERY]),
                     "loss_start": states[0].loss, "loss_end": states[-1].loss,
                     "start": errors[0], "end": errors[-1]})
        print(f"pair {number + 1}: {query[K.SEQ_NAME]} frame {int(query[K.FRAME_IDX])} <- annotated frame "
              f"{int(ref[K.FRAME_IDX])}: hand {errors[0]['hand_mm']:.1f} -> {errors[-1]['hand_mm']:.1f} mm, object "
              f"{errors[0]['object_mm']:.1f} -> {errors[-1]['object_mm']:.1f} mm", flush=True)
        if gif_parts is None:
            curves = {"photometric loss": [s.loss for s in states],
                      "hand verts (mm)": [e["hand_mm"] for e in errors],
                      "object verts (mm)": [e["object_mm"] for e in errors]}
            labels = (f"frame {int(ref[K.FRAME_IDX])} (annotated)", f"frame {int(query[K.FRAME_IDX])} (unannotated)")
            shown = states[::cfg.gif_every] + ([] if cfg.steps % cfg.gif_every == 0 else states[-1:])
            gif_parts = (shown, get(query, K.IMAGE), get(ref, K.IMAGE), get(query, K.CAM_INTR),
                         get(ref, K.CAM_INTR), hand_faces, obj_faces, get(ref, K.HAND_VERTS3D),
                         get(ref, K.OBJ_VERTS3D), hand_gt, obj_gt, curves, labels)
    frames = posefit_frames(*gif_parts)
    gif = write_gif(frames, out_dir / "posefit.gif")
    start_png, end_png = out_dir / "posefit_start.png", out_dir / "posefit_end.png"
    Image.fromarray(frames[0]).save(start_png)
    Image.fromarray(frames[-1]).save(end_png)
    median = {when: {key: float(np.median([row[when][key] for row in rows])) for key, _ in ERROR_COLUMNS}
              for when in ("start", "end")}
    table = format_posefit_table(rows, median, cfg)
    (out_dir / "posefit.md").write_text(table)
    return {"gif": str(gif), "start_png": str(start_png), "end_png": str(end_png), "table": table, "rows": rows,
            "median": median}


def format_posefit_table(rows: List[Dict], median: Dict, cfg: PosefitConfig) -> str:
    """Markdown: the known offsets, the median errors at the start and after the fit over the pairs, then each
    pair's hand and object vertex errors."""
    offsets = "; ".join(f"{part}: rotation {rot} deg, translation {trans} mm"
                        for part, (rot, trans) in KNOWN_OFFSETS.items())
    lines = [f"Photometric pose fit on {len(rows)} unannotated training frames (each paired with its nearest annotated "
             f"frame, fraction {cfg.fraction:g}), {cfg.steps} Adam steps on the rotation and translation of the hand "
             f"and of the object only, frames {cfg.width} px wide. Start: the truth moved by {offsets}. Median over "
             f"the pairs:", "",
             "| | " + " | ".join(title for _, title in ERROR_COLUMNS) + " |", "|---|" + "---|" * len(ERROR_COLUMNS)]
    for when, label in (("start", "start (known offsets)"), ("end", f"after {cfg.steps} steps")):
        lines.append(f"| {label} | " + " | ".join(f"{median[when][key]:.1f}" for key, _ in ERROR_COLUMNS) + " |")
    lines += ["", "Each pair (vertex errors in mm, start -> after the fit):", "",
              "| sequence | frame <- annotated frame | hand | object | loss |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['sequence']} | {row['query_frame']} <- {row['reference_frame']} | "
                     f"{row['start']['hand_mm']:.1f} -> {row['end']['hand_mm']:.1f} | "
                     f"{row['start']['object_mm']:.1f} -> {row['end']['object_mm']:.1f} | "
                     f"{row['loss_start']:.4f} -> {row['loss_end']:.4f} |")
    return "\n".join(lines) + "\n"
