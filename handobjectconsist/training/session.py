"""Run bookkeeping shared by the trainmeshreg and trainmeshwarp commands (training/trainmeshreg.py, trainmeshwarp.py).

Process setup and teardown, the command-line exit code, (re)building MeshRegNet from flags or a checkpoint, the
optimizer state of a resumed run, the validation pass, and the epoch loop around each trainer's training pass:
sampler epochs, then after the pass the LR step, validation when due, the checkpoint (which holds the random states
at that point, so a resumed run continues exactly like an uninterrupted one ON CPU; on CUDA the backward of
grid_sample and index_put and cuDNN's algorithm choice are not deterministic, and with loader workers the persistent
workers' random streams are not checkpointed, so a resumed CUDA run continues statistically, not bit for bit) and a
barrier.
"""

import argparse
import inspect
import logging
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from handobjectconsist.entry import run_main, user_error_message
from handobjectconsist.errors import Interrupted, UsageError, require_output_dir
from handobjectconsist.interrupts import deferred_interrupts
from handobjectconsist.models import LOSS_LAMBDA_DEFAULTS, MODEL_OPTION_KEYS, MeshRegNet, predicts_shape
from handobjectconsist.models.encoder import IMAGENET_WEIGHTS, RANDOM_WEIGHTS, TINY_ARCH
from handobjectconsist.training.checkpoints import (
    CheckpointError,
    atomic_copy,
    load_model_state,
    save_training_checkpoint,
)
from handobjectconsist.training.data import resolve_workers
from handobjectconsist.training.distributed import DistContext, barrier, cleanup, init_distributed, stop_if_interrupted
from handobjectconsist.training.epochpass import NonFiniteLossError, epoch_pass
from handobjectconsist.training.monitor import Monitor
from handobjectconsist.training.options import trainmeshreg_parser
from handobjectconsist.training.samplefig import save_pck_figure
from handobjectconsist.training.steps import SingleFrameStep
from libyana.fileio import remove_stale_temporaries

# Model flags that are paths or run settings: taken from the command line even when resuming.
RUNTIME_MODEL_KEYS = ("mano_root",)
# Flags that set what the network sees: the checkpoint's values on --resume unless given (resolution_options).
RESOLUTION_KEYS = ("input_width",)


