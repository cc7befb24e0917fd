"""Fit MANO to FPHAB skeletons: GT hand meshes (the unobtainable upstream fhbhands_fits) and a skeleton regressor.

    python -m handobjectconsist.datasets.fit_fphab --data_root DIR --mano_root DIR [--out DIR] [--device cpu]
        [--batch_size 512] [--iters 600] [--shape_mode subject|frame] [--threads N] [--reference DIR]

For every annotated frame of the 10 object actions (FPHAB split "all"), MANO pose (48 axis-angle values,
flat-hand-mean), shape (10 betas) and translation (colour-camera metres) are fitted to the 21 skeleton joints:
  1. root rotation and translation from a Procrustes (Kabsch) fit of the wrist and the four finger MCPs of the
     template hand onto the skeleton;
  2. batched Adam (lr 0.1, cosine decay, 600 iterations) on [root, finger angles, shape, translation]
     minimising the squared joint distance (mm^2) plus small L2 priors on the finger angles and the shape (finger
     twist about the bone axis is not observable from joints; the pose prior keeps it near zero).
shape_mode "subject" (default): a first pass fits a shape per frame, the subject's shape is the per-coordinate
median over its frames, and a second pass refits pose and translation with that shape fixed (one hand size per
person). shape_mode "frame" keeps the per-frame shapes of the first pass.

Outputs (the layout the FPHAB reader expects):
  <out>/Subject_k/<action>/<seq>/pkls.pkl   dict "{frame:06d}.pkl" -> {"fullpose" (48,), "shape" (10,), "trans" (3,)}
  <out>/fhb_skel_regressor.npz              "regressor" (21, V) float32: FPHAB skeleton joints ~= regressor @ verts
                                            (least squares over the fitted meshes, rows sum to 1; finger-tip rows
                                            are one-hot on the MANO tip vertices), plus "joint_order" names.
  <out>/fit_report.json                     mean/max joint error of the fits (mm), frames, seconds.
<out> defaults to <data_root>/fhbhands_fits.
--reference DIR compares the fitted meshes with the meshes of reference fits in the same layout (e.g. the exact fits
shipped with the synthetic FPHAB set) and adds the vertex errors to the report.
"""

import argparse
import json
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from tqdm import tqdm

from handobjectconsist.entry import Parser, positive_int, run_main

PALM_JOINTS = (0, 5, 9, 13, 17)  # wrist and the index, middle, ring, pinky MCPs (project order)
TIP_JOINTS = (4, 8, 12, 16, 20)


def _kabsch(src: torch.Tensor, dst: torch.Tensor):
    """Rotation R (B, 3, 3) and translation t (B, 3) minimising |R src + t - dst| for (B, N, 3) point sets."""
    src_c, dst_c = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    cov = (dst - dst_c).transpose(1, 2) @ (src - src_c)
    u, _, vt = torch.linalg.svd(cov)
    det = torch.det(u @ vt)
    diag = torch.ones_like(cov[:, 0])
    diag[:, 2] = det.sign()
    rot = u @ torch.diag_embed(diag) @ vt
    return rot, (dst_c - src_c @ rot.transpose(1, 2))[:, 0]


def _matrix_to_axis_angle(rot: torch.Tensor) -> torch.Tensor:
    from scipy.spatial.transform import Rotation

    return torch.as_tensor(Rotation.from_matrix(rot.detach().cpu().double().numpy()).as_rotvec(),
                           dtype=torch.float32, device=rot.device)


