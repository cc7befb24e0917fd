"""Synthetic dataset in the HO3D-v2 on-disk layout (docs/differences-from-upstream.md, K4).

    python -m handobjectconsist.synth ho3d --out DIR [--preset tiny|demo|bench] [--frames N] [--seed S]
        [--workers N] [--mano_root DIR] [--preview PNG]
    python -m handobjectconsist.synth ho3d --verify DIR [--mano_root DIR]

Written under DIR:
    train/<SEQ>/rgb/{idx:04d}.png, train/<SEQ>/meta/{idx:04d}.pkl        640x480, full annotations
    evaluation/<SEQ>/rgb/{idx:04d}.png, evaluation/<SEQ>/meta/{idx:04d}.pkl  placeholder hand annotations (root only)
    train.txt, evaluation.txt                                              "SEQ/FRAME" lines
    evaluation_xyz.json, evaluation_verts.json     the hidden evaluation hand, in the challenge's reference layout
                                                   (per evaluation.txt frame: 21 joints in HO3D order and 778 vertices,
                                                   OpenGL frame, metres), for the offline scorer
                                                   (python -m handobjectconsist.evaluation.ho3d_score)
    modelsprocess/<objName>/textured_simple_2000.obj                      object meshes (metres)
    hoc_synth.json                                                         generator settings + appearance
Annotations are in HO3D's OpenGL camera frame: OpenCV coordinates multiplied by (1, -1, -1). The hand satisfies
verts = ManoLayer(flat_hand_mean=True, use_pca=False)(handPose, handBeta) + handTrans exactly (no centring).
"""

import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handobjectconsist.mano.joints import PROJECT_TO_MANO
from handobjectconsist.synth import pipeline
from handobjectconsist.synth.grasp import matrix_to_axis_angle
from handobjectconsist.synth.objects import make_object
from handobjectconsist.synth.scenes import key_rng, make_sequence, make_subject
from libyana.camutils import project_points_np
from libyana.fileio import atomic_write_text
from libyana.rotations import axis_angle_to_matrix_np

IMAGE_SIZE = (480, 640)  # (H, W)
REFERENCE_FILES = ("evaluation_xyz.json", "evaluation_verts.json")  # the challenge's hidden ground truth
REFERENCE_DECIMALS = 6  # micrometres
GL_FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV <-> OpenGL camera axes (its own inverse)
# Sequence-name prefix -> object (HO3D naming: subject + object initials).
PREFIX_OBJECT = {
    "ABF": "021_bleach_cleanser", "SB": "021_bleach_cleanser", "MC": "003_cracker_box", "SS": "004_sugar_box",
    "ShSu": "004_sugar_box", "SM": "006_mustard_bottle", "GPMF": "010_potted_meat_can",
    "MPM": "010_potted_meat_can", "SMu": "025_mug",
}
PRESETS = {
    # train/ holds train, val and test sequences of the "objects" split (datasets/ho3dv2.py);
    # evaluation/ the official test.
    "tiny": {"train": ("ABF11", "MC1", "SM2"), "evaluation": ("SM1",), "frames": 5, "supersample": 1},
    "demo": {"train": ("ABF10", "ABF11", "ABF12", "GPMF10", "GPMF12", "MC1", "MC4", "SM2", "SM4", "SMu40", "SS1",
                       "SS2"),
             "evaluation": ("MPM10", "SM1"), "frames": 50, "supersample": 2},
    "bench": {"train": ("ABF10", "ABF11", "ABF12", "ABF13", "ABF14", "GPMF10", "GPMF11", "GPMF12", "GPMF13",
                        "GPMF14", "MC1", "MC2", "MC4", "MC5", "MC6", "SB10", "SB12", "SB14", "ShSu10", "ShSu12",
                        "ShSu13", "ShSu14", "SM2", "SM3", "SM4", "SM5", "SMu1", "SMu40", "SMu41", "SMu42", "SS1",
                        "SS2", "SS3"),
              "evaluation": ("MPM10", "MPM11", "SB11", "SB13", "SM1"), "frames": 150, "supersample": 2},
}


@dataclass(frozen=True)
class Ho3dSequence:
    """One sequence folder: {split}/{name} with n_frames frames; camMat (3, 3) as nested lists."""

    split: str
    name: str
    n_frames: int

    @property
    def prefix(self) -> str:
        return re.match(r"[A-Za-z]+", self.name).group(0)

    @property
    def object_name(self) -> str:
        return PREFIX_OBJECT[self.prefix]


