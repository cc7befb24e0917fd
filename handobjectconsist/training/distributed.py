"""Process-group set-up for torchrun (DistributedDataParallel): gloo on CPU, nccl on CUDA."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from handobjectconsist.devices import resolve_device


@dataclass
class DistContext:
    """rank / world_size / local_rank of this process and the device it uses."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str = "auto") -> DistContext:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); initialise the process group when world > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def all_finite(value: torch.Tensor, context: DistContext) -> bool:
    """True when value is finite on every process (so all ranks stop together on a NaN)."""
    flag = torch.tensor([float(torch.isfinite(value).all())], device=value.device)
    if context.distributed:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


def barrier(context: DistContext) -> None:
    if context.distributed:
        dist.barrier()


def cleanup(context: DistContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
