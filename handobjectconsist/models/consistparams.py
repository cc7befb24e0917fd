"""Which predicted parameters the photometric gradient may move (--consist_params; beyond the paper).

MeshRegNet composes the query meshes (models.meshregnet, models.project) as
    hand   = R_root (V0(articulation, shape)) + c(scale_h, trans_h)
    object = R_obj  P                          + c(scale_o, trans_o)
where V0 is the MANO mesh centred on the root joint before the root rotation (MANO rotates the whole articulated
hand about its wrist; centring on the root joint afterwards leaves exactly R_root V0), and the centre
c = ((trans + image centre - principal point) z0 / f, z0) with z0 = f * scale + off_z (recover_3d_proj): the
predicted "scale" IS the depth of the part, and the 2D translation moves the centre in the plane z = z0.

Modes (the value of every mesh is the prediction itself; only what the gradient reaches changes):
- "all": the predicted meshes as they are (upstream).
- "global": the hand's finger articulation and shape are detached; the hand's root rotation, scale and
  translation and the object's rotation, scale and translation receive the gradient (the object is unchanged).
  The hand mesh is rebuilt so that its value is bit for bit the prediction and its gradient that of R_root V0 with
  V0 constant (``_root_rotation_only``).
- "lateral": "global" without depth: the scales (the depth z0 of both parts) are detached too, so the translation
  moves each part parallel to the image plane at its predicted depth, and the rotations still act.
"""

from typing import Dict, Optional, Tuple

import torch

from handobjectconsist.models.project import recover_3d_proj
from libyana.rotations import axis_angle_to_matrix

CONSIST_PARAMS = ("all", "global", "lateral")


def _root_rotation_only(verts: torch.Tensor, root_axis_angle: torch.Tensor) -> torch.Tensor:
    """The root-centred hand mesh with gradient only through its root rotation.

    Args:
        verts: (B, V, 3) root-centred hand vertices R V0 (rows), metres.
        root_axis_angle: (B, 3) the MANO root rotation (radians) that produced them.
    Returns:
        (B, V, 3) equal to ``verts`` exactly (value ``verts.detach() + 0``); its derivative with respect to the
        root rotation is that of R V0 with V0 = R^T verts held constant, and it has none with respect to anything
        else (articulation, shape).
    """
    rotation = axis_angle_to_matrix(root_axis_angle)  # (B, 3, 3)
    fixed = rotation.detach()
    rest = verts.detach() @ fixed  # rows of V0 = R^T V
    # (R - R0) is exactly 0 in value, so the sum equals verts exactly; d/dR of rest @ R^T is the gradient of R V0.
    return verts.detach() + rest @ (rotation - fixed).transpose(1, 2)


def consist_query_meshes(results: Dict, K: torch.Tensor, input_res: Tuple[int, int], params: str = "all"
                         ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The query's hand and object meshes for the photometric loss, with the gradient restricted by `params`.

    Args:
        results: MeshRegNet results of the query frames: "recov_handverts3d", "verts3d", "pose", "hand_scale",
            "hand_trans" and, with an object, "recov_objverts3d", "obj_verts3d", "obj_scale", "obj_trans".
        K: (B, 3, 3) intrinsics of the network input (those the results were placed with).
        input_res: (W, H) of the network input.
        params: "all" | "global" | "lateral" (module docstring).
    Returns:
        hand (B, Vh, 3) and object (B, N, 3) or None, camera frame, metres; with "all" the result tensors themselves.
    """
    if params not in CONSIST_PARAMS:
        raise ValueError(f"consist params must be one of {CONSIST_PARAMS}, got {params!r}")
    hand, obj = results["recov_handverts3d"], results.get("recov_objverts3d")
    if params == "all":
        return hand, obj
    depth = (lambda scale: scale.detach()) if params == "lateral" else (lambda scale: scale)
    local = _root_rotation_only(results["verts3d"], results["pose"][:, :3])
    hand, _ = recover_3d_proj(local, K, depth(results["hand_scale"]), results["hand_trans"], input_res)
    if obj is not None and params == "lateral":
        obj, _ = recover_3d_proj(results["obj_verts3d"], K, depth(results["obj_scale"]), results["obj_trans"],
                                 input_res)
    return hand, obj
