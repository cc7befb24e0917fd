"""trainmeshwarp: fine-tuning MeshRegNet with photometric consistency (docs/differences-from-upstream.md, K6, D7).

Loaders: "data" = annotated single frames (mode strong) of --train_datasets; "consist" = items [query, nearest
annotated frame(s)] (mode full, sample_nb, spacing) of --consist_dataset. An epoch takes min(len(data),
len(consist)) steps; each step runs one data batch and one consist batch through WarpRegNet and takes ONE optimizer
step on the sum of their losses (the gradients are accumulated by two backward calls, which equals upstream's
backward of the sum with half the peak memory).

BatchNorm: as upstream, the whole model stays in eval() mode (BN uses its running statistics, its affine
parameters train); --train_batchnorm switches to train mode; --freeze_batchnorm sets the BN momentum to 0.

Resume (--resume, a trainmeshreg.py or trainmeshwarp.py checkpoint): the MeshRegNet is rebuilt from the
checkpoint's own options (model flags on this command line are ignored, as upstream), its weights and optimizer
moments are loaded (lr / weight decay come from this command line), the epoch counter continues. From a
trainmeshwarp checkpoint the lambda_consist ramp counter, scheduler, random states and history are restored too
(upstream restarted the ramp); from a trainmeshreg checkpoint they start fresh, as upstream.

Experiment folder: as trainmeshreg (opt.yaml, train.txt / consist.txt / val.txt, tensorboard/, curves.png,
results.json, images/, evaluation/, checkpoint.pth + snapshots) plus pair figures images/consist_*_pair.png.
checkpoint["state_dict"] is the MeshRegNet's (so trainmeshreg.py --evaluate --resume works on it) and
checkpoint["warp_state"] holds WarpRegNet's own state (the ramp counter).
"""

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Optional

import torch
from tqdm import tqdm

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.devices import move_to_device
from handobjectconsist.entry import Parser, positive_int, warn_unused_flags
from handobjectconsist.errors import UsageError
from handobjectconsist.evaluation import HandObjectEvaluator
from handobjectconsist.interrupts import check_interrupt
from handobjectconsist.models.warpreg import WarpRegNet
from handobjectconsist.training.checkpoints import CheckpointError, load_checkpoint, restore_rng_states
from handobjectconsist.training.data import build_pair_loader, build_train_loader, build_val_loader
from handobjectconsist.training.distributed import DistContext, all_finite
from handobjectconsist.training.epochpass import NonFiniteLossError, reduce_averages, set_model_mode
from handobjectconsist.training.monitor import Monitor
from handobjectconsist.training.options import (DATASET_CHOICES, UNUSED_TRAINING_FLAGS, add_data_args,
                                                add_model_args, add_optim_args, add_run_args)
from handobjectconsist.training.samplefig import save_sample_figure
from handobjectconsist.training.session import (EpochLoop, build_meshregnet, distributed_model, exit_code,
                                                experiment_folder, loader_generator, run_in_context)
from handobjectconsist.training.supervised import build_optimizer, build_scheduler, model_options
from handobjectconsist.visualize.pairs import save_pair_figure
from libyana.meters import AverageMeters
from libyana.seeding import set_all_seeds

LOGGER = logging.getLogger("trainmeshwarp")


# ------------------------------------------------------------------------------------------------------ flags
# trainmeshwarp flags the original parsed but never read (docs/differences-from-upstream.md, D14).
UNUSED_WARP_FLAGS = {
    "consist_mode": "the original never read it; the loss is always the photometric loss of the warped image",
    "consist_scale": "the original never read it; it only names the run folder",
}


