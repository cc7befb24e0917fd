"""Synthetic dataset in the FPHAB on-disk layout (docs/differences-from-upstream.md, K4), plus exact MANO fits.

    python -m handobjectconsist.synth fphab --out DIR [--preset tiny|demo|bench] [--subjects N] [--seqs N]
        [--frames N] [--seed S] [--full_res_frames N] [--workers N] [--mano_root DIR] [--preview PNG]
    python -m handobjectconsist.synth fphab --verify DIR [--mano_root DIR]

Written under DIR:
    Video_files_480/Subject_k/<action>/<seq>/color/color_XXXX.jpeg          480x270
    Video_files/Subject_k/<action>/<seq>/color/color_XXXX.jpeg              1920x1080, first --full_res_frames frames
    Hand_pose_annotation_v1/Subject_k/<action>/<seq>/skeleton.txt           frame + 63 floats, world mm, file order
    Object_6D_pose_annotation_v1_1/Subject_k/<action>/<seq>/object_pose.txt frame + 16 floats (4x4 column-major)
    Object_models/{juice,liquid_soap,milk,salt}_model/{name}_model.ply      metres
    Subjects_info/Subject_k_info.txt, data_split_action_recognition.txt
    fhbhands_fits/Subject_k/<action>/<seq>/pkls.pkl                         exact MANO parameters per frame
    hoc_synth.json                                                          generator settings + per-sequence
                                                                            appearance (used by --verify only)
The camera constants are those of handobjectconsist.datasets.fphab_camera (FPHAB's real calibration).
"""

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handobjectconsist.datasets import fphab_camera as cam
from handobjectconsist.synth import pipeline
from handobjectconsist.synth.objects import FPHAB_OBJECTS, make_object
from handobjectconsist.synth.scenes import key_rng, make_sequence, make_subject

ACTIONS = (
    "open_juice_bottle", "close_juice_bottle", "pour_juice_bottle",
    "open_liquid_soap", "close_liquid_soap", "pour_liquid_soap",
    "open_milk", "close_milk", "pour_milk",
    "put_salt",
)
# Object folder of each action's object (the action name minus its first word, "juice_bottle" -> "juice").
ACTION_OBJECT = {a: {"juice_bottle": "juice"}.get(a.split("_", 1)[1], a.split("_", 1)[1]) for a in ACTIONS}
# File joint order -> project order (what the reader applies): project = file[FILE_TO_PROJECT].
FILE_TO_PROJECT = (0, 1, 6, 7, 8, 2, 9, 10, 11, 3, 12, 13, 14, 4, 15, 16, 17, 5, 18, 19, 20)
PROJECT_TO_FILE = tuple(int(i) for i in np.argsort(FILE_TO_PROJECT))

PRESETS = {
    "tiny": {"subjects": 2, "actions": ("open_juice_bottle", "pour_milk"), "seqs": 1, "frames": 6,
             "full_res_frames": 1, "supersample": 1},
    "demo": {"subjects": 3, "actions": ACTIONS, "seqs": 1, "frames": 36, "full_res_frames": 0, "supersample": 2},
    "bench": {"subjects": 6, "actions": ACTIONS, "seqs": 2, "frames": 120, "full_res_frames": 0, "supersample": 2},
}
JPEG_QUALITY = 92
REDUCED_SIZE = (cam.height_for_width(480), 480)  # (H, W) of Video_files_480 frames


@dataclass(frozen=True)
class FphabSequence:
    """One sequence: Subject_{subject}/{action}/{seq}, n_frames frames, in the train or test list."""

    subject: int
    action: str
    seq: int
    n_frames: int
    split: str

    @property
    def rel(self) -> str:
        return f"Subject_{self.subject}/{self.action}/{self.seq}"


