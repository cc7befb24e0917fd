"""trainmeshreg: supervised training / evaluation of MeshRegNet (design notes 1.1), single process or torchrun.

Experiment folder (rank 0 writes everything): opt.yaml, train.txt / val.txt, tensorboard/, curves.png,
results.json, images/ (sample and PCK figures), evaluation/ (per-sample errors), checkpoint.pth and
checkpoint_{epoch}.pth snapshots. Order of an epoch: train pass, LR step, validation when due, checkpoint (which
holds the random states at that point, so a resumed run continues exactly like an uninterrupted one).
"""

import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from handobjectconsist.models import MODEL_OPTION_KEYS, MeshRegNet
from handobjectconsist.training.checkpoints import (CHECKPOINT_FORMAT, CheckpointError, atomic_copy,
                                                    atomic_torch_save, capture_rng_states, load_checkpoint,
                                                    load_model_state, restore_rng_states)
from handobjectconsist.training.data import build_train_loader, build_val_loader, default_skeleton_regressor
from handobjectconsist.training.distributed import barrier, cleanup, init_distributed
from handobjectconsist.training.epochpass import NonFiniteLossError, epoch_pass
from handobjectconsist.training.monitor import Monitor
from handobjectconsist.training.options import experiment_name, trainmeshreg_parser
from handobjectconsist.training.samplefig import save_pck_figure
from libyana.seeding import set_all_seeds

LOGGER = logging.getLogger("trainmeshreg")
# Flags that are paths or run settings: taken from the command line even when resuming.
RUNTIME_MODEL_KEYS = ("mano_root",)


def model_options(args, checkpoint: Optional[Dict]) -> Dict:
    """Flags that build the model: the checkpoint's own values when resuming (upstream reload_model)."""
    opts = dict(vars(args))
    if checkpoint is not None:
        saved = checkpoint["opts"]
        for key in MODEL_OPTION_KEYS:
            if key in saved and key not in RUNTIME_MODEL_KEYS:
                opts[key] = saved[key]
    return opts


def build_optimizer(args, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)


def build_scheduler(args, optimizer):
    """StepLR(step lr_decay_step epochs, gamma); gamma 0 means no scheduler (upstream crashed on it)."""
    if args.lr_decay_gamma == 0:
        return None
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, int(args.lr_decay_step)),
                                           gamma=args.lr_decay_gamma)


def freeze_batchnorm_momentum(model: torch.nn.Module) -> None:
    """--freeze_batchnorm: BN momentum 0, so running statistics never change even in train mode."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0


def resolve_exp_dir(args, checkpoint: Optional[Dict]) -> Path:
    if args.exp_dir:
        return Path(args.exp_dir)
    if args.evaluate and checkpoint is not None:
        return Path(checkpoint["path"]).parent / f"evaluate_{args.val_dataset}_{args.val_split}"
    return Path(args.checkpoint_root) / experiment_name(args)


def save_training_checkpoint(exp_dir: Path, epoch: int, opts: Dict, model, optimizer, scheduler, generator,
                             history: Dict, snapshot: int) -> Path:
    """Atomic checkpoint.pth (+ checkpoint_{epoch}.pth when epoch % snapshot == 0). epoch = finished epochs."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "network": "meshregnet",
        "opts": opts,
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": capture_rng_states(generator),
        "history": history,
    }
    path = exp_dir / "checkpoint.pth"
    atomic_torch_save(state, path)
    if snapshot > 0 and epoch % snapshot == 0:
        atomic_copy(path, exp_dir / f"checkpoint_{epoch}.pth")
    return path


def validate(args, loader, model, epoch: int, device, monitor: Monitor, exp_dir: Path, show: bool) -> Dict:
    """Validation pass on this process; logs val metrics, PCK figure and per-sample errors."""
    out = epoch_pass(loader, model, epoch, device, train=False, figure_dir=exp_dir / "images" if show else None,
                     display_freq=args.display_freq, prefix="val", center_idx=args.center_idx)
    evaluator = out["evaluator"]
    metrics = {**out["losses"], **evaluator.summary()}
    monitor.log_epoch("val", epoch, metrics)
    if monitor.enabled:
        evaluator.dump_per_sample(exp_dir / "evaluation" / f"val_epoch{epoch:04d}")
        if show:
            monitor.save_curves()
            save_pck_figure(evaluator.detailed(), exp_dir / "images" / f"val_epoch{epoch:04d}_eval.png",
                            f"val epoch {epoch}")
    return metrics