def trainmeshwarp_parser() -> argparse.ArgumentParser:
    """trainmeshreg's shared flags with trainmeshwarp's defaults, plus the consistency flags (K1)."""
    parser = Parser(description="Fine-tune MeshRegNet with photometric consistency")
    add_data_args(parser)
    add_model_args(parser)
    add_optim_args(parser, epochs=2000)
    add_run_args(parser, epoch_display_freq=20)
    group = parser.add_argument_group("consistency")
    group.add_argument("--consist_dataset", default="fhbhands", choices=DATASET_CHOICES)
    group.add_argument("--consist_split", default="train")
    group.add_argument("--no_consist_augm", action="store_true", help="no augmentation on the consist dataset")
    group.add_argument("--consist_mode", default="warp", choices=["flow", "warp"], help="no effect, as upstream")
    group.add_argument("--consist_scale", type=float, default=1, help="no effect, as upstream (names the folder)")
    group.add_argument("--consist_criterion", default="l1", choices=["l1", "l2", "ssim"])
    group.add_argument("--progressive_consist_steps", type=int, default=1000,
                       help="lambda_consist ramp length in consist batches (0: no ramp)")
    group.add_argument("--consist_gt_refs", action="store_true", help="reference frames use their GT meshes")
    group.add_argument("--consist_use_backward", action="store_true", help="add the reverse photometric term")
    group.add_argument("--sample_nb", type=positive_int, default=2,
                       help="frames per consist item (query + sample_nb-1 refs)")
    group.add_argument("--spacing", type=int, default=0,
                       help="0: nearest annotated frame; >0: next annotated first; <0: previous first")
    group.add_argument("--lambda_consist", type=float, default=0.001, help="photometric weight (ramped)")
    group.add_argument("--lambda_data", type=float, default=0.999,
                       help="supervised weight (minus the current ramped lambda_consist)")
    group.add_argument("--occlusion_threshold", type=float, default=0.03,
                       help="forward-backward flow tolerance, fraction of the image side")
    return parser


def experiment_name(args) -> str:
    """Upstream trainmeshwarp folder name without the date level."""
    top = f"{'_'.join(args.train_datasets)}_warp{args.consist_dataset}_mini{float(args.mini_factor)}"
    name = (f"{args.com}_frac{args.fraction:.1e}_ld{args.lambda_data:.1e}_lc{args.lambda_consist:.1e}"
            f"crit{args.consist_criterion}sca{args.consist_scale}opt{args.optimizer}_lr{args.lr}_crit{args.criterion2d}"
            f"_mom{args.momentum}_bs{args.batch_size}_lmj3d{args.mano_lambda_joints3d:.1e}"
            f"_lmbeta{args.mano_lambda_shape:.1e}_lmpr{args.mano_lambda_pose_reg:.1e}"
            f"_lmrj3d{args.mano_lambda_recov_joints3d:.1e}_lmrw3d{args.mano_lambda_recov_verts3d:.1e}"
            f"_lov2d{args.obj_lambda_verts2d:.1e}_lov3d{args.obj_lambda_verts3d:.1e}"
            f"_lovr3d{args.obj_lambda_recov_verts3d:.1e}cj{args.center_jittering}seed{args.manual_seed}"
            f"sample_nb{args.sample_nb}_spac{args.spacing}csteps{args.progressive_consist_steps}")
    for flag, suffix in (("no_augm", "_no_augm"), ("no_consist_augm", "_noconsaugm"), ("block_rot", "_block_rot"),
                         ("consist_gt_refs", "_gt_refs")):
        if getattr(args, flag):
            name += suffix
    return f"{top}/{name}"


# ------------------------------------------------------------------------------------------------------ data
def build_loaders(args, context: DistContext, generator: torch.Generator):
    """(data loader, consist loader, val loader or None on non-main ranks or with --eval_freq -1); workers split
    over the two train loaders, as upstream."""
    if len(args.train_datasets) != 1 or len(args.train_splits) != 1:
        raise UsageError("trainmeshwarp uses one --train_datasets / --train_splits pair (got "
                         f"{args.train_datasets} / {args.train_splits})")
    workers = args.workers // 2
    data_loader = build_train_loader(args, context, generator, workers=workers)
    consist_loader = build_pair_loader(args, context, generator, workers=workers)
    val_loader = None
    if context.is_main and args.eval_freq != -1:
        val_loader = build_val_loader(args, context)
    return data_loader, consist_loader, val_loader


# ------------------------------------------------------------------------------------------------------ epoch
def _add_losses(meters: AverageMeters, losses: Dict, batch_size: int) -> None:
    for name, value in losses.items():
        if value is None:
            continue
        value = value.detach().mean().item() if isinstance(value, torch.Tensor) else float(value)
        meters.add_loss_value(name, value, n=batch_size)


