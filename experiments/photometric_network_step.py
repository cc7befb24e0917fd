"""What does one network step on the photometric loss do to the errors? (experiments/README.md)

photometric_at_prediction.py shows that at a trained model's predictions the loss's gradient with respect to the
VERTICES lowers their error to first order; training, however, moves the network's WEIGHTS, and the weights are
shared by all frames. This script takes, for each batch of consist items, one step of the weights along the
photometric loss of that batch alone (the loss trainmeshwarp trains: --consist_width, --consist_params, the
references' true meshes), and measures the change of the loss and of the predictions' errors on that batch and on
the other batches (frames the step did not see), against the weights before the step. Steps:
  - "sign": -lr * sign(gradient) (the first step of an Adam optimiser with fresh moments), at each --lrs;
  - "sgd": -lr * gradient / |gradient| (the steepest descent direction, step length lr in weight space);
  - "adam": the checkpoint's own Adam optimiser (trainmeshwarp continues step 1's) given this batch's gradient of
    the loss weighted by each --adam_lambdas value: -lr * lambda * g / (sqrt(v') + eps), v' the bias-corrected second
    moments after this gradient's square is added, i.e. what the gradient adds through Adam's first moment summed
    over the steps that follow, at the checkpoint's learning rate (--adam_lr to change it).
Errors: mean vertex distance to the truth (hand, object; mm, camera frame) and the hand's 2D error (mean joint
distance in px of the --input_width frame); the loss: the photometric loss per pair as trained (mean over pairs).
The model is in eval mode, as trainmeshwarp keeps it (BatchNorm uses its running statistics).

    python experiments/photometric_network_step.py --checkpoint RUN/checkpoint.pth --data_root DIR --mano_root DIR \
        --fraction 0.00625 --input_width 128 --consist_width 120 --consist_params lateral --consist_max_gap 15 \
        --pairs 96 --out experiments/results/NAME/network_step
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.photometric_at_prediction import add_run_arguments, consist_items, mean_vertex_error  # noqa: E402
from experiments.photometric_signal import save_report  # noqa: E402
from handobjectconsist.datasets import collate_pairs  # noqa: E402
from handobjectconsist.datasets import sample_keys as K  # noqa: E402
from handobjectconsist.models.consistparams import CONSIST_PARAMS, consist_query_meshes  # noqa: E402
from handobjectconsist.models.trained import load_checkpoint, load_trained_model  # noqa: E402
from handobjectconsist.models.warpreg import hand_object_mesh, pair_warp_loss  # noqa: E402

MEASURES = ("loss", "hand_mm", "obj_mm", "hand2d_px")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--consist_params", default="all", choices=CONSIST_PARAMS, help="trainmeshwarp's --consist_params")
    p.add_argument("--pairs", type=int, default=96, help="random consist items with an unannotated query")
    p.add_argument("--batch_size", type=int, default=16, help="items per step (trainmeshwarp's --batch_size)")
    p.add_argument("--lrs", type=float, nargs="*", default=[1e-6, 1e-5], help="step sizes of the 'sign' steps")
    p.add_argument("--sgd_lrs", type=float, nargs="*", default=[1e-4, 1e-3],
                   help="step lengths in weight space of the 'sgd' steps")
    p.add_argument("--adam_lambdas", type=float, nargs="*", default=[0.003],
                   help="loss weights (lambda_consist) of the 'adam' steps (needs the checkpoint's Adam state)")
    p.add_argument("--adam_lr", type=float, default=None, help="learning rate of the 'adam' steps (default: the "
                   "checkpoint optimiser's)")
    p.add_argument("--loss", default="photometric", choices=["photometric", "supervised"],
                   help="the loss whose gradient each step follows; supervised: the query frames' annotations (as if "
                        "they were annotated: a reference for the photometric steps)")
    p.add_argument("--out", default=None, help="also write the table (.md) and per-step numbers (.json) here")
    return p


def pair_losses(model, query: Dict, ref: Dict, consist_width, consist_params: str) -> Tuple[torch.Tensor, Dict]:
    """(B,) the photometric loss of each pair as trainmeshwarp computes it (references' true meshes), and the
    model's results on the query frames."""
    layer = model.mano_branch.mano_layer_right
    _, results, _ = model(query)
    image = query[K.IMAGE]
    hand, obj = consist_query_meshes(results, query[K.CAM_INTR], (image.shape[3], image.shape[2]), consist_params)
    verts, faces = hand_object_mesh(hand, layer.closed_faces, obj, query[K.OBJ_FACES], query.get(K.OBJ_VERTS_MASK),
                                    query.get(K.OBJ_FACES_MASK))
    ref_verts, _ = hand_object_mesh(ref[K.HAND_VERTS3D], layer.closed_faces, ref[K.OBJ_VERTS3D], query[K.OBJ_FACES],
                                    ref.get(K.OBJ_VERTS_MASK), ref.get(K.OBJ_FACES_MASK))
    loss, _ = pair_warp_loss(verts, ref_verts, faces, query, ref, layer.wrist_face_ids, width=consist_width)
    return loss, results


@torch.no_grad()
def measure(model, batches: Sequence, consist_width, consist_params: str) -> Dict[str, np.ndarray]:
    """Per pair of all batches: "loss", "hand_mm", "obj_mm" (mean vertex errors) and "hand2d_px" (mean joint error
    in pixels of the network input)."""
    rows: Dict[str, List[float]] = {name: [] for name in MEASURES}
    for query, ref in batches:
        loss, results = pair_losses(model, query, ref, consist_width, consist_params)
        rows["loss"].extend(loss.tolist())
        rows["hand_mm"].extend((1000 * mean_vertex_error(results["recov_handverts3d"], query[K.HAND_VERTS3D])).tolist())
        rows["obj_mm"].extend((1000 * mean_vertex_error(results["recov_objverts3d"], query[K.OBJ_VERTS3D],
                                                        query.get(K.OBJ_VERTS_MASK))).tolist())
        rows["hand2d_px"].extend((results["joints2d"] - query[K.JOINTS2D]).norm(dim=-1).mean(dim=1).tolist())
    return {name: np.asarray(values) for name, values in rows.items()}


@dataclass
class AdamState:
    """The second moments of an Adam optimiser, per trainable parameter, with its settings."""

    second_moments: List[torch.Tensor]
    steps: List[float]
    lr: float
    beta2: float
    eps: float


def read_adam_state(checkpoint: Dict, params: Sequence[torch.nn.Parameter]) -> AdamState:
    """A checkpoint's Adam state, its parameters in the order of the model's trainable parameters (as
    training.session.build_optimizer lists them)."""
    optimizer = checkpoint.get("optimizer")
    if not optimizer or len(optimizer["state"]) != len(params):
        raise ValueError(f"{checkpoint['path']}: no Adam state for the model's {len(params)} trainable parameters")
    group = optimizer["param_groups"][0]
    states = [optimizer["state"][index] for index in range(len(params))]
    if any(state["exp_avg_sq"].shape != param.shape for state, param in zip(states, params)):
        raise ValueError(f"{checkpoint['path']}: the Adam state does not match the model's parameters")
    return AdamState([state["exp_avg_sq"] for state in states], [float(state["step"]) for state in states],
                     float(group["lr"]), float(group["betas"][1]), float(group["eps"]))


def adam_update(state: AdamState, grads: Sequence[torch.Tensor], weight: float, lr: float) -> List[torch.Tensor]:
    """lr * weight * g / (sqrt(v') + eps) per parameter: what a gradient g of a loss weighted by `weight` adds to the
    weights through Adam's first moment, summed over the steps that follow (its share of m decays by beta1 per step
    and the bias-corrected shares sum to one), with v' = beta2 v + (1 - beta2) (weight g)^2 bias-corrected at the
    next step. To subtract from the weights."""
    updates = []
    for grad, second, step in zip(grads, state.second_moments, state.steps):
        weighted = weight * grad
        second_next = state.beta2 * second + (1.0 - state.beta2) * weighted * weighted
        denominator = (second_next / (1.0 - state.beta2 ** (step + 1))).sqrt() + state.eps
        updates.append(lr * weighted / denominator)
    return updates


def step_effects(model, batches: Sequence, consist_width, consist_params: str, lrs: Sequence[float],
                 sgd_lrs: Sequence[float], adam_lambdas: Sequence[float] = (), adam: Optional[AdamState] = None,
                 adam_lr: Optional[float] = None, loss: str = "photometric") -> List[Dict]:
    """For each batch and step along the gradient of its `loss` ("photometric", or "supervised": MeshRegNet's total
    loss with the query frames' annotations, a reference for the photometric steps): the mean change of every
    measure on that batch ("seen"), on the others ("unseen") and on all items ("all"), the weights restored after
    each step."""
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    before = measure(model, batches, consist_width, consist_params)
    size = len(before["loss"]) // len(batches) if batches else 0
    effects = []
    for index, (query, ref) in enumerate(batches):
        model.zero_grad()
        if loss == "supervised":
            model(query)[0].backward()
        else:
            pair_losses(model, query, ref, consist_width, consist_params)[0].mean().backward()
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]
        norm = torch.sqrt(sum((g * g).sum() for g in grads))
        seen = np.zeros(len(before["loss"]), dtype=bool)
        seen[index * size:(index + 1) * size] = True
        steps = [("sign", lr, [g.sign() * lr for g in grads]) for lr in lrs]
        steps += [("sgd", lr, [g * (lr / norm) for g in grads]) for lr in sgd_lrs]
        if adam is not None:
            lr = adam.lr if adam_lr is None else adam_lr
            steps += [("adam", weight, adam_update(adam, grads, weight, lr)) for weight in adam_lambdas]
        for kind, lr, deltas in steps:
            with torch.no_grad():
                for p, p0, delta in zip(params, saved, deltas):
                    p.copy_(p0 - delta)
            after = measure(model, batches, consist_width, consist_params)
            row = {"batch": index, "step": kind, "lr": lr}
            for name in MEASURES:
                change = after[name] - before[name]
                row[f"{name}_seen"] = float(change[seen].mean())
                row[f"{name}_unseen"] = float(change[~seen].mean()) if (~seen).any() else float("nan")
                row[f"{name}_all"] = float(change.mean())
            effects.append(row)
        with torch.no_grad():
            for p, p0 in zip(params, saved):
                p.copy_(p0)
        print(f"batch {index + 1}/{len(batches)}", file=sys.stderr)
    model.zero_grad()
    return effects


