"""Training checkpoints: atomic writes and random-state capture/restore (reading them: models.trained).

Content of checkpoint.pth: {"format", "epoch" (number of finished epochs), "opts" (the run's flag dict),
"state_dict" (MeshRegNet), "optimizer", "scheduler" (state dicts or None), "rng" (torch, cuda, numpy, python,
loader generator), "history" (per-epoch metrics, so curves and results.json continue after a resume)}.
"""

import random
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch

from handobjectconsist.errors import OutputWriteError, describe_os_error
from handobjectconsist.interrupts import deferred_interrupts
from handobjectconsist.models.trained import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    load_model_state,
    load_trained_model,
)
from libyana.fileio import atomic_copy, atomic_open

# Reading checkpoints lives in models.trained; its names stay importable here for the training code and for
# experiments/ (photometric_at_prediction.py, overfit_consistency.py) and demo.py, which import load_trained_model
# from this module.
__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "atomic_copy", "atomic_torch_save", "capture_rng_states",
           "load_checkpoint", "load_model_state", "load_trained_model", "restore_rng_states",
           "save_training_checkpoint"]

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
