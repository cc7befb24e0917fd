"""Optical flow between two frames rendered from a pair of meshes with the same topology.

See docs/differences-from-upstream.md, D2-D3.

Every vertex is projected in both frames (``libyana.camutils.project_points``). The per-vertex displacement is
interpolated over the pixels each mesh covers, with the rasteriser's perspective-correct barycentric weights:

- ``flow_ref`` lives on the REFERENCE pixel grid, rendered on the reference geometry: at a reference pixel showing
  surface point X, ``flow_ref = p_query(X) - p_ref(X)``, i.e. where that point is in the query image;
- ``flow_query`` is the reverse, on the query grid and geometry: ``p_ref(X) - p_query(X)``.

Masks (per direction): coverage, minus pixels whose visible face is one of ``ignore_face_ids`` (the hand's
wrist-closing faces: a virtual surface, the real image shows the forearm there), minus pixels failing a
forward-backward consistency check (occlusion). The flows are zeroed outside their masks, as upstream.

Gradient: visibility (face index, barycentrics, masks) is constant; the flow values are differentiable w.r.t. the
projected vertices, hence w.r.t. ``verts_query`` (and ``verts_ref`` if it requires grad; callers detach it, the
upstream ``first_only``/``gt_refs`` setting).

Occlusion check (no grad, nearest-neighbour lookups, as upstream): for a pixel p of grid A with flow f_A, let
r = round(p + f_A(p)) be the nearest pixel of grid B. The point is kept when r is inside the image, B's surface
mask is set at r, and the round trip ``r + f_B(r)`` returns within ``occlusion_threshold`` of p, in units of the
image side S = max(H, W). Upstream rendered square S x S images and normalised coordinates by that square's width
and height, i.e. both axes by S: the default 0.03 is 14.4 px at 480x270 and 19.2 px at 640x480, and normalising by
S keeps exactly those pixel tolerances on this project's non-square renders (dividing y by H would tighten the
vertical tolerance to 0.03 H). Differences from upstream, all second order: the round trip is measured from the
continuous point r + f_B(r) (upstream rounded twice), and the starting grid's mask is not re-checked at the end of
the round trip (a consistent round trip ends within the threshold of p anyway).
"""

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch

from handobjectconsist.consistency.warping import pixel_grid
from handobjectconsist.render import Fragments, interpolate_attributes, rasterize
from libyana.camutils import project_points


@dataclass
class MeshPairFlow:
    """Dense flow between a query and a reference frame, in pixels, with validity masks (float in {0, 1}).

    Attributes:
        flow_ref: (B, 2, H, W) on the reference grid: displacement (du, dv) to the same surface point in the query
            image; 0 outside ``mask_ref``.
        mask_ref: (B, 1, H, W) reference pixels with a valid flow (covered, not an ignored face, not occluded).
        flow_query: (B, 2, H, W) on the query grid: displacement to the reference image; 0 outside ``mask_query``.
        mask_query: (B, 1, H, W).
        coverage_ref, coverage_query: (B, 1, H, W) raw mesh coverage of each frame (before ignore/occlusion), for
            figures and diagnostics.
    """

    flow_ref: torch.Tensor
    mask_ref: torch.Tensor
    flow_query: torch.Tensor
    mask_query: torch.Tensor
    coverage_ref: torch.Tensor
    coverage_query: torch.Tensor


def surface_mask(fragments: Fragments, ignore_face_ids: Optional[torch.Tensor], num_faces: int) -> torch.Tensor:
    """Covered pixels whose face is not ignored.

    Args:
        fragments: rasteriser output, face_index (B, H, W) with -1 on background.
        ignore_face_ids: (K,) long face indices to exclude, or None; ids outside [0, num_faces) exclude nothing.
        num_faces: F, the number of faces rasterised (face_index < F).
    Returns:
        (B, 1, H, W) bool.
    """
    face_index = fragments.face_index
    if ignore_face_ids is None or ignore_face_ids.numel() == 0:
        return (face_index >= 0).unsqueeze(1)
    # Lookup table indexed by face_index + 1 (slot 0 = background, slots 1..F the faces), faster than torch.isin on
    # large images; sized from F, so building it needs no device synchronisation. Out-of-range ignore ids go to an
    # extra slot F + 1 that no pixel reads.
    keep = torch.ones(num_faces + 2, dtype=torch.bool, device=face_index.device)
    keep[0] = False
    in_range = (ignore_face_ids >= 0) & (ignore_face_ids < num_faces)
    keep[torch.where(in_range, ignore_face_ids + 1, num_faces + 1)] = False
    return keep[face_index + 1].unsqueeze(1)


