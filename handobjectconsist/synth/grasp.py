"""A grasp of a procedural object by the MANO hand: where the object sits against the palm, and how the fingers
wrap around it.

Everything is computed from the hand model itself (joints, skinning weights), so it works for the official MANO
files as well as for the synthetic hand. Frames:
- "rest" = the MANO frame of the hand in its zero (flat) pose with the subject's betas, metres;
- palm frame (origin on the palm surface): n = palm normal (out of the palm), f = wrist -> middle MCP (fingers),
  l = pinky -> index side. For a right hand n = normalise((index MCP - wrist) x (pinky MCP - wrist)).
"""

from dataclasses import dataclass

import numpy as np
import torch

from handobjectconsist.mano.joints import MANO_TO_PROJECT
from libyana.rotations import axis_angle_to_matrix_np

# Project-order joints: (MCP, PIP, DIP, TIP) per finger.
_FINGERS = {"thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16),
            "pinky": (17, 18, 19, 20)}
# MANO kinematic joints (1..15) of each finger, to select the vertices a finger skins.
_MANO_FINGER_JOINTS = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12),
                       "thumb": (13, 14, 15)}
# Relative flexion of MCP, PIP, DIP for one unit of curl.
_CURL_PROFILE = (0.8, 1.0, 0.65)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (3,) axis-angle (angle in [0, pi])."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec()


def pose_slot(project_joint: int) -> slice:
    """Slice of the 48-D MANO axis-angle pose holding the rotation of a (non-tip) project-order joint."""
    mano_joint = MANO_TO_PROJECT[project_joint]
    return slice(3 * mano_joint, 3 * mano_joint + 3)


@dataclass
class Grasp:
    """A static grasp in the rest frame.

    finger_pose (45,) axis-angle of the 15 finger joints (flat-hand-mean convention);
    obj_R (3, 3), obj_t (3,): object model frame -> rest hand frame (metres);
    palm_frame (3, 3) columns (n, f, l); palm_point (3,) palm surface point; flex_axes: finger -> (3,) axis;
    curls: finger -> curl (rad per unit of _CURL_PROFILE); penetration_mm: deepest hand vertex inside the object.
    """

    finger_pose: np.ndarray
    obj_R: np.ndarray
    obj_t: np.ndarray
    palm_frame: np.ndarray
    palm_point: np.ndarray
    flex_axes: dict
    curls: dict
    penetration_mm: float


def vertex_fingers(weights: np.ndarray) -> np.ndarray:
    """(V,) finger id per vertex from the skinning weights (V, 16): -1 palm, 0 thumb, 1 index, 2 middle, 3 ring,
    4 pinky."""
    dominant = weights.argmax(axis=1)
    out = np.full(len(dominant), -1, dtype=np.int64)
    for fid, name in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        out[np.isin(dominant, _MANO_FINGER_JOINTS[name])] = fid
    return out


def palm_frame(joints: np.ndarray, verts: np.ndarray) -> tuple:
    """Palm frame of a rest hand.

    Args:
        joints: (21, 3) project-order rest joints; verts: (V, 3) rest vertices (metres).
    Returns:
        axes (3, 3) with columns (n, f, l) and the palm surface point (3,).
    """
    wrist = joints[0]
    n = _unit(np.cross(joints[5] - wrist, joints[17] - wrist))
    f = joints[9] - wrist
    f = _unit(f - n * (f @ n))
    lat = np.cross(n, f)  # right-handed (n, f, l); points to the index side for a right hand
    mcps = joints[[5, 9, 13, 17]].mean(0)
    centre = 0.4 * wrist + 0.6 * mcps
    near = np.linalg.norm(verts - centre, axis=1) < 0.025
    near = near if near.any() else np.ones(len(verts), dtype=bool)
    thickness = max(float(((verts[near] - centre) @ n).max()), 0.0)
    return np.stack([n, f, lat], axis=1), centre + n * thickness


def _finger_flex_axis(joints: np.ndarray, name: str, n: np.ndarray) -> np.ndarray:
    """Axis whose positive rotation bends finger `name` towards the palm side (+n)."""
    mcp, pip = joints[_FINGERS[name][0]], joints[_FINGERS[name][1]]
    d = pip - mcp
    d = _unit(d - n * (d @ n))
    return _unit(np.cross(d, n))


def _curled_pose(axes: dict, curls: dict) -> np.ndarray:
    """(48,) pose with each listed finger curled about its axis (zero root rotation)."""
    pose = np.zeros(48)
    for name, curl in curls.items():
        for joint, weight in zip(_FINGERS[name][:3], _CURL_PROFILE):
            pose[pose_slot(joint)] = axes[name] * curl * weight
    return pose


