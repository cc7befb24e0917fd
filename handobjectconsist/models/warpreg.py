"""WarpRegNet: MeshRegNet fine-tuned with photometric consistency over time.

See docs/differences-from-upstream.md, K6 and D7.

A "consist" item pairs a query frame (usually unannotated) with annotated reference frame(s) of the same sequence.
The query's PREDICTED hand + object mesh and the reference's mesh (GT with ``gt_refs``, else the network's detached
prediction) define a dense optical flow (``consistency.mesh_pair_flow``, rendered on the reference geometry). The
query image warped with that flow onto the reference pixel grid must reproduce the reference image wherever the
flow is valid; the masked photometric error is the warp loss. Gradient path (K6): loss -> bilinear
samples of the query image -> flow values -> the query's predicted camera-space vertices -> network. Nothing flows
into the reference frames, the images, the masks or the rasterised visibility.

Loss weights (K6), with ``consist_step`` = number of consist batches seen so far:
    lambda_c = min(lambda_consist * consist_step / progressive_steps, lambda_consist)
    lambda_d = lambda_data - lambda_c
    data batch:    lambda_d * MeshRegNet total loss
    consist batch: lambda_d * query prior terms (mano_reg_loss: shape + pose regularisers) + lambda_c * warp loss
``consist_step`` is a persistent buffer, so it is saved in ``state_dict()`` and checkpointed (upstream restarted the
ramp at 0 after every resume).

Differences from upstream, on purpose:
- A reference that is the query frame itself (DIST2QUERY == 0: an annotated query paired with itself) contributes
  exactly 0 (and no gradient). Upstream relied on a zero flow there, which only holds when the prediction equals the
  reference mesh; with gt_refs it would otherwise become a supervised photometric term on annotated frames. Such
  pairs still count in the batch mean (a dilution kept from upstream).
- The network does not run on the reference frames with gt_refs (their predictions are unused), and runs under
  no_grad without it; so the priors of the reference frames are not added (upstream gave them a tiny gradient)
  and the gradient reaches only the query frame's predictions.
- Object collate padding: padded faces are made degenerate (never rasterised) and padded vertices are set to the
  object's first vertex (finite projections), instead of upstream's tiling.
- The images compared are detached (they are inputs; upstream's never required grad either).

Beyond the paper (defaults: upstream's behaviour bit for bit): ``consist_width`` computes the flow, warp, masks and
the masked error on the frames' copies at another width than the network input (CONSIST_* keys, loaded by the
dataset), ``consist_scales`` averages the loss over area-downsampled levels (consistency.pyramid), and
``consist_params`` restricts what the photometric gradient moves in the query meshes (models.consistparams).

BatchNorm: WarpRegNet does not change module modes. The epoch loop (training.epochpass) keeps the whole model in
eval() mode as upstream (BN uses its running statistics while its affine parameters train), unless
--train_batchnorm is given.
"""

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from handobjectconsist.consistency import MeshPairFlow
from handobjectconsist.consistency.pyramid import check_scales, pyramid_pair_loss
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.models.consistparams import CONSIST_PARAMS, consist_query_meshes
from libyana.meshutils import concat_meshes

SUPERVISIONS = ("data", "consist")


