"""Does the photometric loss, at a trained model's predictions, point toward the truth? (experiments/README.md)

The consistency term trains a query frame's PREDICTED meshes. It can only lower their error if, at the prediction,
(1) the loss is higher than at the true query mesh (the truth is preferred), and (2) its gradient with respect to the
predicted vertices points toward the true vertices, so that a small gradient step lowers the vertex error. This
script measures both on the consist items trainmeshwarp.py trains on (train split, --fraction, unannotated query +
nearest annotated reference with its GT mesh, no augmentation unless --augment), for a checkpoint:
  - loss at the prediction, at the truth (the floor: lighting, shading, occlusion, interpolation), and the share of
    pairs where the truth's is lower;
  - per part (hand, object): the share of pairs where the descent direction -dL/dV lowers the mean vertex error to
    first order (directional derivative of the error along -dL/dV is negative), and the mean cosine between -dL/dV
    and (V_true - V_pred) over the part's vertices (1: straight to the truth, 0: no information);
  - the same restricted to the hand-root depth: share of pairs where the gradient moves the hand toward its true
    depth (the loss is known to be nearly blind to depth against size);
  - the number of pixels the loss averages (the reference's mesh pixels whose flow is valid: visible in the query's
    render too), at the prediction and at the truth, and the loss over a set of pixels that does not depend on the
    query mesh (every reference pixel on the reference's mesh, no visibility check in the query): a model that
    lowers the loss by hiding its worst pixels from the mask lowers the first loss but not this one;
  - where the prediction sits: its mean vertex distance to the reference's true mesh beside the query's true mesh's
    (a model that copies the reference's pose gets closer to it than the truth is).
With --consist_width / --consist_max_gap the loss and the pairs are those of trainmeshwarp with the same flags;
with --augment the items are augmented as in training (centre jitter, colour factors shared within a pair, blur
drawn per frame).
Rows are also split by the query's distance to its reference (frames).

    python experiments/photometric_at_prediction.py --checkpoint RUN/checkpoint.pth --data_root DIR \
        --mano_root DIR --fraction 0.00625 --input_width 128 --pairs 160 --out experiments/results/NAME/at_prediction
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.photometric_signal import draw_items, measure_pairs, save_report  # noqa: E402
from experiments.sparsesup.data import dataset_dir  # noqa: E402
from handobjectconsist.consistency.meshflow import MeshPairFlow, surface_mask  # noqa: E402
from handobjectconsist.consistency.pairloss import pair_photometric_loss  # noqa: E402
from handobjectconsist.datasets import FPHAB, HandObjectDataset  # noqa: E402
from handobjectconsist.datasets import sample_keys as K  # noqa: E402
from handobjectconsist.models.warpreg import hand_object_mesh, loss_frames, pair_warp_loss  # noqa: E402
from handobjectconsist.render import interpolate_attributes, rasterize  # noqa: E402
from handobjectconsist.training.checkpoints import load_trained_model  # noqa: E402
from libyana.camutils import project_points  # noqa: E402


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags naming a trained run and the consist items it trains on (also photometric_network_step.py's)."""
    p.add_argument("--checkpoint", required=True, help="trainmeshreg/trainmeshwarp checkpoint (or its folder)")
    p.add_argument("--data_root", required=True, help="FPHAB folder (or a folder holding fhbhands/)")
    p.add_argument("--mano_root", required=True, help="folder with MANO_RIGHT.pkl")
    p.add_argument("--fraction", type=float, required=True, help="annotated fraction of the run")
    p.add_argument("--input_width", type=int, default=128, help="frame width (the run's --input_width)")
    p.add_argument("--consist_width", type=int, default=None,
                   help="the loss at this frame width (trainmeshwarp --consist_width; default: --input_width)")
    p.add_argument("--consist_max_gap", type=int, default=None,
                   help="only pairs whose reference is at most this many frames away (trainmeshwarp's flag)")
    p.add_argument("--seed", type=int, default=0, help="which random consist items")