def warp_epoch_pass(
    data_loader,
    consist_loader,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    device: torch.device,
    context: Optional[DistContext] = None,
    train_batchnorm: bool = False,
    figure_dir: Optional[Path] = None,
    display_freq: int = 500,
    center_idx: int = 9,
    progress: bool = True,
) -> Dict:
    """One training epoch alternating data and consist batches, one optimizer step per (data, consist) pair.

    Args:
        data_loader: yields collated single-frame batches (annotated frames).
        consist_loader: yields lists [query batch, reference batch, ...] (datasets.collate_pairs).
        model: WarpRegNet (possibly wrapped in DistributedDataParallel).
        figure_dir: where figures go (None: none); one data and one pair figure every display_freq steps.
    Returns:
        {"train": {loss averages of data batches}, "consist": {... of consist batches},
         "evaluators": {"train": HandObjectEvaluator, "consist": HandObjectEvaluator (query frames)}}.
    Raises:
        NonFiniteLossError naming the epoch, step and batch kind.
    """
    context = context or DistContext(device=device)
    set_model_mode(model, True, train_batchnorm)
    meters = {"train": AverageMeters(), "consist": AverageMeters()}
    evaluators = {"train": HandObjectEvaluator(center_idx=center_idx),
                  "consist": HandObjectEvaluator(center_idx=center_idx)}
    steps = min(len(data_loader), len(consist_loader))
    bar = tqdm(zip(range(steps), data_loader, consist_loader), total=steps, desc=f"warp epoch {epoch}", leave=False,
               disable=not (progress and context.is_main))
    for step, data_batch, consist_batch in bar:
        check_interrupt()
        optimizer.zero_grad(set_to_none=True)
        summed = 0.0
        for kind, batch in (("train", data_batch), ("consist", consist_batch)):
            if kind == "train":
                batch = move_to_device(batch, device)
                query = batch
            else:
                batch = [move_to_device(frame, device) for frame in batch]
                query = batch[0]
            sync_off = context.distributed and kind == "train"
            with model.no_sync() if sync_off else torch.enable_grad():
                loss, results, losses, extras = model(batch, supervision="data" if kind == "train" else "consist")
                if not all_finite(loss.detach(), context):
                    raise NonFiniteLossError(
                        f"non-finite {kind} loss ({loss.item()}) at epoch {epoch}, step {step}; stopping. The last "
                        f"checkpoint (previous epoch) is intact and can be resumed.")
                loss.backward()
            summed += loss.item()
            batch_size = query[K.IMAGE].shape[0]
            _add_losses(meters[kind], losses, batch_size)
            evaluators[kind].feed(query, results)
            if figure_dir is not None and display_freq > 0 and step % display_freq == 0 and context.is_main:
                stem = Path(figure_dir) / f"{kind}_epoch{epoch:04d}_batch{step:06d}"
                if kind == "train":
                    save_sample_figure(query, results, f"{stem}_single.png")
                else:
                    save_pair_figure(batch[0], batch[1], extras["pairs"][0], f"{stem}_pair.png",
                                     title=f"epoch {epoch} step {step}")
        meters["train"].add_loss_value("step_loss", summed, n=1)
        optimizer.step()
        bar.set_postfix(loss=f"{summed:.4g}")
    return {
        "train": reduce_averages(meters["train"], context, device),
        "consist": reduce_averages(meters["consist"], context, device),
        "evaluators": evaluators,
    }


# ------------------------------------------------------------------------------------------------------ run
def run(argv: Optional[List[str]] = None) -> Dict:
    """Parse flags and fine-tune. Returns {"exp_dir", "train": [...], "consist": [...], "val": [...]}."""
    parser = trainmeshwarp_parser()
    args = parser.parse_args(argv)
    warn_unused_flags(args, parser, {**UNUSED_TRAINING_FLAGS, **UNUSED_WARP_FLAGS}, LOGGER)
    return run_in_context(args, _run)


def _warp_checkpoint_entries(warp: WarpRegNet) -> Dict:
    """What a trainmeshwarp checkpoint adds to trainmeshreg's format: WarpRegNet's own state (the ramp counter)."""
    warp_state = {k: v for k, v in warp.state_dict().items() if not k.startswith("meshregnet.")}
    return {"trainer": "trainmeshwarp", "warp_state": warp_state}


def _restore_optimizer(args, optimizer, checkpoint) -> None:
    if checkpoint.get("optimizer") is None:
        return
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"--resume {checkpoint['path']}: optimizer state does not match --optimizer "
                              f"{args.optimizer} ({err})") from None
    for group in optimizer.param_groups:  # hyper-parameters come from this command line
        group["lr"] = args.lr
        group["initial_lr"] = args.lr
        group["weight_decay"] = args.weight_decay