def plan(preset: str = "tiny", **overrides) -> tuple:
    """(config, list of Ho3dSequence) for a preset; overrides: train, evaluation (name lists), frames, supersample."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    config = dict(PRESETS[preset])
    config.update({k: v for k, v in overrides.items() if v is not None})
    seqs = []
    for split in ("train", "evaluation"):
        for name in config[split]:
            seq = Ho3dSequence(split, name, int(config["frames"]))
            if seq.prefix not in PREFIX_OBJECT:
                raise ValueError(f"sequence {name!r}: no synthetic object for prefix {seq.prefix!r}; "
                                 f"known prefixes {sorted(PREFIX_OBJECT)}")
            seqs.append(seq)
    return config, seqs


def camera_matrix(seed: int, name: str) -> np.ndarray:
    """(3, 3) per-sequence intrinsics close to HO3D's (fx ~ 614-620, principal point near the centre)."""
    rng = key_rng(seed, "ho3d-cam", name)
    f = rng.uniform(613.0, 621.0)
    return np.array([[f, 0.0, rng.uniform(308, 322)], [0.0, f, rng.uniform(236, 246)], [0.0, 0.0, 1.0]])


def ho3d_object(name: str):
    obj = make_object(name)
    obj.verts = pipeline.quantize_verts(obj.verts)
    return obj