def format_table(effects: List[Dict], header: str) -> str:
    lines = [header, "", "| step | size | batches | loss change: seen / unseen | "
             "hand error change (mm): seen / unseen | object error change (mm): seen / unseen | "
             "hand 2D change (px): seen / unseen | "
             "all items: hand / object error change (mm) | steps raising the hand error on the seen batch |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(row["step"], row["lr"]) for row in effects}, key=lambda key: (key[0], key[1]))
    for kind, lr in keys:
        rows = [row for row in effects if row["step"] == kind and row["lr"] == lr]

        def pair(name):
            seen = np.mean([row[f"{name}_seen"] for row in rows])
            unseen = np.mean([row[f"{name}_unseen"] for row in rows])
            return f"{seen:+.4f} / {unseen:+.4f}" if name == "loss" else f"{seen:+.3f} / {unseen:+.3f}"

        raised = np.mean([row["hand_mm_seen"] > 0 for row in rows])
        everywhere = " / ".join(f"{np.mean([row[name + '_all'] for row in rows]):+.3f}"
                                for name in ("hand_mm", "obj_mm"))
        lines.append(f"| {kind} | {lr:g} | {len(rows)} | {pair('loss')} | {pair('hand_mm')} | {pair('obj_mm')} | "
                     f"{pair('hand2d_px')} | {everywhere} | {raised:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    torch.manual_seed(args.seed)
    loaded = load_trained_model(args.checkpoint, mano_root=args.mano_root)
    root, items = consist_items(args, augment=False)
    usable = len(items) - len(items) % args.batch_size
    batches = [collate_pairs(items[start:start + args.batch_size]) for start in range(0, usable, args.batch_size)]
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    adam = read_adam_state(load_checkpoint(args.checkpoint), params) if args.adam_lambdas else None
    effects = step_effects(loaded.model, batches, args.consist_width, args.consist_params, args.lrs, args.sgd_lrs,
                           args.adam_lambdas, adam, args.adam_lr, args.loss)
    header = (f"One weight step on the {args.loss} loss of one batch of {args.batch_size} consist items, from "
              f"{args.checkpoint} (epoch {loaded.epoch}): train split of {root}, fraction {args.fraction:g}, width "
              f"{args.input_width}, loss width {args.consist_width or args.input_width}, consist params "
              f"{args.consist_params}, max gap {args.consist_max_gap}, {usable} random consist items (seed "
              f"{args.seed}), no augmentation. Changes are after minus before the step, mean over the batch the step "
              f"was taken on ('seen') and over the other {usable - args.batch_size} items ('unseen'), averaged over "
              f"the {len(batches)} batches; errors: mean vertex distance (mm, camera frame), hand joints in px of the "
              f"{args.input_width}-wide input."
              + (f" 'adam': size = the loss weight, at lr {args.adam_lr or adam.lr:g} with the checkpoint's Adam "
                 f"state (step {adam.steps[0]:.0f})." if adam is not None else ""))
    save_report(args.out, format_table(effects, header), args, {"effects": effects})
    return 0


if __name__ == "__main__":
    sys.exit(main())
