"""Photometric consistency loss for a (query, reference) frame pair (docs/differences-from-upstream.md, D4-D6).

Forward term (always): the QUERY image is backward-warped onto the REFERENCE pixel grid with ``flow_ref`` (rendered
on the reference mesh) and compared with the reference image. Valid reference pixels:
    warp validity (sample and bilinear support in-image)
    * warped query jitter mask == 1 (no padding pixel of the query contributes to the sample)
    * reference jitter mask == 1 (the reference pixel itself is not padding)
    * ``mask_ref`` (covered, not an ignored face, not occluded).
Backward term (``use_backward``, upstream --consist_use_backward): the same with the roles swapped, the reference
image warped onto the query grid with ``flow_query``.

Differences from upstream, on purpose:
- Validity uses the explicit flow mask instead of upstream's ``flow_x != 0`` test (D4). That test also
  dropped genuinely static pixels with zero horizontal motion and relied on the flow having been multiplied by its
  mask; the explicit mask says what is meant. Consequence: a frame paired with itself (D7) keeps its
  covered pixels, but the warp is then an exact identity so the loss is still exactly 0, as upstream.
- Each warp is guarded by the jitter mask of the image it samples (the query's mask for the forward term).
  Upstream guarded it with the other frame's mask, harmless only because both frames share one crop.
"""

from typing import Dict, Optional, Tuple

import torch

from handobjectconsist.consistency.criteria import masked_mean, photometric_error_map
from handobjectconsist.consistency.meshflow import MeshPairFlow
from handobjectconsist.consistency.warping import VALID_TOLERANCE, backward_warp


def _ones_mask(image: torch.Tensor) -> torch.Tensor:
    return image.new_ones(image.shape[0], 1, *image.shape[2:])


def warped_term(
    image_source: torch.Tensor,
    jitter_mask_source: torch.Tensor,
    image_target: torch.Tensor,
    jitter_mask_target: torch.Tensor,
    flow: torch.Tensor,
    flow_mask: torch.Tensor,
    criterion: str,
    ssim_window: int,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Warp ``image_source`` onto the target grid with ``flow`` and compare it with ``image_target``.

    Args:
        image_source, image_target: (B, C, H, W).
        jitter_mask_source, jitter_mask_target: (B, 1, H, W), 1 on real pixels, 0 on padding.
        flow: (B, 2, H, W) pixels on the target grid, pointing into the source image.
        flow_mask: (B, 1, H, W) target pixels where the flow is valid.
    Returns:
        loss (B,), and detached images for figures: "warped" (B, C, H, W), "mask" (B, 1, H, W) and
        "error" (B, 1, H, W) the per-pixel error averaged over channels, 0 outside the mask.
    """
    # one warp for the image and its padding mask (a single resampling pass)
    channels = image_source.shape[1]
    stacked = torch.cat([image_source, jitter_mask_source.to(image_source.dtype)], dim=1)
    warped_stack, warp_valid = backward_warp(stacked, flow)
    warped = warped_stack[:, :channels]
    # the whole bilinear support of the sample must be real (unpadded) pixels: warped mask == 1
    source_padding_free = ((warped_stack[:, channels:].detach() - 1.0).abs() <= VALID_TOLERANCE).to(flow.dtype)
    target_padding_free = ((jitter_mask_target.to(flow.dtype) - 1.0).abs() <= VALID_TOLERANCE).to(flow.dtype)
    mask = (warp_valid * source_padding_free * target_padding_free * flow_mask).detach()
    error = photometric_error_map(warped, image_target, criterion, ssim_window)
    loss = masked_mean(error, mask)
    figures = {
        "warped": warped.detach(),
        "mask": mask,
        "error": (error.detach().mean(dim=1, keepdim=True) * mask),
    }
    return loss, figures


def pair_photometric_loss(
    image_query: torch.Tensor,
    image_ref: torch.Tensor,
    jitter_mask_query: Optional[torch.Tensor],
    jitter_mask_ref: Optional[torch.Tensor],
    flow: MeshPairFlow,
    use_backward: bool = False,
    criterion: str = "l1",
    ssim_window: int = 11,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Photometric consistency between a query frame and a reference frame, given their mesh-pair flow.

    Args:
        image_query: (B, 3, H, W) the unannotated frame (network input, RGB in [-0.5, 0.5]).
        image_ref: (B, 3, H, W) the annotated reference frame.
        jitter_mask_query, jitter_mask_ref: (B, 1, H, W) 1 on real pixels, 0 on augmentation padding; None means
            no padding.
        flow: MeshPairFlow from ``mesh_pair_flow(verts_query, verts_ref, ...)`` at the images' (H, W).
        use_backward: also add the reference-onto-query term (upstream --consist_use_backward).
        criterion: "l1" (default), "l2" or "ssim" (DSSIM with ``ssim_window``).
    Returns:
        loss (B,) = loss_fwd (+ loss_bwd), and a dict for figures/logging: "loss_fwd" (B,), "warped_query"
        (B, 3, H, W) the query image on the reference grid, "mask_fwd" (B, 1, H, W), "error_fwd" (B, 1, H, W); with
        use_backward also "loss_bwd", "warped_ref", "mask_bwd", "error_bwd". Everything in the dict is detached.
    """
    if image_query.shape != image_ref.shape:
        raise ValueError(
            f"pair_photometric_loss: image_query {tuple(image_query.shape)} and image_ref {tuple(image_ref.shape)} "
            "must have the same shape"
        )
    if flow.flow_ref.shape[2:] != image_ref.shape[2:]:
        raise ValueError(
            f"pair_photometric_loss: flow rendered at {tuple(flow.flow_ref.shape[2:])} but images are "
            f"{tuple(image_ref.shape[2:])}; call mesh_pair_flow with image_size=(H, W) of the images"
        )
    if jitter_mask_query is None:
        jitter_mask_query = _ones_mask(image_query)
    if jitter_mask_ref is None:
        jitter_mask_ref = _ones_mask(image_ref)

    loss_fwd, fwd = warped_term(
        image_query, jitter_mask_query, image_ref, jitter_mask_ref, flow.flow_ref, flow.mask_ref, criterion,
        ssim_window,
    )
    outputs = {"loss_fwd": loss_fwd.detach(), "warped_query": fwd["warped"], "mask_fwd": fwd["mask"],
               "error_fwd": fwd["error"]}
    loss = loss_fwd
    if use_backward:
        loss_bwd, bwd = warped_term(
            image_ref, jitter_mask_ref, image_query, jitter_mask_query, flow.flow_query, flow.mask_query, criterion,
            ssim_window,
        )
        loss = loss + loss_bwd
        outputs.update({"loss_bwd": loss_bwd.detach(), "warped_ref": bwd["warped"], "mask_bwd": bwd["mask"],
                        "error_bwd": bwd["error"]})
    return loss, outputs
