"""Pose space of the synthetic hand in MANO's layout: PCA-like components, mean pose, example coefficients.

A hand pose is 45 values: axis-angle (3) of each of the 15 non-root joints in MANO order (1-3 index, 4-6 middle,
7-9 pinky, 10-12 ring, 13-15 thumb), expressed in the rest frame. The first components are designed synergies
(grasp, spread, thumb opposition, ...) orthonormalised in order; the rest completes an orthonormal basis from
seeded random directions.
"""

from __future__ import annotations

import numpy as np

from handobjectconsist.synth.hand_dimensions import HandGeometry

FINGER_JOINTS = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12)}
THUMB_JOINTS = (13, 14, 15)
# Natural spread of the coefficients: the designed synergies (first 7) first, the random completion kept small.
COEFF_STD = np.concatenate([[1.5, 0.5, 0.7, 0.7, 0.5, 0.6, 0.5], 0.12 * np.exp(-np.arange(38) / 10.0)])


def _set(pose, joint, vec):
    pose[3 * (joint - 1) : 3 * joint] += vec


def _opposition_axis(geom: HandGeometry) -> np.ndarray:
    """Axis (3,) rotating the thumb metacarpal towards the front of the palm and the little finger."""
    d = geom.bone_ends[13] - geom.joints[13]
    d = d / np.linalg.norm(d)
    target = np.array([-0.85, -0.5, -0.1])  # MANO frame: distal, in front of the palm, towards the fingers
    axis = np.cross(d, target / np.linalg.norm(target))
    return axis / np.linalg.norm(axis)


def synergies(geom: HandGeometry) -> np.ndarray:
    """Designed pose directions (K, 45), not yet orthonormal, most important first."""
    flex, spread = geom.flex_axes, geom.spread_axes
    opp = _opposition_axis(geom)
    out = []
    # 1 grasp: every finger curls (ulnar fingers a little more), thumb opposes and bends
    p = np.zeros(45)
    for name, amount in (("index", 0.9), ("middle", 1.0), ("ring", 1.05), ("pinky", 1.1)):
        for j, lvl in zip(FINGER_JOINTS[name], (1.0, 1.1, 0.7)):
            _set(p, j, amount * lvl * flex[j])
    _set(p, 13, 0.6 * opp)
    _set(p, 14, 0.5 * flex[14])
    _set(p, 15, 0.6 * flex[15])
    out.append(p)
    # 2 spread: fingers fan out at the MCPs, thumb abducts
    p = np.zeros(45)
    for name, amount in (("index", 1.0), ("middle", 0.2), ("ring", -0.7), ("pinky", -1.2)):
        _set(p, FINGER_JOINTS[name][0], amount * spread[FINGER_JOINTS[name][0]])
    _set(p, 13, -0.8 * opp)
    out.append(p)
    # 3 thumb opposition with a light pinch of the index
    p = np.zeros(45)
    _set(p, 13, 1.2 * opp)
    _set(p, 14, 0.4 * flex[14])
    _set(p, 15, 0.3 * flex[15])
    for j, lvl in zip(FINGER_JOINTS["index"], (0.5, 0.6, 0.4)):
        _set(p, j, lvl * flex[j])
    out.append(p)
    # 4 pointing: index straight, other fingers curl
    p = np.zeros(45)
    for name, amount in (("index", -1.0), ("middle", 0.6), ("ring", 0.8), ("pinky", 0.8)):
        for j, lvl in zip(FINGER_JOINTS[name], (1.0, 1.0, 0.6)):
            _set(p, j, amount * lvl * flex[j])
    out.append(p)
    # 5 knuckle vs. finger bend (flat "duck" hand against a hook)
    p = np.zeros(45)
    for name in FINGER_JOINTS:
        a, b, c = FINGER_JOINTS[name]
        _set(p, a, 1.0 * flex[a])
        _set(p, b, -0.8 * flex[b])
        _set(p, c, -0.5 * flex[c])
    out.append(p)
    # 6 thumb curl alone
    p = np.zeros(45)
    _set(p, 14, 1.0 * flex[14])
    _set(p, 15, 1.0 * flex[15])
    out.append(p)
    # 7 radial vs. ulnar curl
    p = np.zeros(45)
    for name, amount in (("index", 0.8), ("middle", 0.3), ("ring", -0.4), ("pinky", -0.8)):
        for j, lvl in zip(FINGER_JOINTS[name], (1.0, 1.0, 0.7)):
            _set(p, j, amount * lvl * flex[j])
    out.append(p)
    return np.stack(out)


def orthonormal_components(geom: HandGeometry, seed: int) -> np.ndarray:
    """hands_components (45, 45): orthonormal rows, designed synergies first, seeded random completion."""
    rng = np.random.default_rng(seed)
    designed = synergies(geom)
    fill = rng.standard_normal((45, 45))
    q, r = np.linalg.qr(np.concatenate([designed, fill]).T)
    comps = q[:, :45].T
    # QR may flip signs: keep every designed component pointing the designed way
    signs = np.sign(np.diag(r)[:45])
    comps = comps * signs[:, None]
    return comps


def relaxed_mean(geom: HandGeometry) -> np.ndarray:
    """hands_mean (45,): a relaxed, slightly curled hand (ulnar fingers more), thumb slightly opposed."""
    p = np.zeros(45)
    for name, amount in (("index", 0.8), ("middle", 1.0), ("ring", 1.15), ("pinky", 1.3)):
        for j, ang in zip(FINGER_JOINTS[name], (0.22, 0.35, 0.18)):
            _set(p, j, amount * ang * geom.flex_axes[j])
    spreads = {"index": 0.06, "middle": 0.0, "ring": -0.05, "pinky": -0.12}
    for name, ang in spreads.items():
        j = FINGER_JOINTS[name][0]
        _set(p, j, ang * geom.spread_axes[j])
    _set(p, 13, 0.25 * _opposition_axis(geom))
    _set(p, 14, 0.15 * geom.flex_axes[14])
    _set(p, 15, 0.25 * geom.flex_axes[15])
    return p


def example_coefficients(seed: int, num: int = 128) -> np.ndarray:
    """hands_coeffs (num, 45): example pose coefficients with variance decaying along the components."""
    rng = np.random.default_rng(seed + 1)
    return rng.standard_normal((num, 45)) * COEFF_STD[None]
