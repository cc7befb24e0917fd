"""Regression heads on top of the image features: MANO parameters, and scale/translation(/rotation) vectors."""

from typing import Dict, Optional, Sequence

import torch
from torch import nn


def relu_mlp(in_dim: int, widths: Sequence[int]):
    """Linear+ReLU layers of the given widths; returns (nn.Sequential, output width). Empty widths: identity."""
    layers = []
    prev = in_dim
    for width in widths:
        layers += [nn.Linear(prev, width), nn.ReLU()]
        prev = width
    return nn.Sequential(*layers), prev


class AbsoluteBranch(nn.Module):
    """MLP feat -> hidden -> ReLU -> out (upstream `AbsoluteBranch`, used for scale/translation/rotation).

    forward(features (B, in_dim)) -> (B, out_dim) raw values (multiplied by the scale/translation factors later).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256,)):
        super().__init__()
        self.decoder, prev = relu_mlp(in_dim, hidden)
        self.final_layer = nn.Linear(prev, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.decoder(features))


class ManoBranch(nn.Module):
    """Features -> MANO pose (root axis-angle + PCA coefficients) and optional shape -> MANO mesh.

    The MANO layers use flat_hand_mean=False (coefficients are offsets from the MANO mean pose, as upstream) and are
    centred on joint `center_idx`. Outputs are in metres.
    """

    def __init__(
        self,
        mano_root: str,
        feature_dim: int = 512,
        neurons: Sequence[int] = (512, 512),
        ncomps: int = 15,
        use_shape: bool = True,
        center_idx: int = 9,
    ):
        super().__init__()
        from handobjectconsist.mano import ManoLayer

        self.base_layer, prev = relu_mlp(feature_dim, neurons)
        self.ncomps = ncomps
        self.pose_reg = nn.Linear(prev, ncomps + 3)
        self.use_shape = use_shape
        self.shape_reg = nn.Sequential(nn.Linear(prev, 10)) if use_shape else None
        layer_args = dict(ncomps=ncomps, use_pca=True, flat_hand_mean=False, center_idx=center_idx)
        self.mano_layer_right = ManoLayer(mano_root, side="right", **layer_args)
        self.mano_layer_left = ManoLayer(mano_root, side="left", **layer_args)

    @property
    def faces(self) -> torch.Tensor:
        """(F, 3) long faces of the right-hand mesh."""
        return self.mano_layer_right.faces

    def forward(self, features: torch.Tensor, sides: Optional[Sequence[str]] = None) -> Dict[str, torch.Tensor]:
        """features (B, C) -> dict verts3d (B, V, 3), joints3d (B, 21, 3) (metres, centred on center_idx),
        pose (B, 3 + ncomps), shape (B, 10) or None. `sides` (B strings) picks the MANO layer per sample."""
        hidden = self.base_layer(features)
        pose = self.pose_reg(hidden)
        shape = self.shape_reg(hidden) if self.use_shape else None
        verts, joints = self.mano_layer_right(pose, shape)
        if sides is not None and any(side == "left" for side in sides):
            verts_left, joints_left = self.mano_layer_left(pose, shape)
            is_left = torch.tensor([side == "left" for side in sides], device=pose.device).view(-1, 1, 1)
            verts = torch.where(is_left, verts_left, verts)
            joints = torch.where(is_left, joints_left, joints)
        return {"verts3d": verts, "joints3d": joints, "shape": shape, "pose": pose}