def check_same_fraction(args, checkpoint: Optional[Dict]) -> None:
    """--fraction must be the resumed run's: the annotated frames the consistency pairs are built on (and the
    supervised batches drawn from) are the ones step 1 was trained on; another fraction would silently add or
    drop annotations. Raises UsageError naming both values."""
    if checkpoint is None or checkpoint["opts"].get("fraction") is None:
        return
    saved = float(checkpoint["opts"]["fraction"])
    if abs(saved - args.fraction) > 1e-12:
        raise UsageError(f"--fraction {args.fraction:g} differs from the fraction of the resumed run "
                         f"({saved:g}, {checkpoint['path']}): fine-tuning must use the annotated frames the model "
                         f"was trained with; pass --fraction {saved:g}")


def _run(args, context) -> Dict:
    device = context.device
    set_all_seeds(args.manual_seed)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    from_warp = checkpoint is not None and "warp_state" in checkpoint
    check_same_fraction(args, checkpoint)
    opts = {**model_options(args, checkpoint), "command": "trainmeshwarp"}
    exp_dir = Path(args.exp_dir) if args.exp_dir else Path(args.checkpoint_root) / experiment_name(args)
    meshregnet = build_meshregnet(args, opts, checkpoint, LOGGER)
    warp = WarpRegNet(meshregnet, lambda_data=args.lambda_data, lambda_consist=args.lambda_consist,
                      criterion=args.consist_criterion, gt_refs=args.consist_gt_refs,
                      progressive_steps=args.progressive_consist_steps, use_backward=args.consist_use_backward,
                      occlusion_threshold=args.occlusion_threshold)
    if from_warp:
        warp.load_state_dict({**{f"meshregnet.{k}": v for k, v in meshregnet.state_dict().items()},
                              **checkpoint["warp_state"]})
    warp.to(device)
    optimizer = build_optimizer(args, meshregnet)
    scheduler = build_scheduler(args, optimizer)
    start_epoch = 0
    if checkpoint is not None:
        start_epoch = int(checkpoint["epoch"])
        _restore_optimizer(args, optimizer, checkpoint)
        if from_warp and scheduler is not None and checkpoint.get("scheduler") is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])

    generator = loader_generator(args.manual_seed)
    data_loader, consist_loader, val_loader = build_loaders(args, context, generator)
    if from_warp and checkpoint.get("rng") is not None:
        restore_rng_states(checkpoint["rng"], generator)
    history = checkpoint.get("history") if from_warp else None
    with experiment_folder(exp_dir, checkpoint if from_warp else None, args.snapshot, context.is_main, LOGGER):
        monitor = Monitor(exp_dir, opts, enabled=context.is_main, history=history,
                          start_epoch=start_epoch if from_warp else 0)
        LOGGER.info("experiment folder %s, device %s, world size %d, ramp step %d", exp_dir, device,
                    context.world_size, int(warp.consist_step))
        train_model = distributed_model(warp, context)
        loop = EpochLoop(args, context, exp_dir, opts, meshregnet, optimizer, scheduler, generator, monitor,
                         val_loader, checkpoint_extra=lambda: _warp_checkpoint_entries(warp))
        try:
            for epoch, show in loop.epochs(start_epoch, [data_loader, consist_loader]):
                out = warp_epoch_pass(data_loader, consist_loader, train_model, optimizer, epoch, device, context,
                                      train_batchnorm=args.train_batchnorm,
                                      figure_dir=exp_dir / "images" if show else None,
                                      display_freq=args.display_freq, center_idx=args.center_idx)
                monitor.log_epoch("train", epoch, {**out["train"], **out["evaluators"]["train"].summary(),
                                                   "lr": optimizer.param_groups[0]["lr"]})
                monitor.log_epoch("consist", epoch, {**out["consist"], **out["evaluators"]["consist"].summary()})
                loop.bar.set_postfix(warp=f"{out['consist'].get('warp_loss', float('nan')):.4g}")
                loop.end_epoch(epoch, show)
        except KeyboardInterrupt as err:
            raise loop.interrupted(err) from None
        finally:
            monitor.close()
    return {"exp_dir": exp_dir, **monitor.history}


def main(argv: Optional[List[str]] = None) -> int:
    """trainmeshwarp.py entry point: exit code 0; 1 with one "error: ..." line for a user mistake; 130 / 143 for
    SIGINT / SIGTERM (session.exit_code)."""
    return exit_code(run, argv, (FileNotFoundError, NotImplementedError))
