"""Synthetic hand written in the exact file format of the official MANO_RIGHT.pkl / MANO_LEFT.pkl.

The official MANO files are licence-gated, so every test, synthetic dataset and demo runs on this hand instead.
It has MANO's array shapes (778 vertices, 1538 faces, 16 joints in MANO's order and kinematic tree, 10 shape
and 135 pose blend-shape directions, a 45x45 pose basis) and is stored as plain numpy / scipy objects in a
protocol-2 pickle (no chumpy).

Frame (right hand, as MANO's template): metres, fingers along -x (wrist at +x), palm facing -y, thumb towards
+z, origin near the middle-finger MCP joint. The left hand is the mirror image (x negated).

Shape space: beta_k moves the surface along finite-difference derivatives of the parametric generator, one
anthropometric factor each (hand_dimensions.HandShape): 0 overall size, 1 finger length, 2 palm width,
3 finger thickness, 4 palm length, 5 palm thickness, 6 thumb length, 7 finger spread, 8 thenar size,
9 fingertip taper.  Pose space: components 1.. are grasp, spread, thumb opposition, pointing, knuckle-vs-finger
bend, thumb curl, radial-vs-ulnar curl, then a seeded orthonormal completion.

    python -m handobjectconsist.synth mano --out assets/mano_synth [--seed 0] [--preview hand.png]
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from handobjectconsist.synth.hand_dimensions import HandShape
from handobjectconsist.synth.hand_geometry import build_hand_geometry
from handobjectconsist.synth.hand_pose_space import example_coefficients, orthonormal_components, relaxed_mean
from handobjectconsist.synth.hand_rigging import joint_regressor, pose_correctives, skinning_weights

NUM_JOINTS = 16
ROOT_PARENT = 4294967295  # the official files store the root's parent as uint32(-1) in an int64 array
# MANO order: 0 wrist, 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb.
MANO_PARENTS = (ROOT_PARENT, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
# (HandShape field, change of the factor for beta = +1)
SHAPE_DIRECTIONS = (
    ("size", 0.06),
    ("finger_length", 0.06),
    ("palm_width", 0.06),
    ("finger_thickness", 0.08),
    ("palm_length", 0.05),
    ("palm_thickness", 0.08),
    ("thumb_length", 0.07),
    ("finger_spread", 0.35),
    ("thenar", 0.15),
    ("tip_taper", 0.3),
)
OFFICIAL_KEYS = (
    "v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f", "kintree_table",
    "hands_components", "hands_mean", "hands_coeffs", "J", "bs_style", "bs_type",
)  # fmt: skip


def shape_blendshapes(template_verts: np.ndarray, rel_step: float = 1e-3) -> np.ndarray:
    """shapedirs (V, 3, 10): central finite differences of the generator, one HandShape factor per beta."""
    dirs = []
    base = HandShape()
    for name, amount in SHAPE_DIRECTIONS:
        value = getattr(base, name)
        plus = build_hand_geometry(replace(base, **{name: value + rel_step})).verts
        minus = build_hand_geometry(replace(base, **{name: value - rel_step})).verts
        dirs.append((plus - minus) / (2 * rel_step) * amount)
    return np.stack(dirs, axis=2)


def _right_hand(seed: int) -> dict:
    geom = build_hand_geometry()
    weights = skinning_weights(geom)
    jreg = joint_regressor(geom.verts, geom.joints)
    return {
        "v_template": geom.verts.astype(np.float64),
        "shapedirs": shape_blendshapes(geom.verts),
        "posedirs": pose_correctives(geom, weights),
        "J_regressor": jreg,
        "weights": weights.astype(np.float64),
        "f": geom.faces.astype(np.uint32),
        "kintree_table": np.array([MANO_PARENTS, np.arange(NUM_JOINTS)], dtype=np.int64),
        "hands_components": orthonormal_components(geom, seed),
        "hands_mean": relaxed_mean(geom),
        "hands_coeffs": example_coefficients(seed),
        "J": np.asarray(jreg @ geom.verts, dtype=np.float64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "hoc_tip_vertex_ids": geom.tips.astype(np.int64),
        "hoc_wrist_faces": geom.wrist_faces.astype(np.int64),
    }


def mirror_to_left(right: dict) -> dict:
    """Left hand = right hand mirrored by x -> -x.

    Points and displacement fields negate x; faces reverse their winding; axis-angle vectors (pseudo-vectors)
    map (x, y, z) -> (x, -y, -z); the pose feature entry (a, b) of (R - I) picks up the sign m_a * m_b with
    m = (-1, 1, 1), so posedirs entry (vertex coord c, a, b) is multiplied by m_c * m_a * m_b.
    """
    m = np.array([-1.0, 1.0, 1.0])
    left = dict(right)
    left["v_template"] = right["v_template"] * m
    left["J"] = right["J"] * m
    left["shapedirs"] = right["shapedirs"] * m[None, :, None]
    feat_sign = np.tile(np.outer(m, m).reshape(9), NUM_JOINTS - 1)
    left["posedirs"] = right["posedirs"] * m[None, :, None] * feat_sign[None, None, :]
    left["f"] = np.ascontiguousarray(right["f"][:, ::-1])
    left["hoc_wrist_faces"] = np.ascontiguousarray(right["hoc_wrist_faces"][:, ::-1])
    aa = np.tile(-m, NUM_JOINTS - 1)  # (1, -1, -1) per joint
    left["hands_components"] = right["hands_components"] * aa[None]
    left["hands_mean"] = right["hands_mean"] * aa
    left["J_regressor"] = right["J_regressor"].copy()
    for key in ("weights", "kintree_table", "hands_coeffs", "hoc_tip_vertex_ids"):
        left[key] = right[key].copy()
    return left


def build_synthetic_mano(side: str = "right", seed: int = 0) -> dict:
    """Synthetic MANO model dict: the official keys, dtypes and ranks plus hoc_tip_vertex_ids (5,) [thumb,
    index, middle, ring, pinky] and hoc_wrist_faces (14, 3) closing the wrist opening.

    The geometry does not depend on the seed; the seed drives the random completion of the pose basis and the
    example coefficients (hands_coeffs).
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    right = _right_hand(seed)
    return right if side == "right" else mirror_to_left(right)