def sequence_truth(spec: Ho3dSequence, seed: int, mano_root, grasp_cache: dict = None):
    """Generator ground truth (scenes.SequenceTruth, OpenCV frame) of one sequence."""
    layer, weights = pipeline.hand_model(mano_root)
    prefixes = sorted(set(PREFIX_OBJECT))
    subject = make_subject(seed, spec.prefix, prefixes.index(spec.prefix))
    rng = key_rng(seed, "ho3d", spec.split, spec.name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return make_sequence(layer, weights, ho3d_object(spec.object_name), subject, spec.n_frames, rng,
                             view="third_person", pour=False, depth_range=(0.5, 0.7), grasp_cache=grasp_cache)
    finally:
        torch.set_num_threads(threads)


def annotations(truth, layer, spec: Ho3dSequence, K: np.ndarray, obj) -> dict:
    """Meta dicts (one per frame) in HO3D's OpenGL convention, and the OpenCV geometry they describe.

    Returns {"metas": list of dicts, "hand_verts" (T, V, 3) and "joints" (T, 21, 3) OpenCV metres (project order),
    "obj_verts" (T, N, 3) OpenCV metres}.
    """
    n = len(truth.fullpose)
    betas = truth.betas.astype(np.float32)
    with torch.no_grad():
        _, rest_joints = layer(torch.zeros(1, 48), torch.as_tensor(betas)[None])
    j0 = rest_joints[0, 0].double().numpy()
    pose_gl = truth.fullpose.astype(np.float64).copy()
    trans_gl = np.zeros((n, 3))
    for t in range(n):
        # R_gl = F R, and F (R (v - J0) + J0 + t) = R_gl (v - J0) + J0 + (F (J0 + t) - J0).
        root_R = axis_angle_to_matrix_np(truth.fullpose[t, :3].astype(np.float64))
        pose_gl[t, :3] = matrix_to_axis_angle(GL_FLIP @ root_R)
        trans_gl[t] = GL_FLIP @ (j0 + truth.trans[t]) - j0
    pose_gl, trans_gl = pose_gl.astype(np.float32), trans_gl.astype(np.float32)
    verts_gl, joints_gl = pipeline.hand_mesh(layer, pose_gl, betas, trans_gl)
    joints_gl = joints_gl.double().numpy()
    obj_rot = np.stack([matrix_to_axis_angle(GL_FLIP @ R) for R in truth.obj_R]).astype(np.float32)
    obj_trans = (truth.obj_t @ GL_FLIP).astype(np.float32)
    corners = obj.bbox_corners().astype(np.float32)
    metas, obj_verts = [], []
    for t in range(n):
        R = axis_angle_to_matrix_np(obj_rot[t].astype(np.float64))
        obj_verts.append((obj.verts @ R.T + obj_trans[t].astype(np.float64)) @ GL_FLIP)
        meta = {"objRot": obj_rot[t].copy(), "objTrans": obj_trans[t].copy(), "objName": spec.object_name,
                "objCorners3DRest": corners.copy(), "camMat": K.astype(np.float64).copy()}
        if spec.split == "train":
            meta.update({"handJoints3D": joints_gl[t][list(PROJECT_TO_MANO)].astype(np.float32),
                         "handPose": pose_gl[t].copy(), "handTrans": trans_gl[t].copy(), "handBeta": betas.copy()})
        else:
            # The official evaluation split hides the hand: only the root joint, no MANO parameters.
            root = joints_gl[t][0].astype(np.float32)
            uv = project_points_np(joints_gl[t] @ GL_FLIP, K)
            meta.update({"handJoints3D": root, "handPose": np.zeros(48, np.float32), "handTrans": root.copy(),
                         "handBeta": np.zeros(10, np.float32),
                         "handBoundingBox": np.r_[uv.min(0) - 10, uv.max(0) + 10].astype(np.float32)})
        metas.append(meta)
    flip = torch.as_tensor(GL_FLIP, dtype=torch.float32)
    return {"metas": metas, "hand_verts": verts_gl @ flip, "joints": joints_gl @ GL_FLIP,
            "obj_verts": torch.as_tensor(np.stack(obj_verts), dtype=torch.float32)}


def _write_sequence(job: dict) -> dict:
    spec = Ho3dSequence(**job["spec"])
    out, config = Path(job["out"]), job["config"]
    layer, _ = pipeline.hand_model(job["mano_root"])
    truth = sequence_truth(spec, job["seed"], job["mano_root"], grasp_cache=_GRASP_CACHE)
    K = camera_matrix(job["seed"], spec.name)
    obj = ho3d_object(spec.object_name)
    ann = annotations(truth, layer, spec, K, obj)
    folder = out / spec.split / spec.name
    (folder / "meta").mkdir(parents=True, exist_ok=True)
    for t, meta in enumerate(ann["metas"]):
        with open(folder / "meta" / f"{t:04d}.pkl", "wb") as handle:
            pickle.dump(meta, handle, protocol=4)
    renderer = pipeline.make_renderer(layer, truth.betas, obj, K, IMAGE_SIZE, truth.appearance, config["supersample"])
    hits = []
    for t, frame in pipeline.render_frames(renderer, ann["hand_verts"], ann["obj_verts"]):
        pipeline.save_png(folder / "rgb" / f"{t:04d}.png", frame["rgb"])
        hits.append(pipeline.joint_hits(ann["joints"][t], K, frame))
    motion = pipeline.interframe_motion_px(ann["hand_verts"].numpy(), K)
    result = {"rel": f"{spec.split}/{spec.name}", "appearance": truth.appearance, "motion_px": motion.tolist(),
              "joint_hits": np.mean(hits, axis=0).tolist(), "penetration_mm": truth.penetration_mm}
    if spec.split == "evaluation":
        result["reference"] = reference_frames(ann)
    return result


def reference_frames(ann: dict) -> tuple:
    """The challenge's reference of a sequence from annotations(): joints (T, 21, 3) in HO3D (MANO + tips) order and
    hand vertices (T, V, 3), float64, OpenGL camera frame, metres (the convention of the train metas' handJoints3D
    and of pred.json)."""
    joints_gl = np.asarray(ann["joints"], dtype=np.float64)[:, list(PROJECT_TO_MANO)] @ GL_FLIP
    verts_gl = ann["hand_verts"].double().numpy() @ GL_FLIP
    return joints_gl, verts_gl


def write_reference(out: Path, joints: list, verts: list) -> None:
    """out/evaluation_xyz.json and out/evaluation_verts.json: per frame (in evaluation.txt order) a list of [x, y, z]
    joints (HO3D order) and hand vertices, OpenGL frame, metres."""
    for name, frames in zip(REFERENCE_FILES, (joints, verts)):
        data = [np.round(np.asarray(frame, dtype=np.float64), REFERENCE_DECIMALS).tolist() for frame in frames]
        atomic_write_text(out / name, json.dumps(data), fsync=False)


_GRASP_CACHE = {}


def write_ho3d(out_dir, mano_root, preset: str = "tiny", seed: int = 0, workers: int = 1, **overrides) -> Path:
    """Write a synthetic HO3D-v2-layout dataset under out_dir; returns out_dir as a Path.

    Args:
        mano_root: folder with MANO_RIGHT.pkl; preset: "tiny" | "demo" | "bench"; workers: rendering processes;
        overrides: train, evaluation (sequence-name lists), frames, supersample.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config, seqs = plan(preset, **overrides)
    for name in sorted({s.object_name for s in seqs}):
        obj = ho3d_object(name)
        pipeline.write_obj(out / "modelsprocess" / name / "textured_simple_2000.obj", obj.verts, obj.faces)
    for split, list_name in (("train", "train.txt"), ("evaluation", "evaluation.txt")):
        lines = [f"{s.name}/{t:04d}" for s in seqs if s.split == split for t in range(s.n_frames)]
        (out / list_name).write_text("\n".join(lines) + ("\n" if lines else ""))
    results = pipeline.write_sequences(_write_sequence, out, seqs, config, seed, mano_root, workers, "ho3d", preset)
    references = [r["reference"] for r in results if "reference" in r]  # evaluation sequences, evaluation.txt order
    write_reference(out, [f for joints, _ in references for f in joints], [f for _, verts in references for f in verts])
    return out
