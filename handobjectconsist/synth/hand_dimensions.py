"""Dimensions, counts and frames of the synthetic right hand (the data that hand_geometry builds its surface from).

Geometry is built in a local hand frame (u, w, n), right-handed:
  u  along the fingers (distal),  w  across the palm towards the thumb,  n  out of the back of the hand (dorsal).
`to_mano_frame` maps it to MANO's canonical right-hand frame: x = -u (fingers point to -x, wrist at +x),
y = n (the palm faces -y), z = w (thumb towards +z); the origin is near the middle-finger MCP joint, as in the
official template. Lengths in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

FINGERS = ("index", "middle", "ring", "pinky")
# MANO joint id of each finger's first joint (MCP); +1 PIP, +2 DIP. Thumb: 13 (CMC), 14 (MCP), 15 (IP).
FINGER_FIRST_JOINT = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}
FINGER_RING = 10  # vertices per finger ring
THUMB_RING = 12
PALM_RING = 34  # = 4 * FINGER_RING - 2 * 3 shared web vertices
WRIST_RING = 16
TRANSITION_RING = 28
NUM_PALM_RINGS = 5
# rings per phalanx (proximal, middle, distal shaft, tip cap); the tip apex comes on top
FINGER_RINGS = {"index": (4, 3, 2, 2), "middle": (4, 3, 2, 2), "ring": (4, 3, 2, 2), "pinky": (3, 2, 2, 2)}
# thumb: base ring at the palm hole, then (metacarpal, proximal, distal shaft, cap)
THUMB_RINGS = (2, 2, 2, 2)
# thumb hole in the palm grid: palm rows [r0, r1] x columns [j0, j0 + span] (mod 34); 2*(2+4) = 12 = THUMB_RING
THUMB_HOLE = (1, 3, 30, 4)


@dataclass(frozen=True)
class HandShape:
    """Scale factors of the hand's dimensions (all 1 = the template). Used for the shape blend shapes."""

    size: float = 1.0
    finger_length: float = 1.0
    palm_width: float = 1.0
    finger_thickness: float = 1.0
    palm_length: float = 1.0
    palm_thickness: float = 1.0
    thumb_length: float = 1.0
    finger_spread: float = 1.0
    thenar: float = 1.0
    tip_taper: float = 1.0


# Template dimensions (metres) of an adult right hand about 18.5 cm from wrist crease to middle fingertip.
PALM_LENGTH = 0.086  # wrist joint -> middle MCP along u
FOREARM_STUB = 0.014  # wrist opening lies this far proximal of the wrist joint
WRIST_HALF_WIDTH = 0.029
WRIST_HALF_THICK = 0.018
KNUCKLE_GAP = 0.011  # palm knuckle loop -> finger base loops along u
BASE_OFFSET = {"index": 0.020, "middle": 0.020, "ring": 0.019, "pinky": 0.016}  # MCP -> finger base loop
MCP_U = {"index": -0.003, "middle": 0.0, "ring": -0.006, "pinky": -0.017}  # relative to the middle MCP
MCP_W = {"index": 0.027, "middle": 0.007, "ring": -0.012, "pinky": -0.029}
SPLAY_DEG = {"index": 4.0, "middle": 0.0, "ring": -4.0, "pinky": -9.0}
PHALANGES = {  # MCP->PIP, PIP->DIP, DIP->tip end
    "index": (0.041, 0.024, 0.022),
    "middle": (0.045, 0.028, 0.023),
    "ring": (0.042, 0.027, 0.022),
    "pinky": (0.033, 0.019, 0.020),
}
FINGER_RADIUS = {"index": 0.0096, "middle": 0.0098, "ring": 0.0091, "pinky": 0.0080}  # half-width at base
FINGER_FLATTEN = 0.84  # half-thickness / half-width
TIP_TAPER = 0.74  # fingertip radius / base radius
THUMB_CMC = np.array([0.020, 0.021, -0.010])
THUMB_DIRS = (np.array([0.60, 0.70, -0.38]), np.array([0.74, 0.60, -0.30]), np.array([0.82, 0.52, -0.24]))
THUMB_BONES = (0.042, 0.033, 0.029)
THUMB_RADIUS = (0.0165, 0.0115, 0.0105, 0.0088)  # at base ring, MCP, IP, tip


@dataclass
class HandGeometry:
    """Rest surface and rig landmarks in MANO's right-hand frame (metres).

    verts (778, 3); faces (1538, 3); wrist_faces (14, 3) close the wrist opening; wrist_loop (16,) boundary ids;
    tips (5,) apex ids [thumb, index, middle, ring, pinky]; joints (16, 3) MANO-order joint targets;
    bone_ends (16, 3) end point of each joint's bone (child joint or fingertip; the wrist's is the middle MCP);
    chain (778,) which chain each vertex belongs to (-1 palm, else the MANO id of the chain's first joint);
    chain_s (778,) arc length (m) from that chain's first joint (palm: u relative to the wrist joint);
    flex_axes (16, 3) / spread_axes (16, 3) unit rotation axes (MANO frame) of flexion / abduction per joint.
    """

    verts: np.ndarray
    faces: np.ndarray
    wrist_faces: np.ndarray
    wrist_loop: np.ndarray
    tips: np.ndarray
    joints: np.ndarray
    bone_ends: np.ndarray
    chain: np.ndarray
    chain_s: np.ndarray
    flex_axes: np.ndarray
    spread_axes: np.ndarray


def to_mano_frame(points_uwn: np.ndarray) -> np.ndarray:
    """(..., 3) local (u, w, n) -> MANO right-hand frame (x, y, z) = (-u, n, w); a proper rotation."""
    p = np.asarray(points_uwn)
    return np.stack([-p[..., 0], p[..., 2], p[..., 1]], axis=-1)


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def ring_angles(n: int) -> np.ndarray:
    """Half-step offset angles, so that each side of the ring has two corner vertices (web edges)."""
    return 2 * np.pi * (np.arange(n) + 0.5) / n


def shape_variant(**factors) -> HandShape:
    """HandShape with the given factors (all others 1)."""
    return replace(HandShape(), **factors)
