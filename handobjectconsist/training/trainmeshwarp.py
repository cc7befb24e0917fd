"""The trainmeshwarp command: fine-tuning MeshRegNet with photometric consistency (flags: training/options.py;
docs/differences-from-upstream.md, K6, D7).

Loaders: "data" = annotated single frames (mode strong) of --train_datasets; "consist" = items [query, nearest
annotated frame(s)] (mode full, sample_nb, spacing) of --consist_dataset. An epoch takes min(len(data),
len(consist)) steps (training.steps.ConsistencyStep): each runs one data batch and one consist batch through
WarpRegNet and takes ONE optimizer step on the sum of their losses (the gradients are accumulated by two backward
calls, which equals upstream's backward of the sum with half the peak memory).

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

import itertools
import logging
from pathlib import Path
from typing import Dict, List, Optional

import torch

from handobjectconsist.entry import warn_unused_flags
from handobjectconsist.errors import UsageError
from handobjectconsist.models.warpreg import WarpRegNet
from handobjectconsist.training.checkpoints import load_checkpoint, restore_rng_states
from handobjectconsist.training.data import (
    build_pair_loader,
    build_train_loader,
    build_val_loader,
    frame_width,
    split_workers,
)
from handobjectconsist.training.distributed import DistContext
from handobjectconsist.training.epochpass import epoch_pass, timing_line
from handobjectconsist.training.monitor import Monitor
from handobjectconsist.training.options import (
    UNUSED_TRAINING_FLAGS,
    UNUSED_WARP_FLAGS,
    experiment_name,
    trainmeshwarp_parser,
)
from handobjectconsist.training.session import (
    EpochLoop,
    apply_speed_flags,
    build_meshregnet,
    build_optimizer,
    build_scheduler,
    check_epochs_left,
    check_exp_dir,
    distributed_model,
    exit_code,
    experiment_folder,
    loader_generator,
    model_options,
    record_frame_width,
    resolve_pretrained,
    restore_optimizer,
    run_in_context,
)
from handobjectconsist.training.steps import ConsistencyStep
from libyana.seeding import set_all_seeds

LOGGER = logging.getLogger("trainmeshwarp")


# ------------------------------------------------------------------------------------------------------ data
def build_loaders(args, context: DistContext, generator: torch.Generator):
    """(data loader, consist loader, val loader or None on non-main ranks or with --eval_freq -1); --workers split
    over the two train loaders (data.split_workers: never 0 from a positive count, unlike upstream's halving)."""
    if len(args.train_datasets) != 1 or len(args.train_splits) != 1:
        raise UsageError("trainmeshwarp uses one --train_datasets / --train_splits pair (got "
                         f"{args.train_datasets} / {args.train_splits})")
    data_workers, consist_workers = split_workers(args.workers)
    data_loader = build_train_loader(args, context, generator, workers=data_workers)
    consist_loader = build_pair_loader(args, context, generator, workers=consist_workers)
    if context.is_main:
        LOGGER.info(consist_loader.dataset.gap_summary())
    val_loader = None
    if context.is_main and args.eval_freq != -1:
        val_loader = build_val_loader(args, context)
    return data_loader, consist_loader, val_loader


def paired_batches(data_loader, consist_loader):
    """(data batch, consist batch) pairs for ConsistencyStep and their number, min(len(data), len(consist)); the
    longer loader is not asked for a batch beyond that (its loading would draw augmentation random numbers)."""
    steps = min(len(data_loader), len(consist_loader))
    return itertools.islice(zip(data_loader, consist_loader), steps), steps


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
    resolve_pretrained(args, checkpoint, LOGGER)
    from_warp = checkpoint is not None and "warp_state" in checkpoint
    check_same_fraction(args, checkpoint)
    opts = {**model_options(args, checkpoint, LOGGER), "command": "trainmeshwarp"}
    exp_dir = check_exp_dir(args, Path(args.exp_dir or Path(args.checkpoint_root)
                                       / experiment_name(args, "trainmeshwarp")))
    meshregnet = build_meshregnet(args, opts, checkpoint, LOGGER)
    warp = WarpRegNet(meshregnet, lambda_data=args.lambda_data, lambda_consist=args.lambda_consist,
                      criterion=args.consist_criterion, gt_refs=args.consist_gt_refs,
                      progressive_steps=args.progressive_consist_steps, use_backward=args.consist_use_backward,
                      occlusion_threshold=args.occlusion_threshold, consist_width=args.consist_width,
                      consist_scales=args.consist_scales, consist_params=args.consist_params)
    if from_warp:
        warp.load_state_dict({**{f"meshregnet.{k}": v for k, v in meshregnet.state_dict().items()},
                              **checkpoint["warp_state"]})
    warp.to(device)
    apply_speed_flags(args, meshregnet, device, LOGGER)
    optimizer = build_optimizer(args, meshregnet)
    scheduler = build_scheduler(args, optimizer)
    start_epoch = 0
    if checkpoint is not None:
        start_epoch = int(checkpoint["epoch"])
        check_epochs_left(args, start_epoch)
        # A trainmeshreg checkpoint's scheduler is not continued (a fresh schedule, as upstream).
        restore_optimizer(args, checkpoint, optimizer, scheduler if from_warp else None,
                          hyperparameters_from_flags=True)

    generator = loader_generator(args.manual_seed)
    data_loader, consist_loader, val_loader = build_loaders(args, context, generator)
    record_frame_width(opts, frame_width(data_loader.dataset))
    if from_warp and checkpoint.get("rng") is not None:
        restore_rng_states(checkpoint["rng"], generator)
    history = checkpoint.get("history") if from_warp else None
    with experiment_folder(exp_dir, checkpoint if from_warp else None, args.snapshot, context.is_main, LOGGER):
        monitor = Monitor(exp_dir, opts, enabled=context.is_main, history=history,
                          start_epoch=start_epoch if from_warp else 0)
        LOGGER.info("experiment folder %s, device %s, world size %d, ramp step %d", exp_dir, device,
                    context.world_size, int(warp.consist_step))
        train_model = distributed_model(warp, context, args, opts, photometric=True)
        loop = EpochLoop(args, context, exp_dir, opts, meshregnet, optimizer, scheduler, generator, monitor,
                         val_loader, checkpoint_extra=lambda: _warp_checkpoint_entries(warp), logger=LOGGER)
        with loop.guarded():
            for epoch, show in loop.epochs(start_epoch, [data_loader, consist_loader]):
                batches, steps = paired_batches(data_loader, consist_loader)
                out = epoch_pass(batches, train_model, ConsistencyStep(), epoch, device, optimizer=optimizer,
                                 context=context, train_batchnorm=args.train_batchnorm,
                                 figure_dir=exp_dir / "images" if show else None, display_freq=args.display_freq,
                                 center_idx=args.center_idx, total=steps)
                LOGGER.info("%s", timing_line("warp", epoch, out["train"]["timing"], device))
                monitor.log_epoch("train", epoch, {**out["train"]["losses"], **out["train"]["evaluator"].summary(),
                                                   "lr": optimizer.param_groups[0]["lr"]})
                monitor.log_epoch("consist", epoch, {**out["consist"]["losses"],
                                                     **out["consist"]["evaluator"].summary()})
                loop.bar.set_postfix(warp=f"{out['consist']['losses'].get('warp_loss', float('nan')):.4g}")
                loop.end_epoch(epoch, show)
    return {"exp_dir": exp_dir, **monitor.history}


def main(argv: Optional[List[str]] = None) -> int:
    """trainmeshwarp.py entry point: exit code 0; 1 with one "error: ..." line for a user mistake; 130 / 143 for
    SIGINT / SIGTERM (session.exit_code)."""
    return exit_code(run, argv, (FileNotFoundError, NotImplementedError))
