"""Reading checkpoints written by trainmeshreg.py / trainmeshwarp.py, and rebuilding their MeshRegNet.

A checkpoint is a dict with at least "format" (CHECKPOINT_FORMAT), "epoch" (finished epochs), "opts" (the run's flag
dict, which rebuilds the model) and "state_dict" (MeshRegNet weights; a "module." prefix from
DistributedDataParallel is accepted). Writing them belongs to training.checkpoints.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

import torch

from handobjectconsist.errors import UserError
from handobjectconsist.models.meshregnet import MeshRegNet

CHECKPOINT_FORMAT = "handobjectconsist/meshregnet-checkpoint-v1"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used (missing, not ours, or not matching the model)."""


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

    model: MeshRegNet
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
        CheckpointError for a missing, foreign or mismatching checkpoint.
    """
    checkpoint = load_checkpoint(path)
    opts = dict(checkpoint["opts"])
    if mano_root is not None:
        opts["mano_root"] = str(mano_root)
    model = MeshRegNet.from_options(opts, pretrained=None)
    load_model_state(model, checkpoint)
    model.to(device).eval()
    return LoadedModel(model=model, opts=opts, epoch=int(checkpoint["epoch"]), path=Path(checkpoint["path"]))
