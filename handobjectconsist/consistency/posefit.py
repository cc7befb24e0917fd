"""Rigid pose refinement of a hand and an object by the photometric consistency loss alone (the demo's last stage).

Given an unannotated QUERY frame, an annotated REFERENCE frame of the same sequence with its hand and object meshes,
and starting meshes for the query (in the demo: its ground truth moved by known offsets), a rigid motion of each
part is optimised: hand(p) = R(w_h) (H0 - mean(H0)) + mean(H0) + t_h, likewise for the object. The loss is exactly
the training one: the flow between the query's current meshes and the reference meshes is rendered
(``mesh_pair_flow``, on the reference grid), the query image is warped with it and compared with the reference
image (``pair_photometric_loss``, masked L1; optionally averaged over a pyramid, ``scales``). No annotation of the
query frame enters the loss.

Parameters are held in degrees (rotations) and millimetres (translations) so that one Adam step moves each by at
most about ``lr`` of its unit; the learning rate decays with a cosine from ``lr`` to ``lr / 10``.
"""

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from handobjectconsist.consistency.pyramid import pyramid_pair_loss
from libyana.meshutils import concat_meshes

PART_NAMES = ("hand", "object")


def rotation_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(3,) axis-angle in radians -> (3, 3) rotation matrix (matrix exponential of its skew matrix; differentiable,
    exact at 0)."""
    x, y, z = axis_angle.unbind()
    zero = torch.zeros_like(x)
    skew = torch.stack([torch.stack([zero, -z, y]), torch.stack([z, zero, -x]), torch.stack([-y, x, zero])])
    return torch.linalg.matrix_exp(skew)


def move_rigidly(verts: torch.Tensor, axis_angle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Rotate (V, 3) vertices about their mean by axis_angle (3,) radians, then translate by translation (3,)
    metres; returns (V, 3)."""
    centre = verts.mean(dim=0, keepdim=True)
    return (verts - centre) @ rotation_matrix(axis_angle).T + centre + translation


@dataclass
class FitState:
    """One evaluation of the fit (step 0: the start, before any update).

    Attributes:
        step: number of optimiser updates applied before this state.
        loss: photometric loss (mean absolute RGB difference over the valid reference pixels, images in [0, 1]
            units since the inputs are in [-0.5, 0.5]).
        rotations_deg, translations_mm: {"hand", "object"} -> (3,) the optimised motion so far (camera axes).
        hand_verts (Vh, 3), obj_verts (No, 3): the query meshes (camera frame, metres).
        flow: (2, H, W) pixels on the reference grid; mask (H, W) valid pixels of the loss; error (H, W) per-pixel
            error (mean over channels, 0 outside the mask); warped_query (3, H, W) in [-0.5, 0.5].
    """

    step: int
    loss: float
    rotations_deg: dict
    translations_mm: dict
    hand_verts: torch.Tensor
    obj_verts: torch.Tensor
    flow: torch.Tensor
    mask: torch.Tensor
    error: torch.Tensor
    warped_query: torch.Tensor


def fit_rigid_motions(
    image_query: torch.Tensor,
    image_ref: torch.Tensor,
    K_query: torch.Tensor,
    K_ref: torch.Tensor,
    hand_start: torch.Tensor,
    obj_start: torch.Tensor,
    hand_ref: torch.Tensor,
    obj_ref: torch.Tensor,
    hand_faces: torch.Tensor,
    obj_faces: torch.Tensor,
    ignore_face_ids: Optional[Sequence[int]] = None,
    steps: int = 60,
    lr: float = 1.0,
    criterion: str = "l1",
    optimise_depth: bool = True,
    scales: Sequence[int] = (1,),
) -> List[FitState]:
    """Optimise a rigid motion of the query hand and object by the photometric loss against the reference frame.

    Args:
        image_query, image_ref: (3, H, W) RGB in [-0.5, 0.5] (the network input convention).
        K_query, K_ref: (3, 3) intrinsics of the two images, pixels.
        hand_start (Vh, 3), obj_start (No, 3): the query meshes the motion starts from (camera frame, metres).
        hand_ref (Vh, 3), obj_ref (No, 3): the reference frame's meshes (its annotation), same topologies.
        hand_faces: (Fh, 3) long, closed hand faces; obj_faces (Fo, 3) long, object-local indices.
        ignore_face_ids: hand face ids left out of the flow masks (MANO's wrist-closing faces).
        steps: optimiser updates.
        lr: Adam learning rate in degrees / millimetres per step.
        criterion: photometric criterion of pair_photometric_loss.
        optimise_depth: False keeps both translations in the image plane (z fixed).
        scales: pyramid factors of the loss (consistency.pyramid_pair_loss); the states' images are those of the
            first level.
    Returns:
        steps + 1 FitState, from the start to the final state.
    """
    device, dtype = hand_start.device, hand_start.dtype
    ref_verts, faces = concat_meshes([hand_ref[None].detach(), obj_ref[None].detach()], [hand_faces, obj_faces])
    images = (image_query[None].detach(), image_ref[None].detach())
    Ks = (K_query[None].to(dtype), K_ref[None].to(dtype))
    params = torch.zeros(len(PART_NAMES), 2, 3, device=device, dtype=dtype, requires_grad=True)  # [part, rot|trans]
    depth_mask = torch.ones(3, device=device, dtype=dtype)
    if not optimise_depth:
        depth_mask[2] = 0.0
    optimiser = torch.optim.Adam([params], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(k, steps) / max(steps, 1))))
    states: List[FitState] = []
    for step in range(steps + 1):
        moved = [move_rigidly(start, torch.deg2rad(params[p, 0]), params[p, 1] * depth_mask / 1000.0)
                 for p, start in enumerate((hand_start, obj_start))]
        verts, _ = concat_meshes([moved[0][None], moved[1][None]], [hand_faces, obj_faces])
        loss, flow, out = pyramid_pair_loss(verts, ref_verts, faces, (images[0], None, Ks[0]), (images[1], None, Ks[1]),
                                            scales, ignore_face_ids=ignore_face_ids, criterion=criterion)
        with torch.no_grad():
            states.append(FitState(
                step=step, loss=float(loss[0]),
                rotations_deg={name: params[p, 0].detach().clone() for p, name in enumerate(PART_NAMES)},
                translations_mm={name: (params[p, 1] * depth_mask).detach().clone()
                                 for p, name in enumerate(PART_NAMES)},
                hand_verts=moved[0].detach(), obj_verts=moved[1].detach(), flow=flow.flow_ref[0].detach(),
                mask=out["mask_fwd"][0, 0], error=out["error_fwd"][0, 0], warped_query=out["warped_query"][0]))
        if step == steps:
            break
        optimiser.zero_grad()
        loss.sum().backward()
        optimiser.step()
        schedule.step()
    return states
