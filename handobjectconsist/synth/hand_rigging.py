"""Rig of the synthetic hand: skinning weights, joint regressor, pose corrective blend shapes (MANO layout)."""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.sparse

from handobjectconsist.synth.hand_dimensions import FINGER_FIRST_JOINT, HandGeometry

NUM_JOINTS = 16
# Blend centre (m along the chain from the joint) and width of the parent->child transition at each chain level.
LEVEL_BLEND = ((0.007, 0.006), (0.0, 0.0035), (0.0, 0.0035))
THUMB_BLEND = ((0.004, 0.008), (0.0, 0.005), (0.0, 0.004))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(x))


def _chain_weights(s: np.ndarray, knots: np.ndarray, blend) -> np.ndarray:
    """Weights (N, 4) over [root, level1, level2, level3] for arc lengths s (N,).

    The chain has its joints at arc lengths knots (3,).

    Telescoping differences of monotone sigmoids: non-negative and summing to 1.
    """
    steps = [_sigmoid((s - k - c) / w) for k, (c, w) in zip(knots, blend)]
    ones = np.ones_like(s)
    zeros = np.zeros_like(s)
    cum = [ones] + steps + [zeros]
    return np.stack([cum[i] - cum[i + 1] for i in range(4)], axis=1)


def _vertex_neighbours(num_verts: int, faces: np.ndarray) -> scipy.sparse.csr_matrix:
    """Row-normalised 1-ring adjacency (V, V)."""
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    adj = scipy.sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(num_verts, num_verts))
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(axis=1)).ravel()
    return scipy.sparse.diags(1.0 / deg) @ adj


