"""The trainmeshreg command: supervised training / evaluation of MeshRegNet (flags: training/options.py,
docs/differences-from-upstream.md, K1), single process or torchrun.

Experiment folder (rank 0 writes everything): opt.yaml, train.txt / val.txt, tensorboard/, curves.png,
results.json, images/ (sample and PCK figures), evaluation/ (per-sample errors), checkpoint.pth and
checkpoint_{epoch}.pth snapshots. Order of an epoch: train pass, LR step, validation when due, checkpoint (which
holds the random states at that point, so a resumed run continues exactly like an uninterrupted one).
"""

import logging
from pathlib import Path
from typing import Dict, List, Optional

from handobjectconsist.entry import warn_unused_flags
from handobjectconsist.errors import UsageError
from handobjectconsist.training.checkpoints import load_checkpoint, restore_rng_states
from handobjectconsist.training.data import (
    build_train_loader,
    build_val_loader,
    default_skeleton_regressor,
    frame_width,
)
from handobjectconsist.training.epochpass import epoch_pass, timing_line
from handobjectconsist.training.monitor import Monitor
from handobjectconsist.training.options import UNUSED_TRAINING_FLAGS, experiment_name, trainmeshreg_parser
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
    validate,
)
from handobjectconsist.training.steps import SingleFrameStep
from libyana.seeding import set_all_seeds

__all__ = ["main", "resolve_exp_dir", "run"]
LOGGER = logging.getLogger("trainmeshreg")


def resolve_exp_dir(args, checkpoint: Optional[Dict]) -> Path:
    if args.exp_dir:
        return Path(args.exp_dir)
    if args.evaluate and checkpoint is not None:
        return Path(checkpoint["path"]).parent / f"evaluate_{args.val_dataset}_{args.val_split}"
    return Path(args.checkpoint_root) / experiment_name(args, "trainmeshreg")


def run(argv: Optional[List[str]] = None) -> Dict:
    """Parse flags and train (or evaluate). Returns {"exp_dir", "train": [...], "val": [...]} (per-epoch metrics)."""
    parser = trainmeshreg_parser()
    args = parser.parse_args(argv)
    warn_unused_flags(args, parser, UNUSED_TRAINING_FLAGS, LOGGER)
    return run_in_context(args, _run)


def _run(args, context) -> Dict:
    device = context.device
    if args.evaluate and not args.resume:
        raise UsageError("--evaluate needs --resume <checkpoint.pth> (the model to evaluate)")
    set_all_seeds(args.manual_seed)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    resolve_pretrained(args, checkpoint, LOGGER)
    if checkpoint is None and args.skeleton_regressor is None:
        found = default_skeleton_regressor(args)
        if found is not None:
            args.skeleton_regressor = str(found)
            LOGGER.info("FPHAB skeleton regressor: %s", found)
        elif "fhbhands" in args.train_datasets:
            LOGGER.info("FPHAB skeleton regressor: MANO J_regressor + finger tips (no fhb_skel_regressor.npz)")
    opts = model_options(args, checkpoint, LOGGER)
    exp_dir = check_exp_dir(args, resolve_exp_dir(args, checkpoint))
    model = build_meshregnet(args, opts, checkpoint, LOGGER).to(device)
    apply_speed_flags(args, model, device, LOGGER)
    optimizer = build_optimizer(args, model)
    scheduler = build_scheduler(args, optimizer)
    start_epoch = 0
    if checkpoint is not None:
        start_epoch = int(checkpoint["epoch"])
        check_epochs_left(args, start_epoch)
        restore_optimizer(args, checkpoint, optimizer, scheduler, hyperparameters_from_flags=False)

    generator = loader_generator(args.manual_seed)
    val_loader = build_val_loader(args, context) if context.is_main else None
    train_loader = None if args.evaluate else build_train_loader(args, context, generator)
    if train_loader is not None:
        record_frame_width(opts, frame_width(train_loader.dataset))
    if checkpoint is not None and checkpoint.get("rng") is not None and not args.evaluate:
        restore_rng_states(checkpoint["rng"], generator)
    with experiment_folder(exp_dir, None if args.evaluate else checkpoint, args.snapshot, context.is_main, LOGGER):
        monitor = Monitor(exp_dir, opts, enabled=context.is_main,
                          history=None if checkpoint is None or args.evaluate else checkpoint.get("history"),
                          start_epoch=None if args.evaluate else start_epoch)
        LOGGER.info("experiment folder %s, device %s, world size %d", exp_dir, device, context.world_size)
        train_model = distributed_model(model, context, args, opts)
        loop = EpochLoop(args, context, exp_dir, opts, model, optimizer, scheduler, generator, monitor, val_loader,
                         logger=LOGGER)
        with loop.guarded():
            if args.evaluate:
                if context.is_main:  # evaluation runs on the main process only
                    metrics = validate(args, val_loader, model, start_epoch, device, monitor, exp_dir, show=True)
                    print({k: round(v, 6) for k, v in metrics.items()})
                return {"exp_dir": exp_dir, **monitor.history}
            for epoch, show in loop.epochs(start_epoch, [train_loader]):
                out = epoch_pass(train_loader, train_model, SingleFrameStep("train"), epoch, device,
                                 optimizer=optimizer, train=True, context=context,
                                 train_batchnorm=args.train_batchnorm,
                                 figure_dir=exp_dir / "images" if show else None, display_freq=args.display_freq,
                                 center_idx=args.center_idx)["train"]
                LOGGER.info("%s", timing_line("train", epoch, out["timing"], device))
                train_metrics = {**out["losses"], **out["evaluator"].summary(),
                                 "lr": optimizer.param_groups[0]["lr"]}
                monitor.log_epoch("train", epoch, train_metrics)
                loop.bar.set_postfix(loss=f"{train_metrics.get('total_loss', float('nan')):.4g}")
                loop.end_epoch(epoch, show)
    return {"exp_dir": exp_dir, **monitor.history}


def main(argv: Optional[List[str]] = None) -> int:
    """trainmeshreg.py entry point: exit code 0; 1 with one "error: ..." line for a user mistake; 130 / 143 for
    SIGINT / SIGTERM (session.exit_code)."""
    return exit_code(run, argv, (FileNotFoundError, NotImplementedError))