def plan(preset: str = "tiny", **overrides) -> tuple:
    """(config dict, list of FphabSequence) for a preset with optional overrides (subjects, actions, seqs,
    frames, full_res_frames, supersample). Train and test alternate over sequences (FPHAB's 1:1 split)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    config = dict(PRESETS[preset])
    config.update({k: v for k, v in overrides.items() if v is not None})
    unknown = [a for a in config["actions"] if a not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown FPHAB object actions {unknown}; expected some of {ACTIONS}")
    seqs = []
    for subject in range(1, config["subjects"] + 1):
        for a, action in enumerate(config["actions"]):
            for seq in range(1, config["seqs"] + 1):
                split = "train" if (subject + a + seq) % 2 == 0 else "test"
                seqs.append(FphabSequence(subject, action, seq, int(config["frames"]), split))
    return config, seqs


def sequence_truth(spec: FphabSequence, seed: int, mano_root, grasp_cache: dict = None):
    """The generator's in-memory ground truth (scenes.SequenceTruth) of one sequence: deterministic in
    (seed, subject, action, seq)."""
    layer, weights = pipeline.hand_model(mano_root)
    subject = make_subject(seed, f"Subject_{spec.subject}", spec.subject - 1)
    obj = fphab_object(ACTION_OBJECT[spec.action])
    rng = key_rng(seed, "fphab", spec.subject, spec.action, spec.seq)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # identical float results whatever the worker count
    try:
        return make_sequence(layer, weights, obj, subject, spec.n_frames, rng, view="egocentric",
                             pour=spec.action.startswith("pour"), depth_range=(0.45, 0.6), grasp_cache=grasp_cache)
    finally:
        torch.set_num_threads(threads)


def fphab_object(name: str):
    """Procedural object of an FPHAB object folder name, vertices rounded as written in the PLY."""
    obj = make_object(name)
    obj.verts = pipeline.quantize_verts(obj.verts)
    return obj


def format_skeleton_line(frame: int, joints_world_mm: np.ndarray) -> str:
    """'frame x y z ...' for joints (21, 3) in FILE order, world mm."""
    return f"{frame} " + " ".join(f"{v:.4f}" for v in joints_world_mm.reshape(-1))


def format_pose_line(frame: int, pose: np.ndarray) -> str:
    """'frame m00 m10 m20 m30 m01 ...' for a (4, 4) pose written column-major."""
    return f"{frame} " + " ".join(f"{v:.8f}" for v in pose.T.reshape(-1))


def parse_pose_values(values) -> np.ndarray:
    """(4, 4) pose from the 16 column-major numbers of an object_pose.txt line."""
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def annotations(truth, layer) -> dict:
    """File contents and the exact geometry they describe.

    Returns dict with "fits" (pkls.pkl dict), "skeleton" (lines), "object_pose" (lines), "hand_verts" (T, V, 3) and
    "joints" (T, 21, 3) colour-camera metres (from the stored float32 parameters), "obj_affine" (T, 4, 4) model
    metres -> colour-camera metres as a reader computes it from the written pose.
    """
    verts, joints = pipeline.hand_mesh(layer, truth.fullpose, truth.betas, truth.trans)
    joints = joints.double().numpy()
    extr = extrinsic()
    extr_inv = np.linalg.inv(extr)
    fits, skeleton, poses, affines = {}, [], [], []
    for t in range(len(truth.fullpose)):
        fits[f"{t:06d}.pkl"] = {"fullpose": truth.fullpose[t].copy(), "trans": truth.trans[t].copy(),
                                "shape": truth.betas.copy()}
        world = (np.c_[joints[t] * 1000.0, np.ones(21)] @ extr_inv.T)[:, :3]
        skeleton.append(format_skeleton_line(t, world[list(PROJECT_TO_FILE)]))
        cam_mm = np.eye(4)
        cam_mm[:3, :3] = truth.obj_R[t]
        cam_mm[:3, 3] = truth.obj_t[t] * 1000.0
        line = format_pose_line(t, extr_inv @ cam_mm)
        poses.append(line)
        written = parse_pose_values(line.split()[1:])
        # reader: verts_m * 1000 -> pose -> extrinsic -> / 1000
        affines.append(np.diag([1e-3, 1e-3, 1e-3, 1.0]) @ extr @ written @ np.diag([1e3, 1e3, 1e3, 1.0]))
    return {"fits": fits, "skeleton": skeleton, "object_pose": poses, "hand_verts": verts, "joints": joints,
            "obj_affine": np.stack(affines)}


def extrinsic() -> np.ndarray:
    """(4, 4) world mm -> colour-camera mm."""
    extr = np.eye(4)
    extr[:3, :3] = cam.EXTRINSIC_R
    extr[:3, 3] = cam.EXTRINSIC_T_MM
    return extr


def apply_affine(affine: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """(T, 4, 4) affine maps applied to model vertices (N, 3) -> (T, N, 3)."""
    return np.einsum("tij,nj->tni", affine[:, :3, :3], verts) + affine[:, None, :3, 3]


def reduced_intrinsics() -> np.ndarray:
    """(3, 3) intrinsics of the 480x270 frames (as the dataset reader computes them)."""
    return cam.intrinsics_for_width(480)


def _write_sequence(job: dict) -> dict:
    """Worker: generate, render and write one sequence. Returns statistics and the appearance."""
    spec = FphabSequence(**job["spec"])
    out, config = Path(job["out"]), job["config"]
    layer, _ = pipeline.hand_model(job["mano_root"])
    truth = sequence_truth(spec, job["seed"], job["mano_root"], grasp_cache=_GRASP_CACHE)
    ann = annotations(truth, layer)
    obj = fphab_object(ACTION_OBJECT[spec.action])
    obj_verts = torch.as_tensor(apply_affine(ann["obj_affine"], obj.verts), dtype=torch.float32)

    for folder, name, lines in (("Hand_pose_annotation_v1", "skeleton.txt", ann["skeleton"]),
                                ("Object_6D_pose_annotation_v1_1", "object_pose.txt", ann["object_pose"])):
        path = out / folder / spec.rel / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    fit_path = out / "fhbhands_fits" / spec.rel / "pkls.pkl"
    fit_path.parent.mkdir(parents=True, exist_ok=True)
    with open(fit_path, "wb") as handle:
        pickle.dump(ann["fits"], handle, protocol=4)

    K = reduced_intrinsics()
    renderer = pipeline.make_renderer(layer, truth.betas, obj, K, REDUCED_SIZE, truth.appearance,
                                      config["supersample"])
    joint_hits = []
    for t, frame in pipeline.render_frames(renderer, ann["hand_verts"], obj_verts):
        pipeline.save_jpeg(out / "Video_files_480" / spec.rel / "color" / f"color_{t:04d}.jpeg", frame["rgb"],
                           JPEG_QUALITY)
        joint_hits.append(pipeline.joint_hits(ann["joints"][t], K, frame))
    n_full = min(int(config["full_res_frames"]), spec.n_frames)
    if n_full:
        full = pipeline.make_renderer(layer, truth.betas, obj, cam.COLOR_INTRINSICS_FULL,
                                      (cam.FULL_HEIGHT, cam.FULL_WIDTH), truth.appearance, 1)
        for t, frame in pipeline.render_frames(full, ann["hand_verts"][:n_full], obj_verts[:n_full], batch=1):
            pipeline.save_jpeg(out / "Video_files" / spec.rel / "color" / f"color_{t:04d}.jpeg", frame["rgb"],
                               JPEG_QUALITY)
    motion = pipeline.interframe_motion_px(ann["hand_verts"].numpy(), K)
    return {"rel": spec.rel, "appearance": truth.appearance, "motion_px": motion.tolist(),
            "joint_hits": np.mean(joint_hits, axis=0).tolist(), "penetration_mm": truth.penetration_mm}


_GRASP_CACHE = {}


def _write_static_files(out: Path, config: dict, seqs: list) -> None:
    for name in FPHAB_OBJECTS:
        obj = fphab_object(name)
        pipeline.write_ply(out / "Object_models" / f"{name}_model" / f"{name}_model.ply", obj.verts, obj.faces)
    info = out / "Subjects_info"
    info.mkdir(parents=True, exist_ok=True)
    for subject in sorted({s.subject for s in seqs}):
        lines = [f"Subject_{subject}", "synthetic FPHAB-layout data (handobjectconsist.synth)",
                 "action sequence frames"]
        lines += [f"{s.action} {s.seq} {s.n_frames}" for s in seqs if s.subject == subject]
        (info / f"Subject_{subject}_info.txt").write_text("\n".join(lines) + "\n")
    train = [s for s in seqs if s.split == "train"]
    test = [s for s in seqs if s.split == "test"]
    lines = [f"Training {len(train)}"] + [f"{s.rel} {ACTIONS.index(s.action)}" for s in train]
    lines += [f"Test {len(test)}"] + [f"{s.rel} {ACTIONS.index(s.action)}" for s in test]
    (out / "data_split_action_recognition.txt").write_text("\n".join(lines) + "\n")


def write_fphab(out_dir, mano_root, preset: str = "tiny", seed: int = 0, workers: int = 1, **overrides) -> Path:
    """Write a synthetic FPHAB-layout dataset under out_dir; returns out_dir as a Path.

    Args:
        mano_root: folder with MANO_RIGHT.pkl (official or synthetic).
        preset: "tiny" | "demo" | "bench"; overrides: subjects, actions, seqs, frames, full_res_frames, supersample.
        workers: processes rendering sequences in parallel.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config, seqs = plan(preset, **overrides)
    _write_static_files(out, config, seqs)
    pipeline.write_sequences(_write_sequence, out, seqs, config, seed, mano_root, workers, "fphab", preset)
    return out
