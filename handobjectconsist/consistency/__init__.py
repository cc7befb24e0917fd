"""Photometric consistency: mesh-pair optical flow, backward warping, masks, photometric criteria and pyramids."""

from handobjectconsist.consistency.criteria import masked_mean, photometric_criterion, photometric_error_map
from handobjectconsist.consistency.meshflow import MeshPairFlow, forward_backward_consistency, mesh_pair_flow
from handobjectconsist.consistency.pairloss import pair_photometric_loss
from handobjectconsist.consistency.pyramid import downsample_frame, pyramid_pair_loss
from handobjectconsist.consistency.warping import backward_warp, pixel_grid, warp_binary_mask

__all__ = [
    "MeshPairFlow",
    "backward_warp",
    "downsample_frame",
    "forward_backward_consistency",
    "masked_mean",
    "mesh_pair_flow",
    "pair_photometric_loss",
    "photometric_criterion",
    "photometric_error_map",
    "pixel_grid",
    "pyramid_pair_loss",
    "warp_binary_mask",
]