def run_in_context(args: argparse.Namespace, body: Callable[[argparse.Namespace, DistContext], Dict]) -> Dict:
    """Start this process' distributed context (single process or torchrun) from --device, set up logging (INFO on
    the main process only), run body(args, context) and always tear the context down."""
    context = init_distributed(args.device)
    logging.basicConfig(level=logging.INFO if context.is_main else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    resolve_workers(args, context.device)
    if context.device.type == "cuda":
        # Every batch of a run has the same shapes (fixed --input_width and --batch_size, drop_last in training),
        # so cuDNN's per-shape algorithm search pays off after the first step.
        torch.backends.cudnn.benchmark = True
    try:
        return body(args, context)
    finally:
        cleanup(context)


def exit_code(run: Callable[[Optional[List[str]]], Dict], argv: Optional[List[str]],
              user_errors: Tuple[type, ...] = ()) -> int:
    """Command-line entry: handobjectconsist.entry.run_main(run, argv) -- 0; 1 with one line "error: ..." for a
    user error (a UserError, a disk-full / read-only failure, or one of user_errors); 130 / 143 with one line for
    SIGINT / SIGTERM; a traceback for anything else."""
    return run_main(run, argv, user_errors)


def _first_missing_folder(path: Path) -> Optional[Path]:
    """The outermost folder of path (path included) that does not exist yet; None if path exists."""
    if path.exists():
        return None
    missing = path
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    return missing


def check_exp_dir(args, exp_dir: Path) -> Path:
    """exp_dir, or UsageError naming --exp_dir (or --checkpoint_root) when it or a folder above is an existing file;
    called before the model and data are built."""
    return require_output_dir(exp_dir, "--exp_dir" if args.exp_dir else "--checkpoint_root")


@contextmanager
def experiment_folder(exp_dir: Path, checkpoint: Optional[Dict], snapshot: int, enabled: bool,
                      logger: logging.Logger) -> Iterator[None]:
    """Guard the block that writes the experiment folder exp_dir (a no-op when enabled is False, on other ranks).

    Before: removes temporary files left in exp_dir by killed runs, and rewrites the snapshot
    checkpoint_{epoch}.pth of the resumed epoch if a kill lost it (resuming from exp_dir/checkpoint.pth).
    After a user error or an interrupt: if this run created exp_dir and wrote no checkpoint into it, the folders
    it created are removed, so a failed start leaves nothing half-written.
    """
    if not enabled:
        yield
        return
    created = _first_missing_folder(exp_dir)
    if created is None:
        removed = remove_stale_temporaries(exp_dir)
        if removed:
            logger.info("removed %d temporary files left by interrupted runs in %s", len(removed), exp_dir)
        _restore_snapshot(exp_dir, checkpoint, snapshot, logger)
    try:
        yield
    except BaseException as err:
        user_side = isinstance(err, KeyboardInterrupt) or user_error_message(err) is not None
        if created is not None and user_side and not (exp_dir / "checkpoint.pth").exists():
            shutil.rmtree(created, ignore_errors=True)
        raise


def _restore_snapshot(exp_dir: Path, checkpoint: Optional[Dict], snapshot: int, logger: logging.Logger) -> None:
    """Rewrite checkpoint_{epoch}.pth from the resumed exp_dir/checkpoint.pth when the snapshot is due but absent
    (a kill between writing checkpoint.pth and copying it)."""
    if checkpoint is None or snapshot <= 0:
        return
    epoch = int(checkpoint["epoch"])
    source = exp_dir / "checkpoint.pth"
    target = exp_dir / f"checkpoint_{epoch}.pth"
    if epoch % snapshot != 0 or target.exists() or not source.exists():
        return
    if Path(checkpoint["path"]).resolve() != source.resolve():
        return
    atomic_copy(source, target)
    logger.warning("snapshot %s was missing (lost to an interrupted run); rewritten from %s", target, source)


def model_options(args, checkpoint: Optional[Dict], logger: logging.Logger) -> Dict:
    """Flags that build the model: the checkpoint's own values when resuming (upstream reload_model), except loss
    weights given on the command line (a value other than the flag's default), which override the checkpoint's
    (docs/differences-from-upstream.md, D15) unless they would switch the shape head on or off
    (mano_lambda_shape 0 vs > 0). Model flags ignored for the checkpoint's values are named in one warning line,
    overriding loss weights in one info line. The frame width follows resolution_options (args changes in place)."""
    resolution_options(args, checkpoint, logger)
    opts = dict(vars(args))
    if checkpoint is not None:
        saved = checkpoint["opts"]
        defaults = trainmeshreg_parser()
        ignored, overridden = [], []
        for key in MODEL_OPTION_KEYS:
            if key not in saved or key in RUNTIME_MODEL_KEYS:
                continue
            given = key in opts and opts[key] != saved[key] and opts[key] != defaults.get_default(key)
            change = f"--{key} {_flag_text(opts.get(key))} (checkpoint: {_flag_text(saved[key])})"
            if given and key in LOSS_LAMBDA_DEFAULTS and _same_heads(key, opts[key], saved[key]):
                overridden.append(change)
                continue
            if given:
                ignored.append(change)
            opts[key] = saved[key]
        if ignored:
            logger.warning("--resume %s: model flags come from the checkpoint; ignored: %s", checkpoint.get("path"),
                           ", ".join(ignored))
        if overridden:
            logger.info("--resume %s: loss weights from the command line: %s", checkpoint.get("path"),
                        ", ".join(overridden))
    return opts


def resolution_options(args, checkpoint: Optional[Dict], logger: logging.Logger) -> None:
    """On --resume, set each flag of RESOLUTION_KEYS (the frame width) that is not given on the command line to the
    checkpoint's value (args is changed in place, so datasets use it); a given value that differs from the
    checkpoint's is kept and said in one warning line. No-op without a checkpoint or for a checkpoint without the
    value (a run at the native width before it was recorded)."""
    if checkpoint is None:
        return
    for key in RESOLUTION_KEYS:
        saved, given = checkpoint["opts"].get(key), getattr(args, key)
        if saved is None or given == saved:
            continue
        if given is None:
            setattr(args, key, saved)
            logger.info("--%s %s from the checkpoint %s", key, saved, checkpoint.get("path"))
        else:
            logger.warning("--%s %s differs from the checkpoint's %s (%s): the network now sees frames %s px wide",
                           key, given, saved, checkpoint.get("path"), given)


def check_epochs_left(args, start_epoch: int) -> None:
    """Raise UsageError when a resumed run has no epoch left to train (--epochs at or below the checkpoint's)."""
    if start_epoch > 0 and args.epochs <= start_epoch and not getattr(args, "evaluate", False):
        raise UsageError(f"--epochs {args.epochs}: the resumed checkpoint has already finished {start_epoch} epochs, "
                         f"so nothing would be trained; pass --epochs above {start_epoch} (the number of the last "
                         "epoch to train)")


def record_frame_width(opts: Dict, width: Optional[int]) -> None:
    """Store the width of the frames the network is trained on (training.data.frame_width) as opts["input_width"],
    so opt.yaml and the checkpoint name it even when --input_width was not given (the native width)."""
    if width is not None:
        opts["input_width"] = int(width)


def _same_heads(key: str, value: float, saved: float) -> bool:
    """Whether loss weight `key` at `value` builds the same network as at `saved` (models.predicts_shape)."""
    return key != "mano_lambda_shape" or predicts_shape(value) == predicts_shape(saved)


def _flag_text(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


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


def resolve_pretrained(args, checkpoint: Optional[Dict], logger: logging.Logger) -> None:
    """Set args.pretrained to the encoder's initial weights as opt.yaml records them: --pretrained, by default
    'imagenet' ('none' for the tiny test encoder); when resuming, the checkpoint's own record (the weights come
    from the checkpoint; a --pretrained given anyway is said to have no effect)."""
    if checkpoint is not None:
        if args.pretrained is not None:
            logger.warning("--pretrained has no effect with --resume: the encoder's weights come from %s",
                           checkpoint.get("path"))
        args.pretrained = checkpoint.get("opts", {}).get("pretrained")
    elif args.pretrained is None:
        args.pretrained = RANDOM_WEIGHTS if args.encoder_arch == TINY_ARCH else IMAGENET_WEIGHTS


def build_meshregnet(args, opts: Dict, checkpoint: Optional[Dict], logger: logging.Logger) -> MeshRegNet:
    """MeshRegNet from the model options `opts`; with a checkpoint its weights are loaded (strictly), otherwise the
    encoder starts from --pretrained (resolved by resolve_pretrained). --freeze_batchnorm applies in both cases."""
    model = MeshRegNet.from_options(opts, pretrained=None if checkpoint else args.pretrained)
    if checkpoint is not None:
        load_model_state(model, checkpoint)
        logger.info("resumed model from %s (epoch %d)", checkpoint["path"], checkpoint["epoch"])
    elif args.pretrained == RANDOM_WEIGHTS and opts["encoder_arch"] != TINY_ARCH:
        logger.warning("encoder %s: --pretrained none, starting from RANDOM weights", opts["encoder_arch"])
    if args.freeze_batchnorm:
        freeze_batchnorm_momentum(model)
    return model


def apply_speed_flags(args, model: MeshRegNet, device: torch.device, logger: logging.Logger) -> None:
    """--amp (bfloat16 autocast of the encoder) and --channels_last on CUDA; on CPU one warning line says that they
    have no effect (CPU bfloat16 convolutions are slower than float32 on most CPUs)."""
    wanted = [flag for flag in ("amp", "channels_last") if getattr(args, flag, False)]
    if not wanted:
        return
    if device.type != "cuda":
        logger.warning("%s: no effect on %s (CUDA only)", " and ".join(f"--{flag}" for flag in wanted), device)
        return
    model.set_encoder_precision(torch.bfloat16 if args.amp else None, channels_last=args.channels_last)
    logger.info("encoder: %s", ", ".join(["bfloat16 autocast"] * args.amp + ["channels-last"] * args.channels_last))


def restore_optimizer(args, checkpoint: Dict, optimizer: torch.optim.Optimizer, scheduler: Optional[object],
                      hyperparameters_from_flags: bool) -> None:
    """Load a resumed checkpoint's optimizer state (Adam moments / SGD momentum) and, when scheduler is given and the
    checkpoint has one, the scheduler state. hyperparameters_from_flags: the learning rate and weight decay come
    from this command line (trainmeshwarp fine-tuning a trainmeshreg run) instead of the checkpoint (trainmeshreg
    continuing itself). Raises CheckpointError when the state does not fit --optimizer."""
    try:
        if checkpoint.get("optimizer") is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint.get("scheduler") is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"--resume {checkpoint['path']}: optimizer/scheduler state does not match "
                              f"--optimizer {args.optimizer} ({err})") from None
    if hyperparameters_from_flags and checkpoint.get("optimizer") is not None:
        for group in optimizer.param_groups:
            group["lr"] = args.lr
            group["initial_lr"] = args.lr
            group["weight_decay"] = args.weight_decay


def loader_generator(seed: int) -> torch.Generator:
    """The train loaders' shuffling generator (its state is checkpointed)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


# Loss weights of which one > 0 makes the training loss reach every parameter of the hand branch (MANO pose/shape and
# hand scale/translation heads) and of the object scale/translation head: the camera-space and 2D terms go through
# the recovered 3D, i.e. through all of them (checked against the gradients: tests/training/test_session.py).
_DDP_PARAMETERS = inspect.signature(DistributedDataParallel.__init__).parameters
HAND_CAMERA_WEIGHTS = ("mano_lambda_recov_joints3d", "mano_lambda_recov_verts3d", "mano_lambda_joints2d",
                       "mano_lambda_verts2d")
OBJECT_CAMERA_WEIGHTS = ("obj_lambda_recov_verts3d", "obj_lambda_verts2d")


def may_leave_parameters_unused(opts: Dict, photometric: bool) -> bool:
    """Whether a training step can leave a MeshRegNet parameter without gradient (DDP then needs
    find_unused_parameters, which costs a graph traversal per step and warns on every rank when none is unused).
    photometric: trainmeshwarp's loss, whose rendered meshes reach every head."""
    if photometric:
        return False
    return not (any(float(opts[key]) > 0 for key in HAND_CAMERA_WEIGHTS)
                and any(float(opts[key]) > 0 for key in OBJECT_CAMERA_WEIGHTS))


def distributed_model(model: torch.nn.Module, context: DistContext, args, opts: Dict,
                      photometric: bool = False) -> torch.nn.Module:
    """model wrapped in DistributedDataParallel under torchrun, model itself in a single process.

    find_unused_parameters only when may_leave_parameters_unused; buffers are broadcast from rank 0 at each step
    only when BatchNorm updates its running statistics (--train_batchnorm without --freeze_batchnorm), since
    otherwise they never change and are equal on every rank from the start."""
    if not context.distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    sync = bool(args.train_batchnorm and not args.freeze_batchnorm)
    # Newer torch renames broadcast_buffers (and warns on the old name); buffers are synced at wrapping either way.
    sync_flag = "forward_sync_buffers" if "forward_sync_buffers" in _DDP_PARAMETERS else "broadcast_buffers"
    return DistributedDataParallel(model, device_ids=device_ids,
                                   find_unused_parameters=may_leave_parameters_unused(opts, photometric),
                                   **{sync_flag: sync})


def validation_due(epoch: int, args) -> bool:
    """Whether epoch (1-based, the number finished) is validated: --eval_freq N validates epochs 1, 1+N, 1+2N, ...
    (the original's rule, 0-based epoch index % N == 0) and, an addition (docs/differences-from-upstream.md, D15),
    the last epoch --epochs; -1 never."""
    if args.eval_freq == -1:
        return False
    return (epoch - 1) % args.eval_freq == 0 or epoch == args.epochs


def validate(args, loader, model, epoch: int, device, monitor: Monitor, exp_dir: Path, show: bool) -> Dict:
    """Validation pass on this process; logs val metrics, PCK figure and per-sample errors."""
    out = epoch_pass(loader, model, SingleFrameStep("val"), epoch, device, train=False,
                     figure_dir=exp_dir / "images" if show else None, display_freq=args.display_freq,
                     center_idx=args.center_idx)["val"]
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
        with loop.guarded():
            for epoch, show in loop.epochs(start_epoch, [train_loader, ...]):
                ...one training pass (epochpass.epoch_pass)...   (loop.bar.set_postfix(...) to show a figure)
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
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    bar: Optional[tqdm] = field(default=None, init=False)
    saved_epoch: Optional[int] = field(default=None, init=False)  # last epoch checkpointed into exp_dir

    def interrupted(self, err: KeyboardInterrupt) -> Interrupted:
        """Interrupted naming the signal and the last checkpoint this run saved (for the one-line report)."""
        signal_name = getattr(err, "signal_name", "SIGINT")
        if getattr(err, "quiet", False) or not self.context.is_main:
            return Interrupted(signal_name, quiet=True)  # rank 0 names the checkpoint it saved
        path = self.exp_dir / "checkpoint.pth"
        if self.saved_epoch is None:
            return Interrupted(signal_name, f"no checkpoint was saved in {self.exp_dir} by this run")
        return Interrupted(signal_name, f"the last saved checkpoint is {path} (epoch {self.saved_epoch}); "
                                        f"continue with --resume {path}")

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Around the run's work with the experiment folder open: a signal (KeyboardInterrupt) becomes Interrupted
        naming the last saved checkpoint, a non-finite loss is logged, and the monitor is closed in every case."""
        try:
            yield
        except KeyboardInterrupt as err:
            raise self.interrupted(err) from None
        except NonFiniteLossError as err:
            self.logger.error("%s", err)
            raise
        finally:
            self.monitor.close()

    def epochs(self, start_epoch: int, train_loaders: Sequence) -> Iterator[Tuple[int, bool]]:
        """Yields (epoch, show) for epoch = start_epoch + 1 .. args.epochs (1-based: the number finished after
        it); show: figures are due (--epoch_display_freq). Reseeds the distributed samplers of train_loaders."""
        self.bar = tqdm(range(start_epoch, self.args.epochs), desc="epochs", disable=not self.context.is_main)
        if (self.exp_dir / "checkpoint.pth").exists() and start_epoch > 0:
            self.saved_epoch = start_epoch
        for epoch_idx in self.bar:
            if self.context.distributed:
                for loader in train_loaders:
                    loader.sampler.set_epoch(epoch_idx)
            epoch = epoch_idx + 1
            yield epoch, self.args.epoch_display_freq > 0 and epoch % self.args.epoch_display_freq == 0

    def end_epoch(self, epoch: int, show: bool) -> None:
        """LR step, validation when due (validation_due), checkpoint, barrier, then a stop if a signal arrived."""
        if self.scheduler is not None:
            self.scheduler.step()
        if self.context.is_main and self.val_loader is not None and validation_due(epoch, self.args):
            validate(self.args, self.val_loader, self.model, epoch, self.context.device, self.monitor, self.exp_dir,
                     show)
        if self.context.is_main:
            with deferred_interrupts():  # a signal during the write is raised once saved_epoch is right
                save_training_checkpoint(self.exp_dir, epoch, self.opts, self.model, self.optimizer,
                                         self.scheduler, self.generator, self.monitor.history, self.args.snapshot,
                                         extra=self.checkpoint_extra())
                self.saved_epoch = epoch
        barrier(self.context)
        stop_if_interrupted(self.context)  # torchrun: a signal during validation or the last epoch stops here