def hand_object_mesh(
    hand_verts: torch.Tensor,
    hand_faces: torch.Tensor,
    obj_verts: Optional[torch.Tensor] = None,
    obj_faces: Optional[torch.Tensor] = None,
    obj_verts_mask: Optional[torch.Tensor] = None,
    obj_faces_mask: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Concatenate the hand and (padded) object meshes of a batch into one mesh per sample.

    Args:
        hand_verts: (B, Vh, 3) metres; hand_faces: (Fh, 3) long (closed hand faces).
        obj_verts: (B, N, 3) metres or None (hand only); obj_faces: (B, F, 3) or (F, 3) long, object-local indices.
        obj_verts_mask: (B, N) bool, real vertices (collate padding False) or None (all real).
        obj_faces_mask: (B, F) bool, real faces or None (all real).
    Returns:
        verts (B, Vh + N, 3) and faces (B, Fh + F, 3) long. Hand face indices are unchanged (so the wrist face ids
        still apply); padded object faces become degenerate [Vh, Vh, Vh] (rasterised as empty) and padded object
        vertices copy the object's first vertex, so no padding reaches the image.
    """
    if obj_verts is None:
        return hand_verts, hand_faces.long().unsqueeze(0).expand(hand_verts.shape[0], -1, -1)
    if obj_faces is None:
        raise ValueError("hand_object_mesh: obj_verts given without obj_faces")
    obj_faces = obj_faces.long()
    if obj_faces.dim() == 2:
        obj_faces = obj_faces.unsqueeze(0).expand(obj_verts.shape[0], -1, -1)
    if obj_verts_mask is not None:
        obj_verts = torch.where(obj_verts_mask.unsqueeze(-1), obj_verts, obj_verts[:, :1].expand_as(obj_verts))
    if obj_faces_mask is not None:
        obj_faces = torch.where(obj_faces_mask.unsqueeze(-1), obj_faces, torch.zeros_like(obj_faces))
    return concat_meshes([hand_verts, obj_verts], [hand_faces, obj_faces])


def _self_pair(query: Dict, ref: Dict, batch_size: int, device) -> torch.Tensor:
    """(B,) bool: the reference frame is the query frame itself (DIST2QUERY == 0, or same sequence and frame)."""
    if K.DIST2QUERY in ref:
        return torch.as_tensor(ref[K.DIST2QUERY], device=device).reshape(-1) == 0
    if K.SEQ_NAME in query and K.FRAME_IDX in query and K.SEQ_NAME in ref and K.FRAME_IDX in ref:
        same = [sq == sr and int(fq) == int(fr) for sq, sr, fq, fr in
                zip(query[K.SEQ_NAME], ref[K.SEQ_NAME], query[K.FRAME_IDX], ref[K.FRAME_IDX])]
        return torch.tensor(same, dtype=torch.bool, device=device)
    return torch.zeros(batch_size, dtype=torch.bool, device=device)


def _jitter_mask(frame: Dict) -> Optional[torch.Tensor]:
    mask = frame.get(K.JITTER_MASK)
    if mask is None:
        return None
    return mask[:, :1] if mask.dim() == 4 else mask.unsqueeze(1)


def loss_frames(frame: Dict, width: Optional[int]) -> Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """The images the photometric loss compares for one frame batch: the network input (width None) or its copy at
    --consist_width (CONSIST_* keys, loaded by the dataset with the same augmentation).

    Returns:
        image (B, 3, H, W) detached, jitter mask (B, 1, H, W) or None, intrinsics (B, 3, 3) of that image.
    """
    if width is None:
        return frame[K.IMAGE].detach(), _jitter_mask(frame), frame[K.CAM_INTR]
    if K.CONSIST_IMAGE not in frame or K.CONSIST_CAM_INTR not in frame:
        raise KeyError(f"consist width {width}: the frames lack {K.CONSIST_IMAGE!r} / {K.CONSIST_CAM_INTR!r}; build "
                       f"the consist dataset with consist_width={width} (trainmeshwarp.py does with --consist_width)")
    image = frame[K.CONSIST_IMAGE].detach()
    if image.shape[-1] != width:
        raise ValueError(f"consist width {width}: the frames' {K.CONSIST_IMAGE!r} are {image.shape[-1]} px wide")
    mask = frame.get(K.CONSIST_JITTER_MASK)
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(1)
    return image, mask, frame[K.CONSIST_CAM_INTR]


def pair_warp_loss(
    verts_query: torch.Tensor,
    verts_ref: torch.Tensor,
    faces: torch.Tensor,
    query: Dict,
    ref: Dict,
    ignore_face_ids: Optional[torch.Tensor] = None,
    criterion: str = "l1",
    use_backward: bool = False,
    occlusion_threshold: float = 0.03,
    ssim_window: int = 11,
    width: Optional[int] = None,
    scales: Sequence[int] = (1,),
) -> Tuple[torch.Tensor, Dict]:
    """Photometric consistency of one (query, reference) frame pair given both meshes.

    Args:
        verts_query: (B, V, 3) query mesh, camera frame, metres (receives the gradient).
        verts_ref: (B, V, 3) reference mesh, same topology (detached here).
        faces: (F, 3) or (B, F, 3) long.
        query, ref: frame batch dicts with IMAGE (B, 3, H, W), CAM_INTR (B, 3, 3), optional JITTER_MASK and
            DIST2QUERY / SEQ_NAME+FRAME_IDX (to recognise self pairs); with `width` also CONSIST_IMAGE,
            CONSIST_CAM_INTR and optionally CONSIST_JITTER_MASK.
        ignore_face_ids: (K,) face ids excluded from the flow masks (MANO wrist-closing faces).
        width: None: the loss compares the network inputs (upstream); W: the frames' copies W pixels wide.
        scales: pyramid factors; the loss is the mean over the levels of each level's masked mean, the flow
            rendered at every level's size (consistency.pyramid_pair_loss). (1,): the frames themselves.
    Returns:
        loss (B,) (exactly 0 for self pairs), and a detached dict for figures/logging of the first level: "flow"
        (MeshPairFlow), "self_pair" (B,) bool, "image_query" / "image_ref" (the level's images), and the outputs
        of consistency.pair_photometric_loss ("loss_fwd" averaged over the levels like the loss).
    """
    loss, flow, outputs = pyramid_pair_loss(
        verts_query, verts_ref, faces, loss_frames(query, width), loss_frames(ref, width), scales,
        ignore_face_ids=ignore_face_ids, occlusion_threshold=occlusion_threshold, use_backward=use_backward,
        criterion=criterion, ssim_window=ssim_window)
    self_pair = _self_pair(query, ref, loss.shape[0], loss.device)
    loss = torch.where(self_pair, torch.zeros_like(loss), loss)
    detached_flow = MeshPairFlow(**{name: value.detach() for name, value in vars(flow).items()})
    return loss, {"flow": detached_flow, "self_pair": self_pair, **outputs}


class WarpRegNet(nn.Module):
    """Consistency wrapper around a MeshRegNet (see the module docstring).

    forward(batch, supervision=None, update_ramp=True) -> (loss scalar, results, losses, extras)
        batch: a collated single-frame batch dict ("data"), a list of frame batch dicts [query, ref, ...]
            ("consist", from datasets.collate.collate_pairs), or upstream's wrapper
            {"supervision": "data"|"consist" (or a one-element list), "data": dict or list}.
        supervision: overrides the inferred kind.
        update_ramp: count this consist batch in the lambda_consist ramp (pass False for evaluation passes).
        Returns the weighted loss, the MeshRegNet results of the data / query frames, a losses dict (the frame's
        MeshRegNet losses plus "reg_loss" or "warp_consist" (the weighted loss), "warp_loss", "warp_loss_fwd",
        "lambda_data", "lambda_consist"), and extras {"supervision", "pairs": [per reference: pair_warp_loss dict],
        "hand_verts_count"}.
    """

    def __init__(
        self,
        meshregnet: nn.Module,
        hand_faces_closed: Optional[torch.Tensor] = None,
        wrist_face_ids: Optional[torch.Tensor] = None,
        lambda_data: float = 0.999,
        lambda_consist: float = 0.001,
        criterion: str = "l1",
        gt_refs: bool = False,
        progressive_steps: int = 1000,
        use_backward: bool = False,
        occlusion_threshold: float = 0.03,
        ssim_window: int = 11,
        consist_width: Optional[int] = None,
        consist_scales: Sequence[int] = (1,),
        consist_params: str = "all",
    ):
        """
        Args:
            meshregnet: the MeshRegNet to fine-tune (forward(batch) -> (total, results, losses)).
            hand_faces_closed: (F + K, 3) long MANO faces with the wrist closed; default: the right MANO layer's
                ``closed_faces`` of meshregnet.mano_branch.
            wrist_face_ids: (K,) long ids of the closing faces (ignored in the flow masks); default from that layer.
            lambda_data, lambda_consist: supervised and photometric weights (upstream 0.999 / 0.001).
            criterion: photometric criterion "l1" | "l2" | "ssim".
            gt_refs: use the references' GT meshes (HAND_VERTS3D, OBJ_VERTS3D) instead of their predictions.
            progressive_steps: length of the lambda_consist ramp in consist batches (0: no ramp).
            use_backward: add the reference-onto-query photometric term.
            occlusion_threshold: forward-backward flow tolerance, fraction of max(H, W) (upstream 0.03).
            consist_width: None: the loss compares the network inputs (upstream); W: the frames' copies at width W
                (the consist batches must carry the CONSIST_* keys), while the network still sees IMAGE.
            consist_scales: pyramid factors of the loss (1,): no pyramid (pair_warp_loss).
            consist_params: what the photometric gradient may move, "all" | "global" | "lateral"
                (models.consistparams).
        """
        if consist_params not in CONSIST_PARAMS:
            raise ValueError(f"consist_params must be one of {CONSIST_PARAMS}, got {consist_params!r}")
        if consist_width is not None and int(consist_width) < 1:
            raise ValueError(f"consist_width must be a positive width in pixels, got {consist_width}")
        super().__init__()
        self.meshregnet = meshregnet
        if hand_faces_closed is None or wrist_face_ids is None:
            layer = meshregnet.mano_branch.mano_layer_right
            hand_faces_closed = layer.closed_faces if hand_faces_closed is None else hand_faces_closed
            wrist_face_ids = layer.wrist_face_ids if wrist_face_ids is None else wrist_face_ids
        self.register_buffer("hand_faces", torch.as_tensor(hand_faces_closed).long().clone(), persistent=False)
        self.register_buffer("wrist_face_ids", torch.as_tensor(wrist_face_ids).long().clone(), persistent=False)
        self.register_buffer("consist_step", torch.zeros((), dtype=torch.long))
        self._step_cache = None  # (buffer, its _version, its value): _consist_step_value
        self.lambda_data = float(lambda_data)
        self.lambda_consist = float(lambda_consist)
        self.criterion = criterion
        self.gt_refs = gt_refs
        self.progressive_steps = int(progressive_steps)
        self.use_backward = use_backward
        self.occlusion_threshold = occlusion_threshold
        self.ssim_window = ssim_window
        self.consist_width = None if consist_width is None else int(consist_width)
        self.consist_scales = check_scales(consist_scales)
        self.consist_params = consist_params

    # ------------------------------------------------------------------------------------------------- weights
    def loss_weights(self) -> Tuple[float, float]:
        """(lambda_d, lambda_c) at the current ramp step."""
        step = self._consist_step_value()
        if self.progressive_steps > 0:
            lambda_c = min(self.lambda_consist * step / self.progressive_steps, self.lambda_consist)
        else:
            lambda_c = self.lambda_consist
        return self.lambda_data - lambda_c, lambda_c

    def _consist_step_value(self) -> int:
        """consist_step as a Python int, read from the device only when the buffer changed behind this module's back
        (loaded, moved, filled): the tensor's version counter and identity are host-side, so the ramp costs no
        device synchronisation per batch."""
        buffer = self.consist_step
        cached = self._step_cache
        if cached is None or cached[0] is not buffer or cached[1] != buffer._version:
            cached = (buffer, buffer._version, int(buffer.item()))
            self._step_cache = cached
        return cached[2]

    def _advance_ramp(self) -> None:
        value = self._consist_step_value()
        self.consist_step += 1
        self._step_cache = (self.consist_step, self.consist_step._version, value + 1)

    # ------------------------------------------------------------------------------------------------- meshes
    def _query_mesh(self, results: Dict, frame: Dict):
        image = frame[K.IMAGE]
        hand, obj = consist_query_meshes(results, frame[K.CAM_INTR], (image.shape[3], image.shape[2]),
                                         self.consist_params)
        return hand_object_mesh(hand, self.hand_faces, obj,
                                frame.get(K.OBJ_FACES) if obj is not None else None,
                                frame.get(K.OBJ_VERTS_MASK), frame.get(K.OBJ_FACES_MASK))

    def _reference_mesh(self, frame: Dict, with_object: bool):
        if self.gt_refs:
            if K.HAND_VERTS3D not in frame:
                raise KeyError(
                    f"consist_gt_refs needs the GT hand mesh ({K.HAND_VERTS3D!r}) of the reference frames; the "
                    "dataset did not provide it (for FPHAB the hand meshes come from the MANO fits: run "
                    "`python -m handobjectconsist.datasets.fit_fphab --data_root DIR --mano_root DIR`)")
            hand = frame[K.HAND_VERTS3D]
            obj = frame.get(K.OBJ_VERTS3D) if with_object else None
        else:
            with torch.no_grad():
                _, ref_results, _ = self.meshregnet(frame)
            hand = ref_results["recov_handverts3d"]
            obj = ref_results.get("recov_objverts3d") if with_object else None
        if with_object and obj is None:
            raise KeyError(f"the reference frames lack the object vertices ({K.OBJ_VERTS3D!r}) the query has")
        return hand.detach(), (None if obj is None else obj.detach())

    # ------------------------------------------------------------------------------------------------- forward
    @staticmethod
    def _unpack(batch, supervision: Optional[str]) -> Tuple[str, Union[Dict, List[Dict]]]:
        if isinstance(batch, dict) and "data" in batch and "supervision" in batch:
            kind = batch["supervision"]
            kind = kind[0] if isinstance(kind, (list, tuple)) else kind
            batch = batch["data"]
        else:
            kind = None
        if isinstance(batch, (list, tuple)) and len(batch) == 1:
            kind = kind or "data"
            batch = batch[0]
        kind = supervision or kind or ("consist" if isinstance(batch, (list, tuple)) else "data")
        if kind not in SUPERVISIONS:
            raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {kind!r}")
        if kind == "consist" and not (isinstance(batch, (list, tuple)) and len(batch) >= 2):
            raise ValueError("a consist batch must be a list of frame batches [query, reference, ...] "
                             "(datasets.collate.collate_pairs with sample_nb >= 2)")
        if kind == "data" and not isinstance(batch, dict):
            raise ValueError("a data batch must be one collated frame batch dict")
        return kind, batch

    def forward(self, batch, supervision: Optional[str] = None, update_ramp: bool = True):
        kind, batch = self._unpack(batch, supervision)
        lambda_d, lambda_c = self.loss_weights()
        if kind == "data":
            total, results, losses = self.meshregnet(batch)
            loss = lambda_d * total
            losses = {**losses, "reg_loss": loss.detach(), "lambda_data": lambda_d, "lambda_consist": lambda_c}
            return loss, results, losses, {"supervision": kind, "pairs": []}
        return self._consist_forward(batch, lambda_d, lambda_c, update_ramp)

    def _consist_forward(self, frames: Sequence[Dict], lambda_d: float, lambda_c: float, update_ramp: bool):
        query = frames[0]
        _, results, losses = self.meshregnet(query)
        verts_query, faces = self._query_mesh(results, query)
        with_object = "recov_objverts3d" in results
        pair_losses, pairs = [], []
        for ref in frames[1:]:
            ref_hand, ref_obj = self._reference_mesh(ref, with_object)
            verts_ref, _ = hand_object_mesh(ref_hand, self.hand_faces, ref_obj, query.get(K.OBJ_FACES),
                                            ref.get(K.OBJ_VERTS_MASK))
            if verts_ref.shape != verts_query.shape:
                raise ValueError(
                    f"query mesh {tuple(verts_query.shape)} and reference mesh {tuple(verts_ref.shape)} differ: the "
                    "frames of a consist item must show the same object (same vertex count after collate)")
            pair_loss, pair = pair_warp_loss(verts_query, verts_ref, faces, query, ref, self.wrist_face_ids,
                                             self.criterion, self.use_backward, self.occlusion_threshold,
                                             self.ssim_window, self.consist_width, self.consist_scales)
            pair_losses.append(pair_loss)
            pairs.append(pair)
        warp_loss = torch.stack(pair_losses).mean()  # over pairs and batch, as upstream
        prior = losses.get("mano_reg_loss")
        loss = lambda_c * warp_loss if prior is None else lambda_d * prior + lambda_c * warp_loss
        if update_ramp:
            self._advance_ramp()
        warp_fwd = torch.stack([p["loss_fwd"] for p in pairs]).mean()
        losses = {**losses, "warp_consist": loss.detach(), "warp_loss": warp_loss.detach(),
                  "warp_loss_fwd": warp_fwd, "lambda_data": lambda_d, "lambda_consist": lambda_c}
        return loss, results, losses, {"supervision": "consist", "pairs": pairs,
                                       "hand_verts_count": results["recov_handverts3d"].shape[1]}
