"""One pass over a loader: forward, loss check, backward/step (train), meters, evaluator, sample figures."""

from pathlib import Path
from typing import Dict, Optional

import torch
import torch.distributed as dist
from tqdm import tqdm

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.devices import move_to_device
from handobjectconsist.errors import UserError
from handobjectconsist.evaluation import HandObjectEvaluator
from handobjectconsist.interrupts import check_interrupt
from handobjectconsist.training.distributed import DistContext, all_finite
from handobjectconsist.training.samplefig import save_sample_figure
from libyana.meters import AverageMeters


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss became NaN or infinite; the run stops without writing a checkpoint for this epoch."""


def set_model_mode(model: torch.nn.Module, train: bool, train_batchnorm: bool) -> None:
    """Upstream trains with the whole model in eval mode (BatchNorm uses its running statistics,
    docs/differences-from-upstream.md, K3); train_batchnorm=True switches to ordinary train mode. There is no dropout, so only BN differs."""
    model.train(train and train_batchnorm)


def reduce_averages(meters: AverageMeters, context: DistContext, device: torch.device) -> Dict[str, float]:
    """Average meters over all processes (weighted by their counts)."""
    if not context.distributed:
        return meters.averages()
    names = sorted(meters.average_meters)
    sums = torch.tensor([[meters.average_meters[n].sum, meters.average_meters[n].count] for n in names],
                        dtype=torch.float64, device=device).reshape(-1, 2)
    dist.all_reduce(sums)
    return {n: float(s / c) for n, (s, c) in zip(names, sums.tolist()) if c > 0}


def epoch_pass(
    loader,
    model: torch.nn.Module,
    epoch: int,
    device: torch.device,
    optimizer: Optional[torch.optim.Optimizer] = None,
    train: bool = True,
    context: Optional[DistContext] = None,
    train_batchnorm: bool = False,
    figure_dir: Optional[Path] = None,
    display_freq: int = 500,
    prefix: str = "train",
    center_idx: int = 9,
    progress: bool = True,
) -> Dict:
    """Run one epoch.

    Args:
        loader: yields collated batch dicts.
        model: MeshRegNet (possibly wrapped in DistributedDataParallel).
        epoch: 1-based epoch number (messages, figure names).
        optimizer: required when train.
        figure_dir: where sample figures go (None: no figures); one every display_freq batches.
    Returns:
        {"losses": {name: average}, "evaluator": HandObjectEvaluator (this process' samples)}.
    Raises:
        NonFiniteLossError naming the epoch and batch when the total loss is NaN/inf during training.
    """
    context = context or DistContext(device=device)
    set_model_mode(model, train, train_batchnorm)
    meters = AverageMeters()
    evaluator = HandObjectEvaluator(center_idx=center_idx)
    bar = tqdm(loader, desc=f"{prefix} epoch {epoch}", leave=False, disable=not (progress and context.is_main))
    for batch_idx, batch in enumerate(bar):
        check_interrupt()
        batch = move_to_device(batch, device)
        batch_size = batch[K.IMAGE].shape[0]
        if train:
            total, results, losses = model(batch)
            if not all_finite(total.detach(), context):
                raise NonFiniteLossError(
                    f"non-finite training loss ({total.item()}) at epoch {epoch}, batch {batch_idx}; "
                    f"stopping. The last checkpoint (previous epoch) is intact and can be resumed."
                )
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
        else:
            with torch.no_grad():
                total, results, losses = model(batch)
        for name, value in losses.items():
            if value is not None:
                meters.add_loss_value(name, value.detach().mean().item(), n=batch_size)
        evaluator.feed(batch, results)
        if figure_dir is not None and display_freq > 0 and batch_idx % display_freq == 0 and context.is_main:
            save_sample_figure(batch, results, Path(figure_dir) / f"{prefix}_epoch{epoch:04d}_batch{batch_idx:06d}.png")
        bar.set_postfix(loss=f"{total.item():.4g}")
    return {"losses": reduce_averages(meters, context, device), "evaluator": evaluator}
