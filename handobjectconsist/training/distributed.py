"""Process-group set-up for torchrun (DistributedDataParallel): gloo on CPU, nccl on CUDA, and stopping every
rank together on SIGINT / SIGTERM.

Signals under torchrun: torchrun forwards a SIGINT / SIGTERM it receives to every rank (and a Ctrl-C in a terminal
reaches them all directly). A rank stopping on its own would leave the others blocked in a collective, so in a
distributed run the signal is only recorded (interrupts.record_only) and every rank checks, at each step boundary,
whether any rank has one (stop_if_interrupted: one all-reduce); all raise Interrupted at the same step, rank 0
alone reports it.
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from handobjectconsist.devices import resolve_device
from handobjectconsist.errors import Interrupted
from handobjectconsist.interrupts import check_interrupt, pending_signal, record_only, signal_name

# How long a rank waits in a collective (all-reduce, barrier) for the others before the job fails. The default of
# init_process_group (10 minutes for NCCL) is shorter than a validation pass plus checkpoint write on rank 0 of a
# large split, during which the other ranks wait in the end-of-epoch barrier.
PROCESS_GROUP_TIMEOUT = timedelta(hours=2)


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
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, timeout=PROCESS_GROUP_TIMEOUT)
    if world_size > 1:
        record_only(True)  # signals are acted upon together, at step boundaries (stop_if_interrupted)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def stop_if_interrupted(context: DistContext) -> None:
    """At a step boundary: raise Interrupted (quiet on ranks other than 0) when a signal arrived on any rank.

    Single process: interrupts.check_interrupt(). Distributed: one all-reduce (MAX) of this rank's pending signal
    number, so that every rank stops at the same step."""
    if not context.distributed:
        check_interrupt()
        return
    flag = torch.tensor([float(pending_signal() or 0)], device=context.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    signum = int(flag.item())
    if signum:
        raise Interrupted(signal_name(signum), quiet=not context.is_main)


def all_finite(value: torch.Tensor, context: DistContext) -> bool:
    """True when value is finite on every process (so all ranks stop together on a NaN)."""
    flag = torch.tensor([float(torch.isfinite(value).all())], device=value.device)
    if context.distributed:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


def barrier(context: DistContext) -> None:
    """Wait for every rank. A rank that left after a signal makes the barrier fail on the others: with a signal
    pending here too, that is the same stop (Interrupted, quiet) rather than a communication error."""
    if not context.distributed:
        return
    try:
        dist.barrier()
    except RuntimeError:  # gloo / NCCL report a lost peer as a RuntimeError (DistBackendError)
        signum = pending_signal()
        if signum is None:
            raise
        raise Interrupted(signal_name(signum), quiet=True) from None


def cleanup(context: DistContext) -> None:
    if context.distributed:
        record_only(False)
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
