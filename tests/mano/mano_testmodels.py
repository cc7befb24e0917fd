"""Test helpers for the MANO tests: small random MANO-format models, mirroring, writing pickles."""

import pickle

import numpy as np
import scipy.sparse

# MANO kinematic tree: wrist, then index, middle, pinky, ring, thumb chains of 3 joints each.
MANO_PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])


def make_random_mano(num_verts=60, seed=0, with_topology=True):
    """A random model dict with the official keys, ranks and dtypes (J_regressor sparse like the real files)."""
    rng = np.random.default_rng(seed)
    num_faces = 2 * num_verts
    faces = np.stack([rng.choice(num_verts, 3, replace=False) for _ in range(num_faces)]).astype(np.int64)
    regressor = rng.random((16, num_verts)) * (rng.random((16, num_verts)) < 0.3)
    regressor[:, 0] += 1e-3  # no empty row
    weights = rng.random((num_verts, 16)) ** 4
    kintree = np.stack([MANO_PARENTS, np.arange(16)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the official files
    model = {
        "v_template": rng.normal(scale=0.04, size=(num_verts, 3)),
        "shapedirs": rng.normal(scale=0.005, size=(num_verts, 3, 10)),
        "posedirs": rng.normal(scale=0.003, size=(num_verts, 3, 135)),
        "J_regressor": scipy.sparse.csc_matrix(regressor / regressor.sum(1, keepdims=True)),
        "weights": weights / weights.sum(1, keepdims=True),
        "f": faces,
        "kintree_table": kintree,
        "hands_components": np.linalg.qr(rng.normal(size=(45, 45)))[0].T,
        "hands_mean": rng.normal(scale=0.3, size=45),
        "hands_coeffs": rng.normal(size=(5, 45)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    if with_topology:
        model["hoc_tip_vertex_ids"] = rng.choice(num_verts, 5, replace=False).astype(np.int64)
        model["hoc_wrist_faces"] = np.stack([rng.choice(num_verts, 3, replace=False) for _ in range(4)])
    return model


def mirror_pose(pose):
    """Axis-angle (..., 3k) of the x-mirrored motion: (x, y, z) -> (x, -y, -z) per joint."""
    signs = np.tile([1.0, -1.0, -1.0], pose.shape[-1] // 3)
    return pose * signs


def mirror_mano_model(model):
    """The model mirrored through the plane x = 0 (how a left hand relates to a right one).

    Vertex offsets get their x negated; a mirrored rotation is M R M with M = diag(-1, 1, 1), so the pose feature
    entry (a, b) of R - I changes sign by M_aa M_bb; faces reverse their winding; the pose PCA acts on mirrored
    axis-angle (x, -y, -z).
    """
    flip = np.array([-1.0, 1.0, 1.0])
    feature_signs = np.tile(np.outer(flip, flip).reshape(9), 15)
    mirrored = dict(model)
    mirrored["v_template"] = model["v_template"] * flip
    mirrored["shapedirs"] = model["shapedirs"] * flip[None, :, None]
    mirrored["posedirs"] = model["posedirs"] * flip[None, :, None] * feature_signs[None, None, :]
    mirrored["f"] = np.asarray(model["f"])[:, ::-1].copy()
    mirrored["hands_components"] = mirror_pose(np.asarray(model["hands_components"]))
    mirrored["hands_mean"] = mirror_pose(np.asarray(model["hands_mean"]))
    if "hoc_wrist_faces" in model:
        mirrored["hoc_wrist_faces"] = np.asarray(model["hoc_wrist_faces"])[:, ::-1].copy()
    return mirrored


def write_model(path, model):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(model, handle, protocol=2)
    return path
