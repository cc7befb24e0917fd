"""Minimal numpy linear-blend skinning of a MANO-format model dict (for previews and sanity checks)."""

from __future__ import annotations

import numpy as np

from libyana.rotations import axis_angle_to_matrix_np


def pose_model(model: dict, hand_pose: np.ndarray, root=None, betas=None):
    """Pose a MANO model dict: hand_pose (45,) axis-angle added to nothing (flat mean), root (3,), betas (10,).

    Returns verts (V, 3) and joints (16, 3) in metres, MANO joint order.
    """
    jreg = model["J_regressor"]
    jreg = jreg.toarray() if hasattr(jreg, "toarray") else np.asarray(jreg)
    v = model["v_template"].copy()
    if betas is not None:
        v = v + model["shapedirs"] @ np.asarray(betas)
    joints = jreg @ v
    full = np.concatenate([np.zeros(3) if root is None else np.asarray(root), np.asarray(hand_pose)])
    rots = axis_angle_to_matrix_np(full.reshape(16, 3))
    feat = (rots[1:] - np.eye(3)[None]).reshape(-1)
    v = v + model["posedirs"] @ feat
    parents = model["kintree_table"][0]
    transforms = np.zeros((16, 4, 4))
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if j > 0 else 0.0)
        transforms[j] = local if j == 0 else transforms[parents[j]] @ local
    posed_joints = transforms[:, :3, 3].copy()
    rel = transforms.copy()
    rel[:, :3, 3] -= np.einsum("jab,jb->ja", transforms[:, :3, :3], joints)
    blended = np.einsum("vj,jab->vab", model["weights"], rel)
    verts = np.einsum("vab,vb->va", blended[:, :3, :3], v) + blended[:, :3, 3]
    return verts, posed_joints
