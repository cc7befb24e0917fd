"""Run bookkeeping shared by trainmeshreg (supervised.py) and trainmeshwarp (warp_epoch.py).

Process setup and teardown, the command-line exit code, (re)building MeshRegNet from flags or a checkpoint, the
validation pass, and the epoch loop around each trainer's own training pass: sampler epochs, then after the pass
the LR step, validation when due, the checkpoint (which holds the random states at that point, so a resumed run
continues exactly like an uninterrupted one) and a barrier.
"""

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from handobjectconsist.models import MeshRegNet
from handobjectconsist.training.checkpoints import load_model_state, save_training_checkpoint
from handobjectconsist.training.distributed import DistContext, barrier, cleanup, init_distributed
from handobjectconsist.training.epochpass import epoch_pass
from handobjectconsist.training.monitor import Monitor
from handobjectconsist.training.samplefig import save_pck_figure


def run_in_context(args: argparse.Namespace, body: Callable[[argparse.Namespace, DistContext], Dict]) -> Dict:
    """Start this process' distributed context (single process or torchrun) from --device, set up logging (INFO on
    the main process only), run body(args, context) and always tear the context down."""
    context = init_distributed(args.device)
    logging.basicConfig(level=logging.INFO if context.is_main else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        return body(args, context)
    finally:
        cleanup(context)


def exit_code(run: Callable[[Optional[List[str]]], Dict], argv: Optional[List[str]],
              user_errors: Tuple[type, ...]) -> int:
    """Command-line entry: run(argv) and return 0; a user mistake (one of user_errors) is printed as
    "error: ..." on stderr and returns 1 instead of a traceback."""
    try:
        run(argv)
    except user_errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def freeze_batchnorm_momentum(model: torch.nn.Module) -> None:
    """--freeze_batchnorm: BN momentum 0, so running statistics never change even in train mode."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0


def build_meshregnet(args, opts: Dict, checkpoint: Optional[Dict], logger: logging.Logger) -> MeshRegNet:
    """MeshRegNet from the model options `opts`; with a checkpoint its weights are loaded (strictly), otherwise the
    encoder starts from --pretrained. --freeze_batchnorm applies in both cases."""
    model = MeshRegNet.from_options(opts, pretrained=None if checkpoint else args.pretrained)
    if checkpoint is not None:
        load_model_state(model, checkpoint)
        logger.info("resumed model from %s (epoch %d)", checkpoint["path"], checkpoint["epoch"])
    if args.freeze_batchnorm:
        freeze_batchnorm_momentum(model)
    return model


def loader_generator(seed: int) -> torch.Generator:
    """The train loaders' shuffling generator (its state is checkpointed)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def distributed_model(model: torch.nn.Module, context: DistContext) -> torch.nn.Module:
    """model wrapped in DistributedDataParallel under torchrun, model itself in a single process."""
    if not context.distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


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


@dataclass
class EpochLoop:
    """The epochs of a training run. Usage:

        loop = EpochLoop(args, context, exp_dir, opts, model, optimizer, scheduler, generator, monitor, val_loader)
        for epoch, show in loop.epochs(start_epoch, [train_loader, ...]):
            ...one training pass...        (loop.bar.set_postfix(...) to show a figure)
            loop.end_epoch(epoch, show)

    model: the MeshRegNet that is validated and checkpointed (not a DDP wrapper). val_loader: None on non-main
    processes. checkpoint_extra() gives further checkpoint entries (save_training_checkpoint's extra=).
    """

    args: argparse.Namespace
    context: DistContext
    exp_dir: Path
    opts: Dict
    model: MeshRegNet
    optimizer: torch.optim.Optimizer
    scheduler: Optional[object]
    generator: torch.Generator
    monitor: Monitor
    val_loader: Optional[object]
    checkpoint_extra: Callable[[], Dict] = dict
    bar: Optional[tqdm] = field(default=None, init=False)

    def epochs(self, start_epoch: int, train_loaders: Sequence) -> Iterator[Tuple[int, bool]]:
        """Yields (epoch, show) for epoch = start_epoch + 1 .. args.epochs (1-based: the number finished after
        it); show: figures are due (--epoch_display_freq). Reseeds the distributed samplers of train_loaders."""
        self.bar = tqdm(range(start_epoch, self.args.epochs), desc="epochs", disable=not self.context.is_main)
        for epoch_idx in self.bar:
            if self.context.distributed:
                for loader in train_loaders:
                    loader.sampler.set_epoch(epoch_idx)
            epoch = epoch_idx + 1
            yield epoch, self.args.epoch_display_freq > 0 and epoch % self.args.epoch_display_freq == 0

    def end_epoch(self, epoch: int, show: bool) -> None:
        """LR step, validation when due (every --eval_freq epochs, never with -1), checkpoint, barrier."""
        if self.scheduler is not None:
            self.scheduler.step()
        eval_freq = self.args.eval_freq
        if self.context.is_main and self.val_loader is not None and eval_freq != -1 and (epoch - 1) % eval_freq == 0:
            validate(self.args, self.val_loader, self.model, epoch, self.context.device, self.monitor, self.exp_dir,
                     show)
        if self.context.is_main:
            save_training_checkpoint(self.exp_dir, epoch, self.opts, self.model, self.optimizer, self.scheduler,
                                     self.generator, self.monitor.history, self.args.snapshot,
                                     extra=self.checkpoint_extra())
        barrier(self.context)