def consist_items(args, augment: bool) -> Tuple[Path, List[list]]:
    """The FPHAB folder and args.pairs random consist items of the training split (unannotated query, nearest
    annotated reference with its GT mesh), as trainmeshwarp builds them from the add_run_arguments flags."""
    root = dataset_dir(args.data_root)
    reader = FPHAB(root, split="train", fraction=args.fraction, input_width=args.input_width, mano_root=args.mano_root)
    dataset = HandObjectDataset(reader, mode="weak", sample_nb=2, spacing=0, augment=augment,
                                consist_width=args.consist_width, max_gap=args.consist_max_gap)
    return root, draw_items(dataset, args.pairs, args.seed)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--pairs", type=int, default=160, help="random consist items with an unannotated query")
    p.add_argument("--criterion", default="l1", choices=["l1", "l2", "ssim"])
    p.add_argument("--augment", action="store_true",
                   help="augment the items as training does (default: the frames as stored)")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--out", default=None, help="also write the table (.md) and per-pair numbers (.json) here")
    return p


def mean_vertex_error(pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
    """(B, N, 3) -> (B,) mean Euclidean distance over real vertices (mask (B, N) bool or None)."""
    dist = (pred - gt).norm(dim=-1)
    if mask is None:
        return dist.mean(dim=1)
    weights = mask.to(dist.dtype)
    return (dist * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def descent_effect(pred: torch.Tensor, gt: torch.Tensor, grad: torch.Tensor, mask=None) -> Dict[str, torch.Tensor]:
    """First-order effect of a step along -grad on the mean vertex error, per sample.

    pred, gt, grad: (B, N, 3); mask (B, N) bool or None. Returns "slope": d(error)/dt along -grad (negative = the
    step lowers the error), "cosine": cosine between -grad and (gt - pred) over the real vertices."""
    pred = pred.detach().requires_grad_(True)
    (error_grad,) = torch.autograd.grad(mean_vertex_error(pred, gt, mask).sum(), pred)
    weights = torch.ones(pred.shape[:2], dtype=pred.dtype) if mask is None else mask.to(pred.dtype)
    step = -grad * weights[..., None]
    slope = (error_grad * step).flatten(1).sum(dim=1)
    towards = (gt - pred.detach()) * weights[..., None]
    cosine = torch.nn.functional.cosine_similarity(step.flatten(1), towards.flatten(1), dim=1)
    return {"slope": slope, "cosine": cosine.nan_to_num(0.0)}


def loss_on_reference_pixels(verts_query: torch.Tensor, verts_ref: torch.Tensor, faces: torch.Tensor, query: Dict,
                             ref: Dict, wrist_ids, criterion: str, width: Optional[int]) -> torch.Tensor:
    """(B,) the photometric loss over every reference pixel on the reference mesh (wrist faces excluded), the query
    image sampled through the flow of the query mesh wherever the point lands, visible there or not: the same pixels
    for any query mesh. verts_query, verts_ref: (B, V, 3) metres, camera frame; faces (F, 3) or (B, F, 3)."""
    image_query, jitter_query, K_query = loss_frames(query, width)
    image_ref, jitter_ref, K_ref = loss_frames(ref, width)
    fragments = rasterize(verts_ref, faces, K_ref, tuple(image_ref.shape[-2:]))
    flow = interpolate_attributes(fragments, faces, project_points(verts_query, K_query.to(verts_query.dtype))
                                  - project_points(verts_ref, K_ref.to(verts_ref.dtype)))
    surface = surface_mask(fragments, wrist_ids, faces.shape[-2]).to(flow.dtype)
    unused = torch.zeros_like(surface)
    fixed = MeshPairFlow(flow_ref=flow * surface, mask_ref=surface, flow_query=torch.zeros_like(flow),
                         mask_query=unused, coverage_ref=surface, coverage_query=unused)
    loss, _ = pair_photometric_loss(image_query, image_ref, jitter_query, jitter_ref, fixed, criterion=criterion)
    return loss


def measure_batch(model, hand_faces, wrist_ids, query: Dict, ref: Dict, criterion: str,
                  width: Optional[int] = None) -> Dict[str, List[float]]:
    """Per pair: loss at the prediction and at the truth, descent effects on the hand and the object, hand depth,
    distances to the reference's true meshes. width: the loss's frame width (None: the network input's)."""
    with torch.no_grad():
        _, results, _ = model(query)
    pred_hand, pred_obj = results["recov_handverts3d"], results["recov_objverts3d"]
    gt_hand, gt_obj = query[K.HAND_VERTS3D], query[K.OBJ_VERTS3D]
    mask = query.get(K.OBJ_VERTS_MASK)
    ref_verts, _ = hand_object_mesh(ref[K.HAND_VERTS3D], hand_faces, ref[K.OBJ_VERTS3D], query[K.OBJ_FACES],
                                    ref.get(K.OBJ_VERTS_MASK), ref.get(K.OBJ_FACES_MASK))

    def loss_of(hand, obj):
        """(B,) loss and (B,) number of pixels it averages (the reference's pixels with a valid flow)."""
        verts, faces = hand_object_mesh(hand, hand_faces, obj, query[K.OBJ_FACES], mask, query.get(K.OBJ_FACES_MASK))
        loss, outputs = pair_warp_loss(verts, ref_verts, faces, query, ref, wrist_ids, criterion, width=width)
        return loss, outputs["mask_fwd"].flatten(1).sum(dim=1)

    def fixed_pixels_loss(hand, obj):
        verts, faces = hand_object_mesh(hand, hand_faces, obj, query[K.OBJ_FACES], mask, query.get(K.OBJ_FACES_MASK))
        return loss_on_reference_pixels(verts, ref_verts, faces, query, ref, wrist_ids, criterion, width)

    hand = pred_hand.detach().requires_grad_(True)
    obj = pred_obj.detach().requires_grad_(True)
    loss_pred, pixels_pred = loss_of(hand, obj)
    grad_hand, grad_obj = torch.autograd.grad(loss_pred.sum(), (hand, obj))
    with torch.no_grad():
        loss_gt, pixels_gt = loss_of(gt_hand, gt_obj)
        fixed_pred, fixed_gt = fixed_pixels_loss(pred_hand, pred_obj), fixed_pixels_loss(gt_hand, gt_obj)
    hand_effect = descent_effect(pred_hand, gt_hand, grad_hand)
    obj_effect = descent_effect(pred_obj, gt_obj, grad_obj, mask)
    depth_step = -grad_hand[..., 2].mean(dim=1)
    depth_error = (gt_hand[..., 2] - pred_hand[..., 2]).mean(dim=1)
    return {
        "dist": ref[K.DIST2QUERY].tolist() if torch.is_tensor(ref[K.DIST2QUERY]) else list(ref[K.DIST2QUERY]),
        "loss_pred": loss_pred.detach().tolist(), "loss_gt": loss_gt.tolist(),
        "pixels_pred": pixels_pred.tolist(), "pixels_gt": pixels_gt.tolist(),
        "fixed_loss_pred": fixed_pred.tolist(), "fixed_loss_gt": fixed_gt.tolist(),
        "hand_err_mm": (1000 * mean_vertex_error(pred_hand, gt_hand)).tolist(),
        "obj_err_mm": (1000 * mean_vertex_error(pred_obj, gt_obj, mask)).tolist(),
        "hand_slope": hand_effect["slope"].tolist(), "hand_cos": hand_effect["cosine"].tolist(),
        "obj_slope": obj_effect["slope"].tolist(), "obj_cos": obj_effect["cosine"].tolist(),
        "hand_depth_towards": ((depth_step * depth_error) > 0).tolist(),
        "hand_to_ref_mm": (1000 * mean_vertex_error(pred_hand, ref[K.HAND_VERTS3D])).tolist(),
        "hand_truth_to_ref_mm": (1000 * mean_vertex_error(gt_hand, ref[K.HAND_VERTS3D])).tolist(),
        "obj_to_ref_mm": (1000 * mean_vertex_error(pred_obj, ref[K.OBJ_VERTS3D], mask)).tolist(),
        "obj_truth_to_ref_mm": (1000 * mean_vertex_error(gt_obj, ref[K.OBJ_VERTS3D], mask)).tolist(),
    }


def format_table(rows: Dict[str, list], header: str) -> str:
    dist = np.asarray(rows["dist"])
    groups = [("all pairs", np.ones(len(dist), dtype=bool))]
    edges = np.unique(np.quantile(dist, [0, 1 / 3, 2 / 3, 1]).round())
    for low, high in zip(edges[:-1], edges[1:]):
        groups.append((f"{low:g} <= distance <= {high:g} frames", (dist >= low) & (dist <= high)))
    lines = [header, "", "| pairs | n | hand error (mm) | object error (mm) | loss at prediction | loss at truth | "
             "truth lower | step lowers hand error | hand cosine | step lowers object error | object cosine | "
             "hand moved toward true depth | hand to the reference's truth: prediction / truth (mm) | "
             "object to the reference's truth: prediction / truth (mm) | pixels averaged: prediction / truth | "
             "loss on all reference mesh pixels: prediction / truth |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    values = {key: np.asarray(v, dtype=np.float64) for key, v in rows.items()}
    for name, sel in groups:
        if not sel.any():
            continue
        v = {key: arr[sel] for key, arr in values.items()}
        lines.append(f"| {name} | {sel.sum()} | {v['hand_err_mm'].mean():.1f} | {v['obj_err_mm'].mean():.1f} | "
                     f"{v['loss_pred'].mean():.4f} | {v['loss_gt'].mean():.4f} | "
                     f"{(v['loss_gt'] < v['loss_pred']).mean():.0%} | {(v['hand_slope'] < 0).mean():.0%} | "
                     f"{v['hand_cos'].mean():+.3f} | {(v['obj_slope'] < 0).mean():.0%} | {v['obj_cos'].mean():+.3f} | "
                     f"{v['hand_depth_towards'].mean():.0%} | "
                     f"{v['hand_to_ref_mm'].mean():.1f} / {v['hand_truth_to_ref_mm'].mean():.1f} | "
                     f"{v['obj_to_ref_mm'].mean():.1f} / {v['obj_truth_to_ref_mm'].mean():.1f} | "
                     f"{v['pixels_pred'].mean():.0f} / {v['pixels_gt'].mean():.0f} | "
                     f"{v['fixed_loss_pred'].mean():.4f} / {v['fixed_loss_gt'].mean():.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    torch.manual_seed(args.seed)
    loaded = load_trained_model(args.checkpoint, mano_root=args.mano_root)
    model = loaded.model
    root, items = consist_items(args, augment=args.augment)
    layer = model.mano_branch.mano_layer_right  # the layer WarpRegNet takes its closed faces from
    hand_faces, wrist_ids = layer.closed_faces, layer.wrist_face_ids
    rows = measure_pairs(items, args.batch_size,
                         lambda query, ref, start: measure_batch(model, hand_faces, wrist_ids, query, ref,
                                                                 args.criterion, args.consist_width))
    header = (f"Photometric loss at the predictions of {args.checkpoint} (epoch {loaded.epoch}): {args.criterion}, "
              f"train split of {root}, fraction {args.fraction:g}, width {args.input_width}, loss width "
              f"{args.consist_width or args.input_width}, max gap {args.consist_max_gap}, "
              f"{'augmented as in training' if args.augment else 'no augmentation'}, {len(items)} random "
              f"consist items (unannotated query, nearest annotated reference with its GT mesh; seed {args.seed}). "
              f"'step lowers ... error': the descent direction of the loss lowers the mean vertex error to first "
              f"order; 'cosine': between the descent direction and the way to the true vertices.")
    save_report(args.out, format_table(rows, header), args, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
