"""Fit a trained model to a few fixed consist pairs by the photometric loss alone (a diagnostic; experiments/README.md).

Loads a trainmeshreg/trainmeshwarp checkpoint, draws --pairs consist items [unannotated query, nearest annotated
reference] from the train split (no augmentation, self pairs left out), and takes --steps Adam steps on the
photometric loss of those pairs only (lambda_data 0, lambda_consist 1, GT reference meshes, BatchNorm frozen as in
training). Every --every steps it prints the photometric loss and the query frames' errors against their GT:
hand vertices (camera frame and centred on the hand's mean vertex) and object vertices, in mm. If the photometric
loss falls but an error rises, the loss can be lowered by moving that part away from the truth (a degenerate
direction of the loss on this data).

    python experiments/overfit_consistency.py --checkpoint <run>/checkpoint.pth --data_root data/synth_bench \
        --mano_root assets/mano_synth --fraction 0.0125 --pairs 8 --steps 100 --lr 1e-4
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.photometric_signal import draw_items  # noqa: E402
from experiments.sparsesup.data import dataset_dir  # noqa: E402
from handobjectconsist.datasets import FPHAB, HandObjectDataset, collate_pairs  # noqa: E402
from handobjectconsist.datasets import sample_keys as K  # noqa: E402
from handobjectconsist.models.warpreg import WarpRegNet  # noqa: E402
from handobjectconsist.training.checkpoints import load_trained_model  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint.pth (or its experiment folder)")
    p.add_argument("--data_root", required=True, help="FPHAB folder (or a folder holding fhbhands/)")
    p.add_argument("--mano_root", required=True, help="folder with MANO_RIGHT.pkl")
    p.add_argument("--fraction", type=float, default=0.0125, help="annotated fraction (sets the query-ref distance)")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--every", type=int, default=10, help="print every N steps")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--criterion", default="l1", choices=["l1", "l2", "ssim"])
    p.add_argument("--seed", type=int, default=1, help="which pairs are drawn")
    p.add_argument("--out", default=None, help="also write the trace as JSON here, and its plot next to it (.png)")
    return p


def query_errors(results: Dict, query: Dict) -> Dict[str, float]:
    """Mean vertex errors (mm) of the query predictions: hand (camera frame), hand centred, object; and the mean
    squared predicted MANO shape coefficient (the quantity the shape regulariser penalises; 0 without shape)."""
    hand = results["recov_handverts3d"] - query[K.HAND_VERTS3D]
    centred = hand - hand.mean(dim=1, keepdim=True)
    obj = (results["recov_objverts3d"] - query[K.OBJ_VERTS3D]).norm(dim=-1)
    mask = query.get(K.OBJ_VERTS_MASK)
    mask = torch.ones_like(obj) if mask is None else mask.float()
    return {"hand_mm": hand.norm(dim=-1).mean().item() * 1000,
            "hand_centred_mm": centred.norm(dim=-1).mean().item() * 1000,
            "object_mm": ((obj * mask).sum() / mask.sum()).item() * 1000,
            "shape_msq": 0.0 if results.get("shape") is None else results["shape"].pow(2).mean().item()}


def fit_pairs(warp: WarpRegNet, query: Dict, ref: Dict, steps: int, lr: float, every: int) -> List[Dict]:
    """Adam on the photometric loss of one fixed batch of pairs; returns the trace (one row per printed step)."""
    optimizer = torch.optim.Adam([p for p in warp.parameters() if p.requires_grad], lr=lr)
    trace = []
    for step in range(steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss, results, losses, _ = warp([query, ref], supervision="consist", update_ramp=False)
        if step % every == 0 or step == steps:
            row = {"step": step, "warp_loss": losses["warp_loss"].item(), **query_errors(results, query)}
            trace.append(row)
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)
        if step < steps:
            loss.backward()
            optimizer.step()
    return trace


def plot_trace(trace: List[Dict], path, title: str = "") -> None:
    """Photometric loss (left axis) and the query errors in mm (right axis) against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in trace]
    fig, loss_ax = plt.subplots(figsize=(7, 4))
    loss_ax.plot(steps, [row["warp_loss"] for row in trace], color="black", label="photometric loss")
    loss_ax.set_xlabel("Adam step on the photometric loss alone")
    loss_ax.set_ylabel("photometric L1 loss")
    error_ax = loss_ax.twinx()
    for key, colour, label in (("hand_mm", "tab:red", "hand vertices (mm)"),
                               ("hand_centred_mm", "tab:orange", "hand vertices, centred (mm)"),
                               ("object_mm", "tab:blue", "object vertices (mm)")):
        error_ax.plot(steps, [row[key] for row in trace], color=colour, linestyle="--", label=label)
    error_ax.set_ylabel("query error against GT (mm)")
    handles = loss_ax.get_legend_handles_labels()[0] + error_ax.get_legend_handles_labels()[0]
    loss_ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper center")
    loss_ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    torch.manual_seed(0)
    loaded = load_trained_model(args.checkpoint, mano_root=args.mano_root)
    root = dataset_dir(args.data_root)
    reader = FPHAB(root, split="train", fraction=args.fraction, input_width=loaded.input_width,
                   mano_root=args.mano_root)
    dataset = HandObjectDataset(reader, mode="full", sample_nb=2, spacing=0, augment=False)
    query, ref = collate_pairs(draw_items(dataset, args.pairs, args.seed))
    warp = WarpRegNet(loaded.model, lambda_data=0.0, lambda_consist=1.0, criterion=args.criterion, gt_refs=True,
                      progressive_steps=0)
    warp.eval()  # BatchNorm frozen, as trainmeshwarp's default
    with torch.enable_grad():
        trace = fit_pairs(warp, query, ref, args.steps, args.lr, args.every)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "trace": trace}, indent=1))
        plot_trace(trace, Path(args.out).with_suffix(".png"),
                   title=f"{Path(args.checkpoint).parent.name}: {args.pairs} fixed pairs, fraction {args.fraction:g}, "
                         f"lr {args.lr:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
