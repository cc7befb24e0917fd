"""How informative is the photometric consistency loss on a dataset? (a diagnostic; experiments/README.md)

Takes consist items [unannotated query, nearest annotated reference] exactly as trainmeshwarp.py builds them (train
split, --fraction, no augmentation), renders the flow between the reference's GT mesh and the query's GT mesh moved
by a known offset, and reports, per offset:
  - the mean photometric loss (the loss at offset 0 is the floor the method can reach: lighting, shading, occlusion
    and interpolation make it non-zero);
  - "ranks GT": the share of pairs whose loss at this offset is higher than at the GT mesh (0.5 = no signal);
  - "descends": the share of pairs whose loss gradient with respect to the offset points back toward the GT mesh
    (cosine of -gradient with -offset > 0), and the mean of that cosine.
Hand and object are moved separately (the other stays at GT), in the image plane (x) and in depth (z); the finger
joints of the hand are bent in a random direction (root and shape kept; needs the GT MANO fits).

    python experiments/photometric_signal.py --data_root data/synth_bench --mano_root assets/mano_synth \
        --fraction 0.0125 --input_width 128 --pairs 96
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.sparsesup.data import dataset_dir  # noqa: E402
from handobjectconsist.datasets import FPHAB, HandObjectDataset, collate_pairs  # noqa: E402
from handobjectconsist.datasets import sample_keys as K  # noqa: E402
from handobjectconsist.mano import ManoLayer  # noqa: E402
from handobjectconsist.models.warpreg import hand_object_mesh, pair_warp_loss  # noqa: E402

AXES = {"x": 0, "z": 2}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_root", required=True, help="FPHAB folder (or a folder holding fhbhands/)")
    p.add_argument("--mano_root", required=True, help="folder with MANO_RIGHT.pkl (for the closed hand faces)")
    p.add_argument("--fraction", type=float, default=0.0125, help="annotated fraction (sets the query-ref distance)")
    p.add_argument("--input_width", type=int, default=128, help="frame width the loss is computed at")
    p.add_argument("--pairs", type=int, default=96, help="consist items drawn at random from the train split")
    p.add_argument("--offsets_mm", type=float, nargs="+", default=[5, 10, 20, 40], help="offset sizes (mm)")
    p.add_argument("--finger_degrees", type=float, nargs="*", default=[5, 10, 20],
                   help="finger articulation perturbations (degrees per joint angle, random direction)")
    p.add_argument("--criterion", default="l1", choices=["l1", "l2", "ssim"])
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the table (.md) and the numbers (.json) with this stem")
    return p


def draw_items(dataset, count: int, seed: int) -> List[list]:
    """count random consist items [query, reference] whose reference is not the query itself (those give 0)."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    items = []
    for index in order:
        item = dataset[int(index)]
        if int(item[1][K.DIST2QUERY]) != 0:
            items.append(item)
        if len(items) == count:
            break
    return items


def measure_pairs(items: List[list], batch_size: int, measure: Callable[[Dict, Dict, int], Dict[str, list]]
                  ) -> Dict[str, list]:
    """Per-pair measurements of the consist items, batch by batch: measure(query, ref, start) gives
    {key: [one value per pair of the batch]} for the batch beginning at item `start`; progress on stderr."""
    rows: Dict[str, list] = {}
    for start in range(0, len(items), batch_size):
        query, ref = collate_pairs(items[start:start + batch_size])
        for key, values in measure(query, ref, start).items():
            rows.setdefault(key, []).extend(values)
        print(f"{min(start + batch_size, len(items))}/{len(items)} pairs", file=sys.stderr)
    return rows


def save_report(out: Optional[str], table: str, args, rows: Dict[str, list]) -> None:
    """Print the table; with --out also write <out>.md (the table) and <out>.json (flags and per-pair values)."""
    print(table)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out + ".md").write_text(table)
        Path(out + ".json").write_text(json.dumps({"args": vars(args), "per_pair": rows}))


def _loss(hand: torch.Tensor, obj: torch.Tensor, ref_meshes, query: Dict, ref: Dict, faces_info, criterion: str):
    """(B,) photometric loss of the query mesh (hand (B, 778, 3), obj (B, N, 3), metres) against the reference."""
    hand_faces, wrist_ids = faces_info
    verts_query, faces = hand_object_mesh(hand, hand_faces, obj, query[K.OBJ_FACES], query.get(K.OBJ_VERTS_MASK),
                                          query.get(K.OBJ_FACES_MASK))
    loss, _ = pair_warp_loss(verts_query, ref_meshes, faces, query, ref, wrist_ids, criterion)
    return loss