def fit_batch(layer, targets: torch.Tensor, iters: int = 600, lr: float = 0.1, shape: Optional[torch.Tensor] = None,
              pose_prior: float = 1e-5, shape_prior: float = 1e-4):
    """Fit MANO to target joints.

    Args:
        layer: ManoLayer(use_pca=False, flat_hand_mean=True, center_idx=None).
        targets: (B, 21, 3) joints in metres, project order.
        iters: Adam iterations.
        shape: (B, 10) fixed betas, or None to fit them.
        pose_prior, shape_prior: weights (per mm^2 of joint error) of the L2 priors.
    Returns:
        dict fullpose (B, 48), shape (B, 10), trans (B, 3), joint_err (B,) mean joint error in metres.
    """
    device = targets.device
    batch = targets.shape[0]
    fixed_shape = shape is not None
    betas0 = shape.to(device) if fixed_shape else torch.zeros(batch, layer.num_betas, device=device)
    with torch.no_grad():
        _, rest_joints = layer(torch.zeros(batch, 48, device=device), betas0)
    palm = list(PALM_JOINTS)
    rot, t = _kabsch(rest_joints[:, palm], targets[:, palm])
    root0 = _matrix_to_axis_angle(rot)
    # MANO rotates about the rest wrist joint J0: R (x - J0) + J0 + trans = R x + t  =>  trans = t + R J0 - J0.
    wrist = rest_joints[:, 0]
    trans0 = t + (rot @ wrist[..., None])[..., 0] - wrist
    root = root0.clone().requires_grad_(True)
    fingers = torch.zeros(batch, 45, device=device, requires_grad=True)
    trans = trans0.clone().requires_grad_(True)
    betas = betas0.clone().requires_grad_(not fixed_shape)
    params = [root, fingers, trans] + ([] if fixed_shape else [betas])
    optimizer = torch.optim.Adam(params, lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(iters, 1), eta_min=lr * 0.02)
    for _ in range(iters):
        optimizer.zero_grad()
        _, joints = layer(torch.cat([root, fingers], 1), betas, trans)
        err = ((joints - targets) * 1000).pow(2).sum(-1).mean(-1)  # (B,) mm^2
        loss = err + pose_prior * fingers.pow(2).sum(-1) * 1e3
        if not fixed_shape:
            loss = loss + shape_prior * betas.pow(2).sum(-1) * 1e3
        loss.sum().backward()
        optimizer.step()
        scheduler.step()
    with torch.no_grad():
        _, joints = layer(torch.cat([root, fingers], 1), betas, trans)
        joint_err = (joints - targets).norm(dim=-1).mean(-1)
    return {"fullpose": torch.cat([root, fingers], 1).detach(), "shape": betas.detach(), "trans": trans.detach(),
            "joint_err": joint_err}


def fit_all(layer, targets: torch.Tensor, subjects, batch_size: int = 512, iters: int = 600,
            shape_mode: str = "subject", progress: bool = True) -> Dict[str, torch.Tensor]:
    """Fit every frame (targets (N, 21, 3) metres); subjects (N,) groups frames sharing a shape in mode 'subject'."""
    if shape_mode not in ("subject", "frame"):
        raise ValueError(f"shape_mode must be 'subject' or 'frame', got {shape_mode!r}")

    def run(fixed_shape, desc):
        outs = defaultdict(list)
        for start in tqdm(range(0, len(targets), batch_size), desc=desc, disable=not progress, unit="batch"):
            stop = start + batch_size
            res = fit_batch(layer, targets[start:stop], iters,
                            shape=None if fixed_shape is None else fixed_shape[start:stop])
            for key, value in res.items():
                outs[key].append(value)
        return {key: torch.cat(values) for key, values in outs.items()}

    result = run(None, "fit (per-frame shape)")
    if shape_mode == "subject":
        subjects = np.asarray(subjects)
        shared = result["shape"].clone()
        for subject in np.unique(subjects):
            rows = torch.as_tensor(np.flatnonzero(subjects == subject), device=shared.device)
            shared[rows] = result["shape"][rows].median(dim=0).values
        result = run(shared, "refit (subject shape)")
    return result


def skeleton_regressor(verts: np.ndarray, joints: np.ndarray, tip_vertex_ids, ridge: float = 1e-6) -> np.ndarray:
    """Least-squares (21, V) regressor with joints ~= regressor @ verts over the fitted frames.

    Args:
        verts: (N, V, 3) fitted meshes (metres). joints: (N, 21, 3) skeleton joints (metres), project order.
        tip_vertex_ids: MANO tip vertices (thumb, index, middle, ring, pinky); tip rows are one-hot on them.
    Each non-tip row solves min |sum_v w_v X_v - J|^2 + ridge |w|^2 subject to sum w = 1 (translation invariance).
    """
    num, num_verts, _ = verts.shape
    design = verts.transpose(0, 2, 1).reshape(num * 3, num_verts).astype(np.float64)  # rows = (frame, coord)
    gram = design.T @ design + ridge * np.eye(num_verts)
    ones = np.ones(num_verts)
    regressor = np.zeros((21, num_verts))
    for joint in range(21):
        if joint in TIP_JOINTS:
            regressor[joint, tip_vertex_ids[TIP_JOINTS.index(joint)]] = 1.0
            continue
        rhs = design.T @ joints[:, joint, :].reshape(num * 3)
        # KKT system for the equality constraint sum(w) = 1.
        kkt = np.block([[gram, ones[:, None]], [ones[None, :], np.zeros((1, 1))]])
        solution = np.linalg.solve(kkt, np.concatenate([rhs, [1.0]]))
        regressor[joint] = solution[:num_verts]
    return regressor.astype(np.float32)