def build_grasp(mano_layer, weights: np.ndarray, betas: np.ndarray, obj, rng: np.random.Generator,
                tilt_deg: float = 12.0, max_penetration: float = 0.0015) -> Grasp:
    """Place `obj` against the palm and curl the fingers (and thumb) around it until they touch it.

    Args:
        mano_layer: ManoLayer(use_pca=False, flat_hand_mean=True, center_idx=None).
        weights: (V, 16) skinning weights of the same model; betas: (10,) subject shape.
        obj: objects.ObjectModel (model frame: height +z, palm faces +x at z = 0).
        rng: random generator for the grasp's small variations.
        tilt_deg: random tilt (degrees) of the object about the palm normal and finger axes.
        max_penetration: depth (m) a finger may sink into the object before the curl stops.
    """
    betas_t = torch.as_tensor(betas, dtype=torch.float32)[None]
    with torch.no_grad():
        verts, joints = mano_layer(torch.zeros(1, 48), betas_t)
    verts, joints = verts[0].double().numpy(), joints[0].double().numpy()
    axes, palm_point = palm_frame(joints, verts)
    n, f, lat = axes.T

    # Object axes in the rest frame: height (+z) along l, the gripped face (+x) towards the palm (-n).
    x_obj = -n
    z_obj = lat
    y_obj = np.cross(z_obj, x_obj)
    R = np.stack([x_obj, y_obj, z_obj], axis=1)
    tilt = np.deg2rad(tilt_deg)
    R = (axis_angle_to_matrix_np(n * rng.uniform(-tilt, tilt)) @ axis_angle_to_matrix_np(f * rng.uniform(-tilt, tilt))
         @ R)
    gap = 0.002
    # Grip centre: over the palm, shifted a little towards the fingers.
    centre = palm_point + n * (obj.grip_half_width() + gap) + f * rng.uniform(0.0, 0.012)
    t = centre - R @ np.zeros(3)

    finger_of_vertex = vertex_fingers(weights)
    flex = {name: _finger_flex_axis(joints, name, n) for name in ("index", "middle", "ring", "pinky")}

    def sdf_hand(verts_rest: torch.Tensor) -> torch.Tensor:
        """(B, V) signed distance of rest-frame hand vertices to the placed object."""
        local = (verts_rest.double() - torch.as_tensor(t)) @ torch.as_tensor(R)
        return obj.sdf(local.reshape(-1, 3)).reshape(verts_rest.shape[:2])

    # Fingers: the largest curl before a finger sinks deeper than max_penetration (monotone search).
    candidates = np.linspace(0.0, 1.6, 33)
    poses = np.stack([_curled_pose(flex, {k: c for k in flex}) for c in candidates])
    with torch.no_grad():
        cand_verts, _ = mano_layer(torch.as_tensor(poses, dtype=torch.float32), betas_t.expand(len(poses), -1))
    sdf = sdf_hand(cand_verts).numpy()  # (C, V)
    curls = {}
    for fid, name in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        if name == "thumb":
            continue
        sel = finger_of_vertex == fid
        deepest = sdf[:, sel].min(axis=1) if sel.any() else np.zeros(len(candidates))
        hit = np.nonzero(deepest < -max_penetration)[0]
        last_ok = (hit[0] - 1) if len(hit) else len(candidates) - 1
        curls[name] = float(candidates[max(last_ok, 0)]) * rng.uniform(0.93, 1.0)

    finger_pose = _curled_pose(flex, curls)
    thumb_pose = _fit_thumb(mano_layer, betas_t, finger_pose, joints, n, finger_of_vertex == 0, sdf_hand)
    for joint in (1, 2, 3):
        finger_pose[pose_slot(joint)] = thumb_pose[pose_slot(joint)]

    with torch.no_grad():
        final_verts, _ = mano_layer(torch.as_tensor(finger_pose, dtype=torch.float32)[None], betas_t)
    penetration = float(-min(sdf_hand(final_verts).min().item(), 0.0)) * 1000.0
    return Grasp(finger_pose[3:].copy(), R, t, axes, palm_point, flex, curls, penetration)


def _fit_thumb(mano_layer, betas_t, base_pose: np.ndarray, joints: np.ndarray, n: np.ndarray,
               thumb_vertices: np.ndarray, sdf_hand, max_penetration: float = 0.0015) -> np.ndarray:
    """Thumb pose (48,) bringing the thumb tip onto the object without sinking into it (batched grid search).

    Two parameters: opposition (rotation of the whole thumb about the index metacarpal, towards the palm side) and
    flexion of its joints; the candidate whose tip is nearest the surface without penetration wins.
    """
    axis_o = _unit(joints[5] - joints[0])
    pivot, tip0 = joints[1], joints[4]
    moved = axis_angle_to_matrix_np(axis_o * 0.3) @ (tip0 - pivot) + pivot
    if (moved - tip0) @ n < 0:
        axis_o = -axis_o
    d_t = joints[2] - joints[1]
    axis_f = _unit(np.cross(_unit(d_t - n * (d_t @ n)), n))
    # Swing about the palm normal, turning the thumb from the index side towards the fingers (around the object).
    f = _unit(joints[9] - joints[0])
    axis_s = -n if (axis_angle_to_matrix_np(-n * 0.3) @ (tip0 - pivot)) @ f > (tip0 - pivot) @ f else n
    poses = []
    for a in np.linspace(0.0, 1.4, 6):
        for c in np.linspace(-0.4, 1.0, 6):
            for b in np.linspace(-0.3, 1.2, 6):
                pose = base_pose.copy()
                root = (axis_angle_to_matrix_np(axis_s * c) @ axis_angle_to_matrix_np(axis_o * a)
                        @ axis_angle_to_matrix_np(axis_f * 0.3 * b))
                pose[pose_slot(1)] = matrix_to_axis_angle(root)
                pose[pose_slot(2)] = axis_f * b
                pose[pose_slot(3)] = axis_f * 0.8 * b
                poses.append(pose)
    poses = np.stack(poses)
    with torch.no_grad():
        verts, _ = mano_layer(torch.as_tensor(poses, dtype=torch.float32), betas_t.expand(len(poses), -1))
        sdf = sdf_hand(verts).numpy()  # (C, V)
    thumb_sdf = sdf[:, thumb_vertices] if thumb_vertices.any() else sdf[:, :1]
    tip = sdf[:, int(mano_layer.tip_vertex_ids[0])]
    deepest = thumb_sdf.min(axis=1)
    # Most thumb surface in contact (within 4 mm), tip on the surface, no deep penetration.
    contact = (np.abs(thumb_sdf) < 0.004).mean(axis=1)
    score = -contact + 5.0 * np.abs(tip) + 300.0 * np.clip(-deepest - max_penetration, 0.0, None)
    return poses[int(np.argmin(score))]
