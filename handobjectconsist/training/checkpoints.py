"""Checkpoints: atomic writes, random-state capture/restore, and loading with clear errors.

Content of checkpoint.pth: {"format", "epoch" (number of finished epochs), "opts" (the run's flag dict),
"state_dict" (MeshRegNet), "optimizer", "scheduler" (state dicts or None), "rng" (torch, cuda, numpy, python,
loader generator), "history" (per-epoch metrics, so curves and results.json continue after a resume)}.
"""

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch

CHECKPOINT_FORMAT = "handobjectconsist/meshregnet-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (missing, not ours, or not matching the model)."""


def atomic_torch_save(obj, path: Union[str, Path]) -> None:
    """torch.save to a temporary file in the same folder, then os.replace: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
        raise


def atomic_copy(src: Union[str, Path], dst: Union[str, Path]) -> None:
    """Copy src to dst through a temporary file and os.replace."""
    dst = Path(dst)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(handle)
    try:
        shutil.copyfile(src, tmp_name)
        os.replace(tmp_name, dst)
    except BaseException:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
        raise


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