def main(argv=None) -> int:
    """Exit status 0; 1 with one "error: ..." line for a user mistake; 130 / 143 for SIGINT / SIGTERM."""
    return run_main(run, argv)


def run(argv=None) -> int:
    """Parse the flags, fit every frame, write the fits, the regressor and fit_report.json."""
    from handobjectconsist.datasets.fphab import FPHAB, camera_joints_m
    from handobjectconsist.mano import JOINT_NAMES, ManoLayer

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", required=True, help="FPHAB folder")
    parser.add_argument("--mano_root", required=True, help="folder with MANO_RIGHT.pkl")
    parser.add_argument("--out", default=None, help="output folder (default <data_root>/fhbhands_fits)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:k]")
    parser.add_argument("--batch_size", type=positive_int, default=512, help="frames optimised together")
    parser.add_argument("--iters", type=positive_int, default=600, help="Adam iterations per pass")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--shape_mode", default="subject", choices=("subject", "frame"))
    parser.add_argument("--max_frames", type=positive_int, default=None,
                        help="fit only the first N frames (quick checks)")
    parser.add_argument("--reference", default=None, help="fits folder to compare the fitted meshes with")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    out = Path(args.out) if args.out else Path(args.data_root) / "fhbhands_fits"

    data = FPHAB(args.data_root, split="all", skip_missing=True)
    count = len(data) if args.max_frames is None else min(args.max_frames, len(data))
    targets = torch.as_tensor(camera_joints_m(data.skeletons_world_mm[:count]), dtype=torch.float32, device=device)
    subjects = [name.split("/")[0] for name in data.seq_names[:count]]
    layer = ManoLayer(args.mano_root, use_pca=False, flat_hand_mean=True, center_idx=None).to(device)
    start = time.perf_counter()
    result = fit_all(layer, targets, subjects, args.batch_size, args.iters, args.shape_mode)
    seconds = time.perf_counter() - start

    per_seq: Dict[str, dict] = defaultdict(dict)
    for i in range(count):
        per_seq[data.seq_names[i]][f"{int(data.frame_ids[i]):06d}.pkl"] = {
            key: result[key][i].cpu().numpy().astype(np.float32) for key in ("fullpose", "shape", "trans")}
    for seq, entries in per_seq.items():
        folder = out / seq
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "pkls.pkl.tmp"
        with open(tmp, "wb") as handle:
            pickle.dump(entries, handle)
        tmp.replace(folder / "pkls.pkl")
    with torch.no_grad():
        verts = torch.cat([layer(result["fullpose"][s:s + 512], result["shape"][s:s + 512],
                                 result["trans"][s:s + 512])[0].cpu() for s in range(0, count, 512)])
    regressor = skeleton_regressor(verts.numpy(), targets.cpu().numpy(), layer.tip_vertex_ids)
    np.savez(out / "fhb_skel_regressor.npz", regressor=regressor, joint_order=np.array(JOINT_NAMES))
    errors_mm = result["joint_err"].cpu().numpy() * 1000
    report = {"frames": count, "seconds": seconds, "seconds_per_1000_frames": 1000 * seconds / max(count, 1),
              "joint_err_mean_mm": float(errors_mm.mean()), "joint_err_max_mm": float(errors_mm.max()),
              "device": str(device), "iters": args.iters, "shape_mode": args.shape_mode}
    if args.reference:
        ref_verts = []
        for i in range(count):
            with open(Path(args.reference) / data.seq_names[i] / "pkls.pkl", "rb") as handle:
                entry = pickle.load(handle)[f"{int(data.frame_ids[i]):06d}.pkl"]
            params = [torch.as_tensor(np.asarray(entry[k], dtype=np.float32).reshape(1, -1), device=device)
                      for k in ("fullpose", "shape", "trans")]
            with torch.no_grad():
                ref_verts.append(layer(*params)[0].cpu())
        vert_err = (torch.cat(ref_verts) - verts).norm(dim=-1).mean(-1).numpy() * 1000
        report.update({"vert_err_mean_mm": float(vert_err.mean()), "vert_err_max_mm": float(vert_err.max()),
                       "reference": str(args.reference)})
    (out / "fit_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"wrote {len(per_seq)} sequences of fits and the skeleton regressor under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
