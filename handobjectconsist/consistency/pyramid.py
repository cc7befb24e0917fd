"""Area-downsampled copies of a frame for a photometric loss averaged over a pyramid (--consist_scales).

A level of factor s holds the frame resized to (round(H / s), round(W / s)) by area averaging
(``F.interpolate(mode="area")``: an exact box average where s divides the size, adaptive bins otherwise), its padding
mask resized the same way and kept only where the whole box is real (a level pixel is real only when every frame
pixel it averages is), and the intrinsics of the resized frame (pixel-centre convention,
``libyana.camutils.scale_intrinsics``). The flow of a level is rendered at its own size with those intrinsics, so
the loss of every level is a mean over its own valid pixels and the average over levels keeps the loss's scale.
"""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from handobjectconsist.consistency.meshflow import MeshPairFlow, mesh_pair_flow
from handobjectconsist.consistency.pairloss import pair_photometric_loss
from handobjectconsist.consistency.warping import VALID_TOLERANCE
from libyana.camutils import scale_intrinsics


def check_scales(scales: Sequence[int]) -> Tuple[int, ...]:
    """The pyramid factors as a tuple of distinct positive ints in the given order; ValueError otherwise."""
    scales = tuple(int(s) for s in scales)
    if not scales or any(s < 1 for s in scales) or len(set(scales)) != len(scales):
        raise ValueError(f"pyramid scales must be distinct integers >= 1, got {list(scales)}")
    return scales


def level_size(height: int, width: int, factor: int) -> Tuple[int, int]:
    """(H, W) of the level of an (height, width) frame downsampled by factor (at least 1 x 1)."""
    return max(1, int(round(height / factor))), max(1, int(round(width / factor)))


def downsample_frame(image: torch.Tensor, jitter_mask: Optional[torch.Tensor], K: torch.Tensor, factor: int
                     ) -> Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """The level of factor `factor` of a batch of frames.

    Args:
        image: (B, C, H, W) the frames (network convention, any range).
        jitter_mask: (B, 1, H, W) 1 on real pixels, 0 on augmentation padding, or None (no padding).
        K: (B, 3, 3) intrinsics of the frames, pixels.
        factor: integer >= 1; 1 returns the inputs themselves (no copy, no resampling).
    Returns:
        image (B, C, h, w) area-averaged, jitter mask (B, 1, h, w) in {0, 1} (or None) and intrinsics (B, 3, 3) of
        the level, with (h, w) = level_size(H, W, factor).
    """
    if factor == 1:
        return image, jitter_mask, K
    height, width = image.shape[2:]
    size = level_size(height, width, factor)
    small = F.interpolate(image, size=size, mode="area")
    mask = None
    if jitter_mask is not None:
        averaged = F.interpolate(jitter_mask.to(image.dtype), size=size, mode="area")
        mask = (averaged >= 1.0 - VALID_TOLERANCE).to(image.dtype)
    return small, mask, scale_intrinsics(K, size[1] / width, size[0] / height)


def pyramid_pair_loss(
    verts_query: torch.Tensor,
    verts_ref: torch.Tensor,
    faces: torch.Tensor,
    frames_query: Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor],
    frames_ref: Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor],
    scales: Sequence[int] = (1,),
    ignore_face_ids=None,
    occlusion_threshold: float = 0.03,
    use_backward: bool = False,
    criterion: str = "l1",
    ssim_window: int = 11,
) -> Tuple[torch.Tensor, MeshPairFlow, Dict[str, torch.Tensor]]:
    """Photometric consistency of a frame pair, averaged over the pyramid levels `scales`.

    Args:
        verts_query: (B, V, 3) query mesh, camera frame, metres (receives the gradient).
        verts_ref: (B, V, 3) reference mesh, same topology (detached here).
        faces: (F, 3) or (B, F, 3) long.
        frames_query, frames_ref: (image (B, 3, H, W), jitter mask (B, 1, H, W) or None, intrinsics (B, 3, 3)) of the
            two frames at the loss's full resolution.
        scales: distinct factors >= 1 (check_scales); (1,) is the plain loss on the frames, no resampling.
        ignore_face_ids, occlusion_threshold: of mesh_pair_flow; use_backward, criterion, ssim_window: of
            pair_photometric_loss.
    Returns:
        loss (B,), the mean over the levels of each level's masked mean (with one level: that level's loss tensor
        itself); the first level's flow; and its pair_photometric_loss outputs plus "image_query" / "image_ref" (the
        level's images), with "loss_fwd" averaged over the levels like the loss.
    """
    scales = check_scales(scales)
    losses, forward_losses, first = [], [], None
    for factor in scales:
        image_query, mask_query, K_query = downsample_frame(*frames_query, factor)
        image_ref, mask_ref, K_ref = downsample_frame(*frames_ref, factor)
        flow = mesh_pair_flow(verts_query, verts_ref.detach(), faces, K_query, K_ref, image_ref.shape[2:],
                              ignore_face_ids=ignore_face_ids, occlusion_threshold=occlusion_threshold)
        loss, outputs = pair_photometric_loss(image_query, image_ref, mask_query, mask_ref, flow,
                                              use_backward=use_backward, criterion=criterion, ssim_window=ssim_window)
        losses.append(loss)
        forward_losses.append(outputs["loss_fwd"])
        if first is None:
            first = (flow, {**outputs, "image_query": image_query, "image_ref": image_ref})
    flow, outputs = first
    if len(scales) == 1:
        return losses[0], flow, outputs
    outputs["loss_fwd"] = torch.stack(forward_losses).mean(dim=0)
    return torch.stack(losses).mean(dim=0), flow, outputs