def write_synthetic_mano(out_dir, seed: int = 0) -> list:
    """Write MANO_RIGHT.pkl and MANO_LEFT.pkl (pickle protocol 2) into out_dir; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    right = build_synthetic_mano("right", seed)
    paths = []
    for name, model in (("MANO_RIGHT.pkl", right), ("MANO_LEFT.pkl", mirror_to_left(right))):
        path = out_dir / name
        with open(path, "wb") as f:
            pickle.dump(model, f, protocol=2)
        paths.append(path)
    return paths


def preview_meshes(model: dict) -> tuple[list, list]:
    """A few posed meshes of a model (verts, closed faces) with titles: rest, mean, grasp, spread, shapes."""
    from handobjectconsist.synth.hand_lbs import pose_model

    faces = np.concatenate([model["f"].astype(np.int64), model["hoc_wrist_faces"]])
    comps, mean = model["hands_components"], model["hands_mean"]
    poses = [
        ("rest (flat)", np.zeros(45), None),
        ("hands_mean (relaxed)", mean, None),
        ("mean + 3 x comp 1 (grasp)", mean + 3.0 * comps[0], None),
        ("1.2 x comp 2 (spread)", 1.2 * comps[1], None),
        ("mean + 1.5 x comp 3 (opposition)", mean + 1.5 * comps[2], None),
        ("beta0 = +2, beta1 = -2", np.zeros(45), np.array([2.0, -2.0] + [0.0] * 8)),
    ]
    meshes, titles = [], []
    for title, pose, betas in poses:
        verts, _ = pose_model(model, pose, betas=betas)
        meshes.append((verts, faces))
        titles.append(title)
    return meshes, titles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handobjectconsist.synth mano",
        description="Write a synthetic hand in the MANO file format (MANO_RIGHT.pkl, MANO_LEFT.pkl).",
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pose-basis completion and hands_coeffs")
    parser.add_argument("--preview", default=None, help="optional PNG showing the right hand in a few poses")
    args = parser.parse_args(argv)
    paths = write_synthetic_mano(args.out, seed=args.seed)
    for path in paths:
        print(f"wrote {path}")
    if args.preview:
        from handobjectconsist.synth.hand_preview import save_preview

        with open(paths[0], "rb") as f:
            model = pickle.load(f)
        meshes, titles = preview_meshes(model)
        print(f"wrote {save_preview(args.preview, meshes, titles)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
