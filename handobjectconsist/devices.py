"""Device choice and moving batches to a device (used by training, evaluation, prediction and figures)."""

from typing import Dict, Iterable

import torch

from handobjectconsist.errors import UsageError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' raises UsageError (one line "error: --device cuda: ...") when no
    GPU is visible.

    Args:
        name: "auto", "cpu" or "cuda" (the --device flag).
        local_rank: this process's rank on its machine (torchrun); picks the GPU among the visible ones.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible; use --device cpu or auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def move_to_device(batch: Dict, device: torch.device) -> Dict:
    """Tensors of a batch dict to `device`; other values (lists of strings) unchanged."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def to_host(tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Detached CPU copies of a dict of tensors, with ONE wait for the device: the device-to-host copies are queued
    without blocking (into pinned memory) and the streams of the devices involved are synchronised once at the
    end, instead of one synchronisation per tensor (.cpu()). CPU tensors are returned as they are (detached)."""
    out = {name: value.detach().to("cpu", non_blocking=True) for name, value in tensors.items()}
    _synchronize(value.device for value in tensors.values())
    return out


def _synchronize(devices: Iterable[torch.device]) -> None:
    for device in {device for device in devices if device.type == "cuda"}:
        torch.cuda.current_stream(device).synchronize()