@torch.no_grad()
def forward_backward_consistency(
    flow_a: torch.Tensor,
    flow_b: torch.Tensor,
    surface_b: torch.Tensor,
    threshold: float = 0.03,
) -> torch.Tensor:
    """Forward-backward (round trip) check of the flow on grid A.

    Args:
        flow_a: (B, 2, H, W) pixels, from grid A to grid B.
        flow_b: (B, 2, H, W) pixels, from grid B back to grid A.
        surface_b: (B, 1, H, W) bool or {0, 1}: where flow_b is defined.
        threshold: round-trip error tolerance as a fraction of S = max(H, W) (upstream: 0.03 of the square render).
    Returns:
        (B, 1, H, W) bool: the nearest pixel r of p + flow_a(p) (round half to even, as grid_sample "nearest") is
        in-image, on B's surface, and |r + flow_b(r) - p| < threshold * S.
    """
    batch, _, height, width = flow_a.shape
    grid = pixel_grid(height, width, device=flow_a.device, dtype=flow_a.dtype)
    col = torch.round(grid[0] + flow_a[:, 0])  # (B, H, W)
    row = torch.round(grid[1] + flow_a[:, 1])
    inside = (col >= 0) & (col <= width - 1) & (row >= 0) & (row <= height - 1)
    index = row.clamp(0, height - 1).long() * width + col.clamp(0, width - 1).long()
    index = (index + torch.arange(batch, device=index.device).view(batch, 1, 1) * (height * width)).reshape(-1)
    # nearest-neighbour lookups on grid B: B's flow and surface at r
    flow_b_at_r = flow_b.permute(0, 2, 3, 1).reshape(-1, 2).index_select(0, index).view(batch, height, width, 2)
    surface_at_r = surface_b.reshape(-1).index_select(0, index).view(batch, height, width).bool()
    error_u = col + flow_b_at_r[..., 0] - grid[0]
    error_v = row + flow_b_at_r[..., 1] - grid[1]
    consistent = error_u * error_u + error_v * error_v < (threshold * max(height, width)) ** 2
    return (inside & surface_at_r & consistent).unsqueeze(1)


def _as_face_ids(ignore_face_ids, device) -> Optional[torch.Tensor]:
    if ignore_face_ids is None:
        return None
    return torch.as_tensor(ignore_face_ids, dtype=torch.long, device=device).reshape(-1)


def mesh_pair_flow(
    verts_query: torch.Tensor,
    verts_ref: torch.Tensor,
    faces: torch.Tensor,
    K_query: torch.Tensor,
    K_ref: torch.Tensor,
    image_size: Tuple[int, int],
    ignore_face_ids: Optional[Union[Sequence[int], torch.Tensor]] = None,
    occlusion_threshold: float = 0.03,
    near: float = 0.1,
    far: float = 100.0,
) -> MeshPairFlow:
    """Render the optical flow between two frames of the same mesh (hand + object, concatenated).

    Args:
        verts_query: (B, V, 3) query-frame vertices, camera frame, metres (the prediction; receives gradient).
        verts_ref: (B, V, 3) reference-frame vertices (normally detached GT), same topology.
        faces: (F, 3) or (B, F, 3) long, shared by both frames.
        K_query, K_ref: (B, 3, 3) intrinsics in pixels.
        image_size: (H, W) of the images the flow is compared with.
        ignore_face_ids: face indices (into ``faces``) excluded from the masks in both frames, e.g. the MANO
            ``wrist_face_ids``; None for none.
        occlusion_threshold: forward-backward tolerance as a fraction of max(H, W) (upstream 0.03); set it to
            ``float('inf')`` to keep only the in-image/on-surface part of the check.
        near, far: rasteriser clipping depths in metres (upstream 0.1 and 100).
    Returns:
        MeshPairFlow (see its docstring); flows differentiable w.r.t. the vertices, masks constant.
    """
    if verts_query.shape != verts_ref.shape:
        raise ValueError(
            f"mesh_pair_flow: verts_query {tuple(verts_query.shape)} and verts_ref {tuple(verts_ref.shape)} must "
            "have the same shape (same mesh topology in both frames)"
        )
    height, width = int(image_size[0]), int(image_size[1])
    ignore = _as_face_ids(ignore_face_ids, verts_query.device)

    points_query = project_points(verts_query, K_query.to(verts_query.dtype))
    points_ref = project_points(verts_ref, K_ref.to(verts_ref.dtype))
    fragments_ref = rasterize(verts_ref.detach(), faces, K_ref.detach(), (height, width), near=near, far=far)
    fragments_query = rasterize(verts_query.detach(), faces, K_query.detach(), (height, width), near=near, far=far)
    flow_ref = interpolate_attributes(fragments_ref, faces, points_query - points_ref)
    flow_query = interpolate_attributes(fragments_query, faces, points_ref - points_query)

    surface_ref = surface_mask(fragments_ref, ignore, faces.shape[-2])
    surface_query = surface_mask(fragments_query, ignore, faces.shape[-2])
    consistent_ref = forward_backward_consistency(flow_ref.detach(), flow_query.detach(), surface_query,
                                                  occlusion_threshold)
    consistent_query = forward_backward_consistency(flow_query.detach(), flow_ref.detach(), surface_ref,
                                                    occlusion_threshold)
    mask_ref = (surface_ref & consistent_ref).to(flow_ref.dtype)
    mask_query = (surface_query & consistent_query).to(flow_query.dtype)
    return MeshPairFlow(
        flow_ref=flow_ref * mask_ref,
        mask_ref=mask_ref,
        flow_query=flow_query * mask_query,
        mask_query=mask_query,
        coverage_ref=fragments_ref.mask.unsqueeze(1).to(flow_ref.dtype),
        coverage_query=fragments_query.mask.unsqueeze(1).to(flow_query.dtype),
    )
