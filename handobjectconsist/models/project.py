"""Recovery of a 3D position from a predicted 2D translation and scale (upstream `recover_3d_proj`)."""

from typing import Tuple

import torch

DEFAULT_OFF_Z = 0.4  # metres, depth offset of the affine depth model Z0 = f * scale + off_z


def recover_3d_proj(
    points: torch.Tensor,
    K: torch.Tensor,
    est_scale: torch.Tensor,
    est_trans: torch.Tensor,
    input_res: Tuple[int, int],
    off_z: float = DEFAULT_OFF_Z,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Place centred points in the camera frame.

    The depth of the centre is affine in the predicted scale, Z0 = fx * est_scale + off_z, and its projection is the
    image centre of the input tensor shifted by est_trans pixels. fx is used for both axes (as upstream).

    Args:
        points: (B, N, 3) points centred on the anchor (metres).
        K: (B, 3, 3) intrinsics of the network input.
        est_scale: (B, 1) or (B, 1, 1) scaled scale prediction (already multiplied by scale_factor).
        est_trans: (B, 2) or (B, 1, 2) pixel offset of the anchor projection from the image centre.
        input_res: (W, H) of the network input image tensor.
        off_z: depth offset in metres.
    Returns:
        recovered (B, N, 3) camera-frame points and the anchor position centre (B, 1, 3), metres.
    """
    batch = points.shape[0]
    focal = K[:, 0, 0].view(batch, 1, 1)
    est_scale = est_scale.reshape(batch, 1, 1)
    est_trans = est_trans.reshape(batch, 1, 2)
    img_centre = points.new_tensor([input_res[0] / 2.0, input_res[1] / 2.0]).view(1, 1, 2)
    cam_centre = K[:, :2, 2].view(batch, 1, 2)
    z0 = focal * est_scale + off_z
    xy0 = (est_trans + img_centre - cam_centre) * z0 / focal
    centre = torch.cat([xy0, z0], dim=2)
    return points + centre, centre
