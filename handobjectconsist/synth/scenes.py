"""Scene and motion generation: a subject's hand grasping an object, moving smoothly like a 30 fps video.

A sequence is fully determined by (dataset seed, subject key, sequence key): generation never depends on the order
in which sequences are processed, so worker processes give the same data as a single process.
All quantities are in the OpenCV camera frame (x right, y down, z forward), metres.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from handobjectconsist.synth.grasp import build_grasp, matrix_to_axis_angle, pose_slot
from handobjectconsist.synth.objects import hash_name
from libyana.rotations import axis_angle_to_matrix_np

FPS = 30.0

# Skin tones (linear-ish RGB in [0, 1]) from light to dark; each subject gets one, jittered.
SKIN_TONES = np.array(
    [[0.93, 0.76, 0.65], [0.87, 0.67, 0.55], [0.78, 0.57, 0.44], [0.66, 0.46, 0.34], [0.50, 0.34, 0.24],
     [0.36, 0.24, 0.17]]
)
BACKGROUND_KINDS = ("gradient", "stripes", "noise", "tiles", "table")


def key_rng(*keys) -> np.random.Generator:
    """Random generator seeded by a tuple of ints/strings (stable across processes and runs)."""
    words = [k if isinstance(k, (int, np.integer)) else hash_name(str(k)) for k in keys]
    return np.random.default_rng([int(w) & 0xFFFFFFFF for w in words])


@dataclass
class Subject:
    """One person: MANO betas (10,) and skin (tone (3,), texture seed)."""

    key: str
    betas: np.ndarray
    skin_tone: np.ndarray
    skin_seed: int


def make_subject(seed: int, key: str, index: int) -> Subject:
    """Subject `key`; `index` (0-based) picks the skin tone so that consecutive subjects differ."""
    rng = key_rng(seed, "subject", key)
    betas = np.clip(rng.normal(0.0, 0.9, 10), -2.0, 2.0)
    tone = SKIN_TONES[(index * 4 + int(rng.integers(2))) % len(SKIN_TONES)] * rng.uniform(0.95, 1.05, 3)
    return Subject(key, betas.astype(np.float32), np.clip(tone, 0, 1), int(rng.integers(1 << 20)))


def smooth_curves(rng: np.random.Generator, n_frames: int, dims: int, freq_hz=(0.08, 0.45), waves: int = 3):
    """(n_frames, dims) smooth random curves with values in about [-1, 1] (sums of slow sinusoids)."""
    t = np.arange(n_frames) / FPS
    out = np.zeros((n_frames, dims))
    for d in range(dims):
        for _ in range(waves):
            freq = rng.uniform(*freq_hz)
            out[:, d] += np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
    return out / math.sqrt(waves)


@dataclass
class SequenceTruth:
    """Ground truth of one sequence (T frames), camera frame (OpenCV), metres.

    fullpose (T, 48) float32 MANO axis-angle (flat-hand mean); betas (10,) float32; trans (T, 3) float32 so that
    hand verts = ManoLayer(flat_hand_mean=True, use_pca=False)(fullpose, betas, trans);
    obj_R (T, 3, 3), obj_t (T, 3) float64: model frame -> camera; appearance: dict for the renderer.
    """

    fullpose: np.ndarray
    betas: np.ndarray
    trans: np.ndarray
    obj_R: np.ndarray
    obj_t: np.ndarray
    appearance: dict
    penetration_mm: float


def _look_rotation(n_c, f_c, l_c, axes_rest):
    """Rotation mapping the rest palm axes (columns n, f, l) onto the camera-frame axes (n_c, f_c, l_c)."""
    return np.stack([n_c, f_c, l_c], axis=1) @ axes_rest.T


def _orthonormal(f, lat):
    """Right-handed (n, f, l) from approximate f and l (``lat``), with n = f x l."""
    lat = lat / np.linalg.norm(lat)
    f = f - lat * (f @ lat)
    f = f / np.linalg.norm(f)
    return np.cross(f, lat), f, lat


def base_orientation(view: str, rng: np.random.Generator):
    """Camera-frame palm axes (n, f, l) for the sequence's mean hand orientation.

    "egocentric" (FPHAB): head-mounted camera pitched down, hand seen from above/behind, object upright.
    "third_person" (HO3D): camera facing the person, hand at a wide range of orientations.
    """
    if view == "egocentric":
        pitch = np.deg2rad(rng.uniform(20, 45))
        up = np.array([0.0, -math.cos(pitch), -math.sin(pitch)])
        yaw = np.deg2rad(rng.uniform(-55, -5))  # fingers point forward and to the left
        forward_world = np.array([math.sin(yaw), 0.0, math.cos(yaw)])
        # world (x right, y down, z forward horizontal) -> camera pitched down by `pitch` about x
        c, s = math.cos(pitch), math.sin(pitch)
        world_to_cam = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]).T
        forward = world_to_cam @ forward_world
        roll = np.deg2rad(rng.uniform(-20, 20))
        n, f, lat = _orthonormal(forward, up)
        lat = axis_angle_to_matrix_np(f * roll) @ lat
        return _orthonormal(f, lat)
    if view == "third_person":
        up = np.array([rng.uniform(-0.5, 0.5), -1.0, rng.uniform(-0.3, 0.3)])
        az = np.deg2rad(rng.uniform(-150, 150))
        forward = np.array([math.sin(az), 0.0, -math.cos(az)]) + np.array([0, 0, 0.3])
        return _orthonormal(forward, up)
    raise ValueError(f"unknown view {view!r}")


def make_appearance(rng: np.random.Generator, subject: Subject) -> dict:
    """Per-sequence light and background, plus the subject's skin."""
    light = np.array([rng.uniform(-0.7, 0.7), rng.uniform(0.3, 1.0), rng.uniform(0.1, 1.0)])
    kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    return {
        "light_dir": (light / np.linalg.norm(light)).tolist(),  # direction the light travels (camera frame)
        "light_colour": (rng.uniform(0.92, 1.08, 3)).tolist(),
        "ambient": float(rng.uniform(0.35, 0.55)),
        "diffuse": float(rng.uniform(0.55, 0.8)),
        "background": {
            "kind": kind,
            "colours": rng.uniform(0.1, 0.9, (3, 3)).tolist(),
            "seed": int(rng.integers(1 << 20)),
            "angle": float(rng.uniform(0, math.pi)),
            "freq": float(rng.uniform(3, 12)),
        },
        "skin_tone": subject.skin_tone.tolist(),
        "skin_seed": subject.skin_seed,
    }