def skinning_weights(geom: HandGeometry, smoothing_steps: int = 2) -> np.ndarray:
    """LBS weights (V, 16), rows non-negative and summing to 1.

    Finger/thumb vertices blend along their own chain by arc length (sigmoid transitions at the joints); palm
    vertices take the level-1 weights of the fingers, shared across fingers by lateral proximity, plus thumb
    (joint 13) weight on the thenar region. A few uniform-Laplacian steps then smooth the result.
    """
    verts, joints = geom.verts, geom.joints
    num = len(verts)
    weights = np.zeros((num, NUM_JOINTS))
    finger_chains = {}
    for name, first in FINGER_FIRST_JOINT.items():
        d = geom.bone_ends[first] - joints[first]
        d = d / np.linalg.norm(d)
        bones = np.linalg.norm(geom.bone_ends[first : first + 3] - joints[first : first + 3], axis=1)
        knots = np.concatenate([[0.0], np.cumsum(bones)[:2]])
        finger_chains[name] = (first, d, knots)

    def put(mask, first, chain_w):
        weights[mask, 0] += chain_w[:, 0]
        weights[mask, first : first + 3] += chain_w[:, 1:]

    # vertices on a finger or thumb tube
    for name, (first, d, knots) in finger_chains.items():
        mask = geom.chain == first
        blend = THUMB_BLEND if name == "thumb" else LEVEL_BLEND
        put(mask, first, _chain_weights(geom.chain_s[mask], knots, blend))

    # palm vertices: lateral partition of unity over the four fingers
    palm = geom.chain == -1
    p = verts[palm]
    lateral = []
    along = []
    for name in ("index", "middle", "ring", "pinky"):
        first, d, knots = finger_chains[name]
        rel = p - joints[first]
        s = rel @ d
        perp = rel - s[:, None] * d[None]
        along.append(s)
        lateral.append(np.linalg.norm(perp[:, [0, 2]], axis=1))  # distance across the palm plane (x, z)
    lateral = np.stack(lateral, axis=1)
    share = np.exp(-((lateral / 0.009) ** 2))
    share = share / (share.sum(axis=1, keepdims=True) + 1e-12)
    share = np.where(np.isfinite(share), share, 0.25)
    palm_w = np.zeros((len(p), NUM_JOINTS))
    for k, name in enumerate(("index", "middle", "ring", "pinky")):
        first, d, knots = finger_chains[name]
        cw = _chain_weights(along[k], knots, LEVEL_BLEND) * share[:, k : k + 1]
        palm_w[:, 0] += cw[:, 0]
        palm_w[:, first : first + 3] += cw[:, 1:]
    # thenar: part of the palm follows the thumb metacarpal (joint 13)
    first, d, knots = finger_chains["thumb"]
    rel = p - joints[first]
    s = rel @ d
    dist = np.linalg.norm(rel - s[:, None] * d[None], axis=1)
    thenar = 0.85 * _sigmoid((s + 0.004) / 0.006) * np.exp(-((dist / 0.017) ** 2))
    palm_w *= (1.0 - thenar)[:, None]
    palm_w[:, first] += thenar
    weights[palm] = palm_w

    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    nb = _vertex_neighbours(num, np.concatenate([geom.faces, geom.wrist_faces]))
    for _ in range(smoothing_steps):
        weights = 0.5 * weights + 0.5 * (nb @ weights)
    weights[weights < 1e-6] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def joint_regressor(verts: np.ndarray, targets: np.ndarray, num_candidates: int = 24, smooth: float = 0.02):
    """Sparse (16, V) regressor with non-negative rows summing to 1 whose output approximates targets (16, 3).

    Per joint: non-negative least squares over the nearest vertices, with a heavily weighted sum-to-one row and a
    small pull towards uniform weights (so the joint follows a neighbourhood, not one vertex).
    """
    rows, cols, vals = [], [], []
    for j, target in enumerate(targets):
        cand = np.argsort(np.linalg.norm(verts - target, axis=1))[:num_candidates]
        k = len(cand)
        scale = 1.0 / 0.01  # metres -> centimetres-ish, so position and regularisation rows are comparable
        a = np.concatenate([verts[cand].T * scale, 100.0 * np.ones((1, k)), smooth * np.eye(k)])
        b = np.concatenate([target * scale, [100.0], smooth * np.full(k, 1.0 / k)])
        w, _ = scipy.optimize.nnls(a, b)
        w = w / w.sum()
        keep = w > 1e-8
        rows += [j] * int(keep.sum())
        cols += list(cand[keep])
        vals += list(w[keep])
    order = np.lexsort((np.array(rows), np.array(cols)))
    mat = scipy.sparse.csc_matrix(
        (np.array(vals)[order], (np.array(rows)[order], np.array(cols)[order])), shape=(len(targets), len(verts))
    )
    mat.sort_indices()
    return mat


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3).

    Kept apart from render.vertex_normals on purpose: the synthetic MANO files are defined by this float64 numpy
    arithmetic (division by norm + 1e-12, not by max(norm, eps)), and sharing the torch function would change their
    bytes and every synthetic set built on them.
    """
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / (np.linalg.norm(vn, axis=1, keepdims=True) + 1e-12)


def pose_correctives(geom: HandGeometry, weights: np.ndarray, bulge: float = 0.004) -> np.ndarray:
    """posedirs (V, 3, 135): a bend at joint j pushes the vertices around it outwards by bulge * (1 - cos angle).

    The pose feature of joint j is (R_j - I) flattened (9 values); its trace is -2 (1 - cos angle), so the
    correction only reads the diagonal entries and does not depend on the rotation axis.
    """
    parents = {j: (0 if j in FINGER_FIRST_JOINT.values() else j - 1) for j in range(1, NUM_JOINTS)}
    normals = vertex_normals(geom.verts, np.concatenate([geom.faces, geom.wrist_faces]))
    posedirs = np.zeros((len(geom.verts), 3, 9 * (NUM_JOINTS - 1)))
    for j in range(1, NUM_JOINTS):
        around = np.clip(4.0 * weights[:, j] * weights[:, parents[j]], 0.0, 1.0)
        offset = -0.5 * bulge * around[:, None] * normals
        for diag in (0, 4, 8):
            posedirs[:, :, 9 * (j - 1) + diag] = offset
    return posedirs
