"""Re-read a written synthetic dataset with a minimal parser (not the datasets package), re-render hand and object
from the annotations alone, and compare with the stored frames.

Geometry comes only from the annotation files (MANO fits / HO3D metas, object poses, object models); the colours
(light, background, skin, labels) come from hoc_synth.json. A wrong pose, order or convention moves the re-render
off the stored pixels and shows up as a large mismatch; JPEG compression alone gives a small one.
"""

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from handobjectconsist.synth import pipeline
from libyana.camutils import project_points_np


def read_ply(path: Path) -> tuple:
    """(verts (V, 3), faces (F, 3)) of an ASCII PLY with triangle faces."""
    lines = Path(path).read_text().splitlines()
    n_v = int(next(line for line in lines if line.startswith("element vertex")).split()[-1])
    n_f = int(next(line for line in lines if line.startswith("element face")).split()[-1])
    start = lines.index("end_header") + 1
    verts = np.array([[float(x) for x in line.split()[:3]] for line in lines[start : start + n_v]])
    faces = np.array([[int(x) for x in line.split()[1:4]] for line in lines[start + n_v : start + n_v + n_f]])
    return verts, faces


def read_obj(path: Path) -> tuple:
    """(verts (V, 3), faces (F, 3) 0-based) of a triangle OBJ."""
    verts, faces = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.array(verts), np.array(faces)


def read_numbers(path: Path) -> np.ndarray:
    """(rows, cols) float array of a whitespace-separated text file."""
    return np.array([[float(x) for x in line.split()] for line in Path(path).read_text().splitlines() if line.strip()])


def _compare(rendered: dict, stored: np.ndarray, joints_uv: np.ndarray) -> dict:
    covered = rendered["hand_mask"] | rendered["obj_mask"]
    diff = np.abs(rendered["rgb"].astype(np.float64) - stored.astype(np.float64)).mean(-1)
    h, w = covered.shape
    uv = np.rint(joints_uv).astype(int)
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    u, v = uv[:, 0].clip(0, w - 1), uv[:, 1].clip(0, h - 1)
    return {"mad_covered": float(diff[covered].mean()) if covered.any() else 0.0, "mad_all": float(diff.mean()),
            "covered_px": int(covered.sum()), "joints_on_hand": float((ok & rendered["hand_mask"][v, u]).mean()),
            "joints_on_hand_or_object": float((ok & covered[v, u]).mean())}


def verify_fphab(root, mano_root, max_frames: int = 4) -> dict:
    """Re-render the first `max_frames` frames of every sequence of an FPHAB-layout dataset; mean mismatch.

    Returns {"mad_covered": mean |re-render - stored| (0-255) over hand/object pixels, "mad_all": over all
    pixels, "joints_on_hand", "joints_on_hand_or_object": fraction of skeleton joints landing there,
    "skeleton_vs_fit_mm": max distance between skeleton.txt joints and the MANO-fit joints, "frames": n}.
    """
    from handobjectconsist.datasets import fphab_camera as cam
    from handobjectconsist.synth.fphab import FILE_TO_PROJECT, REDUCED_SIZE
    from handobjectconsist.synth.objects import make_object

    root = Path(root)
    meta = json.loads((root / "hoc_synth.json").read_text())
    layer, _ = pipeline.hand_model(mano_root)
    extr = np.eye(4)
    extr[:3, :3], extr[:3, 3] = cam.EXTRINSIC_R, cam.EXTRINSIC_T_MM
    K = cam.intrinsics_for_width(480)
    records, skel_err = [], []
    for rel, appearance in sorted(meta["appearance"].items()):
        action = rel.split("/")[1]
        obj_name = action.split("_", 1)[1]
        obj_name = "juice" if obj_name == "juice_bottle" else obj_name
        verts, faces = read_ply(root / "Object_models" / f"{obj_name}_model" / f"{obj_name}_model.ply")
        with open(root / "fhbhands_fits" / rel / "pkls.pkl", "rb") as handle:
            fits = pickle.load(handle)
        skel = read_numbers(root / "Hand_pose_annotation_v1" / rel / "skeleton.txt")
        poses = read_numbers(root / "Object_6D_pose_annotation_v1_1" / rel / "object_pose.txt")
        n = min(max_frames, len(skel))
        keys = [f"{t:06d}.pkl" for t in range(n)]
        fullpose = np.stack([fits[k]["fullpose"] for k in keys])
        trans = np.stack([fits[k]["trans"] for k in keys])
        hand_verts, hand_joints = pipeline.hand_mesh(layer, fullpose, fits[keys[0]]["shape"], trans)
        obj = make_object(obj_name)
        obj.verts, obj.faces = verts, faces
        obj_cam = []
        for t in range(n):
            pose = poses[t, 1:].reshape(4, 4).T
            world = np.c_[verts * 1000.0, np.ones(len(verts))] @ pose.T
            obj_cam.append((world @ extr.T)[:, :3] / 1000.0)
            joints_world = skel[t, 1:].reshape(21, 3)[list(FILE_TO_PROJECT)]
            joints_cam = (np.c_[joints_world, np.ones(21)] @ extr.T)[:, :3] / 1000.0
            skel_err.append(np.abs(joints_cam - hand_joints[t].double().numpy()).max() * 1000.0)
        renderer = pipeline.make_renderer(layer, fits[keys[0]]["shape"], obj, K, REDUCED_SIZE, appearance,
                                          meta["config"]["supersample"])
        obj_cam = torch.as_tensor(np.stack(obj_cam), dtype=torch.float32)
        for t, frame in pipeline.render_frames(renderer, hand_verts, obj_cam):
            stored = np.asarray(Image.open(root / "Video_files_480" / rel / "color" / f"color_{t:04d}.jpeg"))
            joints_world = skel[t, 1:].reshape(21, 3)[list(FILE_TO_PROJECT)]
            joints_cam = (np.c_[joints_world, np.ones(21)] @ extr.T)[:, :3] / 1000.0
            records.append(_compare(frame, stored, project_points_np(joints_cam, K)))
    out = {k: float(np.mean([r[k] for r in records])) for k in records[0] if k != "covered_px"}
    out.update({"skeleton_vs_fit_mm": float(max(skel_err)), "frames": len(records)})
    return out


