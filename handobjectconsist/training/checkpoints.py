"""Checkpoints: atomic writes, random-state capture/restore, and loading with clear errors.

Content of checkpoint.pth: {"format", "epoch" (number of finished epochs), "opts" (the run's flag dict),
"state_dict" (MeshRegNet), "optimizer", "scheduler" (state dicts or None), "rng" (torch, cuda, numpy, python,
loader generator), "history" (per-epoch metrics, so curves and results.json continue after a resume)}.
"""

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch

from handobjectconsist.errors import OutputWriteError, UserError, describe_os_error
from handobjectconsist.interrupts import deferred_interrupts
from libyana.fileio import atomic_copy, atomic_open

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "atomic_copy", "atomic_torch_save", "capture_rng_states",
           "load_checkpoint", "load_model_state", "restore_rng_states", "save_training_checkpoint"]

CHECKPOINT_FORMAT = "handobjectconsist/meshregnet-checkpoint-v1"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used (missing, not ours, or not matching the model)."""


def atomic_torch_save(obj, path: Union[str, Path]) -> None:
    """torch.save to a temporary file in the same folder, then os.replace: readers never see a partial file."""
    with atomic_open(path, "wb") as stream:
        torch.save(obj, stream)


def save_training_checkpoint(exp_dir: Path, epoch: int, opts: Dict, model: torch.nn.Module, optimizer, scheduler,
                             generator: Optional[torch.Generator], history: Dict, snapshot: int,
                             extra: Optional[Dict] = None) -> Path:
    """Atomic exp_dir/checkpoint.pth (+ checkpoint_{epoch}.pth when epoch % snapshot == 0).

    Args:
        epoch: number of finished epochs.
        model: the MeshRegNet whose state_dict is stored (trainmeshreg.py --resume / --evaluate load it).
        generator: the train loader's generator (its state is stored with the other random states).
        extra: further entries of the checkpoint dict (e.g. trainmeshwarp's "trainer" and "warp_state").
    """
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
        **(extra or {}),
    }
    path = Path(exp_dir) / "checkpoint.pth"
    snapshot_path = Path(exp_dir) / f"checkpoint_{epoch}.pth" if snapshot > 0 and epoch % snapshot == 0 else None
    target = path
    try:
        with deferred_interrupts():  # a Ctrl-C / SIGTERM waits until both files are complete
            atomic_torch_save(state, path)
            if snapshot_path is not None:
                target = snapshot_path
                atomic_copy(path, snapshot_path)
    except (OSError, RuntimeError) as err:  # torch.save turns a full disk into a RuntimeError
        problem = describe_os_error(err, target)
        if problem is None:
            raise
        if target == path and epoch > 1:
            raise OutputWriteError(f"{problem}; the previous checkpoint (epoch {epoch - 1}) is intact: free space "
                                   f"(or make the folder writable) and resume with --resume {path}") from None
        if target == path:
            raise OutputWriteError(f"{problem}; no checkpoint was written: free space (or choose a writable "
                                   "--exp_dir / --checkpoint_root) and start again") from None
        raise OutputWriteError(f"{problem}; {path} (epoch {epoch}) was saved, only the snapshot is missing") from None
    return path


def capture_rng_states(loader_generator: Optional[torch.Generator] = None) -> Dict:
    """States of every random generator a run uses."""
    states = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "loader": None if loader_generator is None else loader_generator.get_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Dict, loader_generator: Optional[torch.Generator] = None) -> None:
    """Inverse of capture_rng_states."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if loader_generator is not None and states.get("loader") is not None:
        loader_generator.set_state(states["loader"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        cuda_states = states["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def load_checkpoint(path: Union[str, Path]) -> Dict:
    """Read a checkpoint written by this project; raises CheckpointError naming the path otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pth"
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such checkpoint file (expected <experiment>/checkpoint.pth)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated or foreign file
        raise CheckpointError(f"--resume {path}: cannot be read as a torch checkpoint ({err})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"--resume {path}: not a handobjectconsist MeshRegNet checkpoint (format {found!r}, expected "
            f"{CHECKPOINT_FORMAT!r}); resume from a checkpoint.pth written by trainmeshreg.py"
        )
    for key in ("epoch", "opts", "state_dict"):
        if key not in checkpoint:
            raise CheckpointError(f"--resume {path}: checkpoint lacks the {key!r} entry")
    checkpoint["path"] = str(path)
    return checkpoint


def load_model_state(model: torch.nn.Module, checkpoint: Dict) -> None:
    """Strictly load checkpoint["state_dict"] into model; mismatches raise CheckpointError with details."""
    state = {key.removeprefix("module."): value for key, value in checkpoint["state_dict"].items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"--resume {checkpoint.get('path')}: weights do not fit the model rebuilt from the checkpoint's "
            f"options ({str(err).splitlines()[0]} ...). The checkpoint was written by an incompatible version "
            f"or with different model files (e.g. another --mano_root)."
        ) from None


@dataclass
class LoadedModel:
    """A MeshRegNet rebuilt from its checkpoint's own options, in eval mode on its device."""

    model: "torch.nn.Module"  # MeshRegNet
    opts: Dict
    epoch: int
    path: Path

    @property
    def input_width(self) -> Optional[int]:
        """The frame width the model was trained at (None: native width)."""
        width = self.opts.get("input_width")
        return None if width is None else int(width)


def load_trained_model(path: Union[str, Path], mano_root: Optional[Union[str, Path]] = None,
                       device: Union[str, torch.device] = "cpu") -> LoadedModel:
    """Rebuild the MeshRegNet of a trainmeshreg/trainmeshwarp checkpoint from its own options and load its weights.

    Args:
        path: checkpoint .pth, or an experiment folder holding checkpoint.pth.
        mano_root: folder with the MANO pickles to use instead of the one saved in the checkpoint (a path, so it is
            a run-time setting, as in training's --resume).
        device: where the model goes.
    Returns:
        LoadedModel with the model in eval mode (BatchNorm uses its running statistics).
    Raises:
        CheckpointError (from training.checkpoints) for a missing, foreign or mismatching checkpoint.
    """
    checkpoint = load_checkpoint(path)
    opts = dict(checkpoint["opts"])
    if mano_root is not None:
        opts["mano_root"] = str(mano_root)
    from handobjectconsist.models import MeshRegNet

    model = MeshRegNet.from_options(opts, pretrained=None)
    load_model_state(model, checkpoint)
    model.to(device).eval()
    return LoadedModel(model=model, opts=opts, epoch=int(checkpoint["epoch"]), path=Path(checkpoint["path"]))