def run(argv: Optional[List[str]] = None) -> Dict:
    """Parse flags and train (or evaluate). Returns {"exp_dir", "train": [...], "val": [...]} (per-epoch metrics)."""
    args = trainmeshreg_parser().parse_args(argv)
    context = init_distributed(args.device)
    logging.basicConfig(level=logging.INFO if context.is_main else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        return _run(args, context)
    finally:
        cleanup(context)


def _run(args, context) -> Dict:
    device = context.device
    if args.evaluate and not args.resume:
        raise SystemExit("--evaluate needs --resume <checkpoint.pth> (the model to evaluate)")
    set_all_seeds(args.manual_seed)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    if checkpoint is None and args.skeleton_regressor is None:
        found = default_skeleton_regressor(args)
        if found is not None:
            args.skeleton_regressor = str(found)
            LOGGER.info("FPHAB skeleton regressor: %s", found)
        elif "fhbhands" in args.train_datasets:
            LOGGER.info("FPHAB skeleton regressor: MANO J_regressor + finger tips (no fhb_skel_regressor.npz)")
    opts = model_options(args, checkpoint)
    exp_dir = resolve_exp_dir(args, checkpoint)
    model = MeshRegNet.from_options(opts, pretrained=None if checkpoint else args.pretrained)
    if checkpoint is not None:
        load_model_state(model, checkpoint)
        LOGGER.info("resumed model from %s (epoch %d)", checkpoint["path"], checkpoint["epoch"])
    if args.freeze_batchnorm:
        freeze_batchnorm_momentum(model)
    model.to(device)
    optimizer = build_optimizer(args, model)
    scheduler = build_scheduler(args, optimizer)
    start_epoch = 0
    if checkpoint is not None:
        start_epoch = int(checkpoint["epoch"])
        try:
            if checkpoint.get("optimizer") is not None:
                optimizer.load_state_dict(checkpoint["optimizer"])
            if scheduler is not None and checkpoint.get("scheduler") is not None:
                scheduler.load_state_dict(checkpoint["scheduler"])
        except (ValueError, KeyError) as err:
            raise CheckpointError(f"--resume {checkpoint['path']}: optimizer/scheduler state does not match "
                                  f"--optimizer {args.optimizer} ({err})") from None

    generator = torch.Generator()
    generator.manual_seed(args.manual_seed)
    val_loader = build_val_loader(args, context) if context.is_main else None
    train_loader = None if args.evaluate else build_train_loader(args, context, generator)
    if checkpoint is not None and checkpoint.get("rng") is not None and not args.evaluate:
        restore_rng_states(checkpoint["rng"], generator)
    monitor = Monitor(exp_dir, opts, enabled=context.is_main,
                      history=None if checkpoint is None or args.evaluate else checkpoint.get("history"))
    LOGGER.info("experiment folder %s, device %s, world size %d", exp_dir, device, context.world_size)
    train_model = model
    if context.distributed:
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

    try:
        if args.evaluate:
            if not context.is_main:  # evaluation runs on the main process only
                return {"exp_dir": exp_dir, **monitor.history}
            metrics = validate(args, val_loader, model, start_epoch, device, monitor, exp_dir, show=True)
            print({k: round(v, 6) for k, v in metrics.items()})
            return {"exp_dir": exp_dir, **monitor.history}
        epochs = tqdm(range(start_epoch, args.epochs), desc="epochs", disable=not context.is_main)
        for epoch_idx in epochs:
            epoch = epoch_idx + 1
            if context.distributed:
                train_loader.sampler.set_epoch(epoch_idx)
            show = args.epoch_display_freq > 0 and epoch % args.epoch_display_freq == 0
            out = epoch_pass(train_loader, train_model, epoch, device, optimizer=optimizer, train=True,
                             context=context, train_batchnorm=args.train_batchnorm,
                             figure_dir=exp_dir / "images" if show else None, display_freq=args.display_freq,
                             prefix="train", center_idx=args.center_idx)
            train_metrics = {**out["losses"], **out["evaluator"].summary(), "lr": optimizer.param_groups[0]["lr"]}
            monitor.log_epoch("train", epoch, train_metrics)
            epochs.set_postfix(loss=f"{train_metrics.get('total_loss', float('nan')):.4g}")
            if scheduler is not None:
                scheduler.step()
            if context.is_main and args.eval_freq != -1 and epoch_idx % args.eval_freq == 0:
                validate(args, val_loader, model, epoch, device, monitor, exp_dir, show)
            if context.is_main:
                save_training_checkpoint(exp_dir, epoch, opts, model, optimizer, scheduler, generator,
                                         monitor.history, args.snapshot)
            barrier(context)
    except NonFiniteLossError as err:
        LOGGER.error("%s", err)
        raise
    finally:
        monitor.close()
    return {"exp_dir": exp_dir, **monitor.history}


def main(argv: Optional[List[str]] = None) -> int:
    try:
        run(argv)
    except (CheckpointError, NonFiniteLossError, FileNotFoundError, NotImplementedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