def verify_ho3d(root, mano_root, max_frames: int = 4) -> dict:
    """Same as verify_fphab for an HO3D-layout dataset (train split: full hand annotations are checked)."""
    from handobjectconsist.synth.ho3d import IMAGE_SIZE
    from handobjectconsist.synth.objects import make_object

    root = Path(root)
    meta = json.loads((root / "hoc_synth.json").read_text())
    layer, _ = pipeline.hand_model(mano_root)
    flip = np.diag([1.0, -1.0, -1.0])
    reorder = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)  # HO3D -> project
    records, joint_err = [], []
    for rel, appearance in sorted(meta["appearance"].items()):
        split, name = rel.split("/")
        if split != "train":
            continue
        metas = []
        for t in range(max_frames):
            path = root / rel / "meta" / f"{t:04d}.pkl"
            if not path.exists():
                break
            with open(path, "rb") as handle:
                metas.append(pickle.load(handle))
        verts, faces = read_obj(root / "modelsprocess" / metas[0]["objName"] / "textured_simple_2000.obj")
        obj = make_object(metas[0]["objName"])
        obj.verts, obj.faces = verts, faces
        pose = np.stack([m["handPose"] for m in metas])
        trans = np.stack([m["handTrans"] for m in metas])
        hv_gl, hj_gl = pipeline.hand_mesh(layer, pose, metas[0]["handBeta"], trans)
        hand_verts = hv_gl @ torch.as_tensor(flip, dtype=torch.float32)
        obj_cam = []
        for t, m in enumerate(metas):
            rot = _rodrigues(np.asarray(m["objRot"], dtype=np.float64).reshape(3))
            obj_cam.append((verts @ rot.T + np.asarray(m["objTrans"], dtype=np.float64).reshape(3)) @ flip)
            joint_err.append(np.abs(m["handJoints3D"][list(reorder)] - hj_gl[t].double().numpy()).max() * 1000.0)
        K = np.asarray(metas[0]["camMat"])
        renderer = pipeline.make_renderer(layer, metas[0]["handBeta"], obj, K, IMAGE_SIZE, appearance,
                                          meta["config"]["supersample"])
        obj_cam = torch.as_tensor(np.stack(obj_cam), dtype=torch.float32)
        for t, frame in pipeline.render_frames(renderer, hand_verts, obj_cam):
            stored = np.asarray(Image.open(root / rel / "rgb" / f"{t:04d}.png"))
            joints_cv = metas[t]["handJoints3D"][list(reorder)].astype(np.float64) @ flip
            records.append(_compare(frame, stored, project_points_np(joints_cv, K)))
    out = {k: float(np.mean([r[k] for r in records])) for k in records[0] if k != "covered_px"}
    out.update({"joints_vs_mano_mm": float(max(joint_err)), "frames": len(records)})
    return out


def _rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) -> rotation (3, 3), written independently of the generator."""
    theta = np.linalg.norm(rotvec)
    if theta < 1e-12:
        return np.eye(3)
    k = rotvec / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)