def make_sequence(mano_layer, weights: np.ndarray, obj, subject: Subject, n_frames: int, rng: np.random.Generator,
                  view: str = "egocentric", pour: bool = False, depth_range=(0.45, 0.6),
                  grasp_cache: dict = None) -> SequenceTruth:
    """Generate one sequence's ground truth.

    Args:
        mano_layer: ManoLayer(use_pca=False, flat_hand_mean=True, center_idx=None); weights (V, 16) its skinning.
        obj: objects.ObjectModel; subject: Subject; n_frames: T.
        view: "egocentric" or "third_person" (see base_orientation).
        pour: add a large, slow tilt of the object (pouring actions).
        depth_range: (min, max) camera distance (m) of the grasp centre.
        grasp_cache: optional dict reused across sequences of the same (subject, object) pair.
    """
    cache_key = (subject.key, obj.name)
    if grasp_cache is not None and cache_key in grasp_cache:
        grasp = grasp_cache[cache_key]
    else:
        grasp = build_grasp(mano_layer, weights, subject.betas, obj, key_rng(hash_name(subject.key), obj.name))
        if grasp_cache is not None:
            grasp_cache[cache_key] = grasp
    betas_t = torch.as_tensor(subject.betas, dtype=torch.float32)[None]
    with torch.no_grad():
        _, rest_joints = mano_layer(torch.zeros(1, 48), betas_t)
    j0 = rest_joints[0, 0].double().numpy()  # the root rotation pivots about the wrist joint

    n_c, f_c, l_c = base_orientation(view, rng)
    R0 = _look_rotation(n_c, f_c, l_c, grasp.palm_frame)

    # Root rotation over time: small wobble about all axes, plus a pouring tilt about the finger axis.
    wobble = smooth_curves(rng, n_frames, 3) * np.deg2rad(rng.uniform(6, 14))
    pour_angle = np.zeros(n_frames)
    if pour:
        start, end = rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0)
        s = np.clip((np.arange(n_frames) / max(n_frames - 1, 1) - start) / (end - start), 0, 1)
        pour_angle = np.deg2rad(rng.uniform(40, 75)) * 0.5 * (1 - np.cos(2 * math.pi * s))
    centre0 = np.array([rng.uniform(-0.06, 0.06), rng.uniform(-0.03, 0.04), rng.uniform(*depth_range)])
    drift = smooth_curves(rng, n_frames, 3) * np.array([0.035, 0.025, 0.04])

    # Fingers: slow curl variation about the grasp (kept small: the fingers stay on the object).
    curl_var = smooth_curves(rng, n_frames, 5, freq_hz=(0.1, 0.6)) * 0.05
    # Slip of the object in the hand: rotation about its height axis and a shift along it.
    slip = smooth_curves(rng, n_frames, 2, freq_hz=(0.05, 0.3)) * np.array([np.deg2rad(4.0), 0.004])

    obj_centre_rest = grasp.obj_t
    mid_rest = 0.5 * (grasp.palm_point + obj_centre_rest)
    fullpose = np.zeros((n_frames, 48))
    trans = np.zeros((n_frames, 3))
    obj_R = np.zeros((n_frames, 3, 3))
    obj_t = np.zeros((n_frames, 3))
    for t in range(n_frames):
        R = axis_angle_to_matrix_np(f_c * pour_angle[t]) @ axis_angle_to_matrix_np(wobble[t]) @ R0
        pose = np.zeros(48)
        pose[3:] = grasp.finger_pose
        for k, name in enumerate(("index", "middle", "ring", "pinky")):
            for joint in ((5, 6, 7), (9, 10, 11), (13, 14, 15), (17, 18, 19))[k]:
                pose[pose_slot(joint)] += grasp.flex_axes[name] * curl_var[t, k + 1]
        thumb = pose_slot(3)
        pose[thumb] = pose[thumb] + grasp.palm_frame[:, 2] * curl_var[t, 0] * 0.5
        pose[:3] = matrix_to_axis_angle(R)
        target = centre0 + drift[t]
        tr = target - j0 - R @ (mid_rest - j0)
        R_slip = grasp.obj_R @ axis_angle_to_matrix_np(np.array([0.0, 0.0, slip[t, 0]]))
        t_slip = grasp.obj_t + grasp.obj_R[:, 2] * slip[t, 1]
        fullpose[t], trans[t] = pose, tr
        obj_R[t] = R @ R_slip
        obj_t[t] = R @ (t_slip - j0) + j0 + tr

    appearance = make_appearance(rng, subject)
    return SequenceTruth(fullpose.astype(np.float32), subject.betas.astype(np.float32), trans.astype(np.float32),
                         obj_R, obj_t, appearance, grasp.penetration_mm)