def measure_batch(query: Dict, ref: Dict, faces_info, offsets_mm: List[float], criterion: str,
                  finger_degrees: Sequence[float] = (), mano_root=None, seed: int = 0) -> Dict[str, list]:
    """Per pair of the batch: the floor loss, and for each perturbation (translation of the hand or the object
    along x or z by +-size mm; finger articulation by +-size degrees per joint angle in a random direction, which
    needs the GT MANO pose and shape of the query frames) its loss, descent cosine and the mean hand vertex shift."""
    ref_meshes, _ = hand_object_mesh(ref[K.HAND_VERTS3D], faces_info[0], ref[K.OBJ_VERTS3D], query[K.OBJ_FACES],
                                     ref.get(K.OBJ_VERTS_MASK), ref.get(K.OBJ_FACES_MASK))
    hand, obj = query[K.HAND_VERTS3D], query[K.OBJ_VERTS3D]

    def loss_of(moved_hand, moved_obj):
        return _loss(moved_hand, moved_obj, ref_meshes, query, ref, faces_info, criterion)

    rows = {"floor": loss_of(hand, obj).tolist()}

    def probe(key, delta, move):
        delta = delta.detach().requires_grad_(True)
        moved_hand, moved_obj = move(delta)
        loss = loss_of(moved_hand, moved_obj)
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        cosine = torch.nn.functional.cosine_similarity(-grad.flatten(1), -delta.detach().flatten(1), dim=1)
        shift = (moved_hand - hand).norm(dim=-1).mean(dim=1) * 1000
        for name, values in (("loss", loss), ("cos", cosine.nan_to_num(0.0)), ("shift_mm", shift)):
            rows.setdefault(f"{key}_{name}", []).extend(values.detach().tolist())

    for part in ("hand", "object"):
        for axis_name, axis in AXES.items():
            for size in offsets_mm:
                for sign in (1.0, -1.0):
                    offset = torch.zeros(hand.shape[0], 1, 3)
                    offset[:, 0, axis] = sign * size / 1000.0
                    probe(f"{part}_{axis_name}_{size:g}", offset,
                          lambda d, part=part: (hand + d, obj) if part == "hand" else (hand, obj + d))
    if finger_degrees:
        layer = ManoLayer(mano_root, use_pca=False, flat_hand_mean=True)
        pose, shape = query[K.HAND_POSE].float(), query[K.HAND_SHAPE].float()
        rest, _ = layer(pose, shape)
        direction = torch.randn(pose.shape[0], pose.shape[1] - 3, generator=torch.Generator().manual_seed(seed))
        for size in finger_degrees:
            for sign in (1.0, -1.0):
                def move(d):
                    bent, _ = layer(torch.cat([pose[:, :3], pose[:, 3:] + d], dim=1), shape)
                    return hand + (bent - rest), obj
                probe(f"fingers_{size:g}", sign * np.radians(size) * direction, move)
    return rows


def format_table(rows: Dict[str, list], offsets_mm: List[float], header: str,
                 finger_degrees: Sequence[float] = ()) -> str:
    floor = np.asarray(rows["floor"])
    lines = [header, "", f"Loss at the GT query mesh (floor): {floor.mean():.4f} (pairs: {len(floor)})", "",
             "| moved | size | mean hand vertex shift (mm) | mean loss | loss - floor | ranks GT | descends "
             "| mean descent cosine |", "|---|---|---|---|---|---|---|---|"]
    keys = [(f"{part}_{axis}_{size:g}", f"{part} along {axis}", f"{size:g} mm")
            for part in ("hand", "object") for axis in AXES for size in offsets_mm]
    keys += [(f"fingers_{size:g}", "finger joints (random direction)", f"{size:g} deg") for size in finger_degrees]
    for key, moved, size in keys:
        loss, cosine = np.asarray(rows[key + "_loss"]), np.asarray(rows[key + "_cos"])
        shift = np.asarray(rows[key + "_shift_mm"]).mean()
        ranks = (loss > np.tile(floor, 2)).mean()  # rows hold the + perturbations, then the - ones
        lines.append(f"| {moved} | {size} | {shift:.1f} | {loss.mean():.4f} | {loss.mean() - floor.mean():+.4f} "
                     f"| {ranks:.0%} | {(cosine > 0).mean():.0%} | {cosine.mean():+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    torch.set_grad_enabled(True)
    root = dataset_dir(args.data_root)
    reader = FPHAB(root, split="train", fraction=args.fraction, input_width=args.input_width, mano_root=args.mano_root)
    dataset = HandObjectDataset(reader, mode="full", sample_nb=2, spacing=0, augment=False)
    items = draw_items(dataset, args.pairs, args.seed)
    layer = ManoLayer(args.mano_root)
    faces_info = (layer.closed_faces, layer.wrist_face_ids)
    rows = measure_pairs(items, args.batch_size, lambda query, ref, start: measure_batch(
        query, ref, faces_info, args.offsets_mm, args.criterion, args.finger_degrees, args.mano_root,
        args.seed + start))
    header = (f"Photometric signal: {args.criterion} loss, train split of {root}, fraction {args.fraction:g}, width "
              f"{args.input_width}, {len(items)} random consist items (seed {args.seed}); each offset applied with "
              f"both signs. 'ranks GT': loss higher than at the GT mesh; 'descends': the loss gradient points back "
              f"to the GT mesh.")
    save_report(args.out, format_table(rows, args.offsets_mm, header, args.finger_degrees), args, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
