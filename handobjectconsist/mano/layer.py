"""Differentiable MANO hand layer: pose (PCA or axis-angle) and shape -> mesh vertices and 21 joints in metres.

Kinematics (blend shapes, joint regression, linear blend skinning) are smplx's; this module reads the model file
itself (no chumpy), handles the PCA pose space and the mean pose, appends the finger tips, reorders the joints to the
project order and centres/translates. Unlike upstream manopth, outputs are in metres (the model files are).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import smplx
import torch
from smplx.utils import Struct
from torch import nn

from handobjectconsist.mano.joints import MANO_TO_PROJECT, NUM_JOINTS
from handobjectconsist.mano.loader import load_mano_model, mano_model_path
from handobjectconsist.mano.topology import hand_topology

NUM_HAND_POSE = 45  # 15 finger joints x 3 axis-angle values


class ManoLayer(nn.Module):
    """MANO hand model as a torch module.

    Args:
        mano_root: folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl (official or synthetic).
        side: "right" or "left".
        ncomps: number of pose PCA components used when use_pca (1..45).
        use_pca: pose given as [root axis-angle (3), PCA coefficients (ncomps)]; else 48-D axis-angle.
        flat_hand_mean: if False, the file's mean hand pose `hands_mean` is added to the finger pose (so zero
            coefficients give the mean pose); if True, zero pose is the flat hand.
        center_idx: joint (project order) on which outputs are centred when forward gets no `trans`; None: no
            centring.

    Attributes:
        faces (F, 3) long; closed_faces (F + K, 3) long, the faces plus the K wrist-closing faces at the end;
        wrist_face_ids (K,) long, indices of the closing faces in closed_faces; tip_vertex_ids list[int]
        (thumb, index, middle, ring, pinky); num_verts int; J_regressor (16, V). The layer has no parameters
        and its buffers are not saved in state_dict (the hand model always comes from the file).
    """

    def __init__(self, mano_root, side="right", ncomps=6, use_pca=True, flat_hand_mean=True, center_idx=None):
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        if use_pca and not 1 <= int(ncomps) <= NUM_HAND_POSE:
            raise ValueError(f"ncomps must be in 1..{NUM_HAND_POSE} when use_pca=True, got {ncomps}")
        if center_idx is not None and not 0 <= int(center_idx) < NUM_JOINTS:
            raise ValueError(f"center_idx must be None or a joint index in 0..{NUM_JOINTS - 1}, got {center_idx}")
        path = mano_model_path(mano_root, side)
        model = load_mano_model(path)
        topology = hand_topology(model, side, path)

        self.side = side
        self.use_pca = bool(use_pca)
        self.ncomps = int(ncomps) if use_pca else NUM_HAND_POSE
        self.flat_hand_mean = bool(flat_hand_mean)
        self.center_idx = None if center_idx is None else int(center_idx)
        self.num_verts = int(model["v_template"].shape[0])
        self.num_betas = int(model["shapedirs"].shape[-1])
        self.tip_vertex_ids = list(topology.tip_vertex_ids)
        self.model_path = path

        self.smplx_mano = _build_smplx_mano(model, side)
        components = torch.as_tensor(model["hands_components"], dtype=torch.float32)
        self.register_buffer("hands_components", components[: self.ncomps].clone())  # (ncomps, 45)
        hands_mean = torch.as_tensor(model["hands_mean"], dtype=torch.float32).reshape(NUM_HAND_POSE)
        self.register_buffer("hands_mean", torch.zeros_like(hands_mean) if flat_hand_mean else hands_mean)
        faces = torch.as_tensor(model["f"], dtype=torch.long)
        wrist_faces = torch.as_tensor(topology.wrist_faces, dtype=torch.long)
        self.register_buffer("faces", faces)
        self.register_buffer("closed_faces", torch.cat([faces, wrist_faces], dim=0))
        self.register_buffer("wrist_face_ids", torch.arange(len(faces), len(faces) + len(wrist_faces)))
        self.register_buffer("_tip_ids", torch.as_tensor(self.tip_vertex_ids, dtype=torch.long), persistent=False)
        self.register_buffer("_reorder", torch.as_tensor(MANO_TO_PROJECT, dtype=torch.long), persistent=False)
        # The hand model comes from the model file, not from checkpoints: keep every constant out of state_dict so
        # that loading a checkpoint never swaps one hand model (official/synthetic) for another.
        for module in self.modules():
            for name, buffer in list(module.named_buffers(recurse=False)):
                module.register_buffer(name, buffer, persistent=False)

    @property
    def J_regressor(self) -> torch.Tensor:
        """(16, V) dense joint regressor."""
        return self.smplx_mano.J_regressor

    @property
    def pose_dim(self) -> int:
        """Width of the `pose` argument: 3 + ncomps with PCA, else 48."""
        return 3 + self.ncomps if self.use_pca else 3 + NUM_HAND_POSE

    def full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, pose_dim) layer pose -> (B, 48) axis-angle [root, 15 finger joints] including the mean pose."""
        if pose.dim() != 2 or pose.shape[1] != self.pose_dim:
            layout = f"[root axis-angle, {self.ncomps} PCA coeffs]" if self.use_pca else "axis-angle of 16 joints"
            raise ValueError(f"pose must have shape (B, {self.pose_dim}) = {layout}, got {tuple(pose.shape)}")
        root, hand = pose[:, :3], pose[:, 3:]
        if self.use_pca:
            hand = hand @ self.hands_components
        return torch.cat([root, hand + self.hands_mean], dim=1)

    def forward(self, pose, betas=None, trans=None):
        """Pose and shape the hand.

        Args:
            pose: (B, 3 + ncomps) [root axis-angle, PCA coefficients] if use_pca, else (B, 48) axis-angle.
            betas: (B, 10) shape coefficients, or None for the template shape.
            trans: (B, 3) translation in metres added to the outputs (then no centring), or None.
        Returns:
            verts (B, V, 3) and joints (B, 21, 3) in metres, joints in project order (see mano.joints).
        """
        full_pose = self.full_pose(pose)
        batch_size = pose.shape[0]
        if betas is None:
            betas = full_pose.new_zeros(batch_size, self.num_betas)
        elif betas.shape != (batch_size, self.num_betas):
            raise ValueError(f"betas must have shape ({batch_size}, {self.num_betas}) or be None, "
                             f"got {tuple(betas.shape)}")
        output = self.smplx_mano(betas=betas, global_orient=full_pose[:, :3], hand_pose=full_pose[:, 3:])
        verts = output.vertices
        joints = torch.cat([output.joints, verts[:, self._tip_ids]], dim=1)[:, self._reorder]
        if trans is not None:
            if trans.shape != (batch_size, 3):
                raise ValueError(f"trans must have shape ({batch_size}, 3) or be None, got {tuple(trans.shape)}")
            offset = trans.unsqueeze(1)
        elif self.center_idx is not None:
            offset = -joints[:, self.center_idx : self.center_idx + 1]
        else:
            return verts, joints
        return verts + offset, joints + offset

    def extra_repr(self) -> str:
        return (f"side={self.side}, use_pca={self.use_pca}, ncomps={self.ncomps}, "
                f"flat_hand_mean={self.flat_hand_mean}, center_idx={self.center_idx}, num_verts={self.num_verts}")


def _build_smplx_mano(model: dict, side: str) -> smplx.MANO:
    """smplx MANO on the already loaded arrays, in plain axis-angle mode (PCA and mean pose are handled here)."""
    data = {key: np.asarray(model[key]) for key in ("v_template", "shapedirs", "posedirs", "J_regressor",
                                                     "weights", "f", "kintree_table", "hands_components",
                                                     "hands_mean")}
    # smplx prints a warning for every model with fewer than 300 shape components; MANO always has 10.
    with contextlib.redirect_stdout(io.StringIO()):
        return smplx.MANO(
            model_path="",
            is_rhand=side == "right",
            data_struct=Struct(**data),
            use_pca=False,
            flat_hand_mean=True,
            num_betas=model["shapedirs"].shape[-1],
            create_global_orient=False,
            create_body_pose=False,
            create_hand_pose=False,
            create_betas=False,
            create_transl=False,
        )
