"""One pass over batches, the same for every trainer: interrupt check, forward of each part of a step, non-finite
check, backward, ONE optimizer step per step (train), loss meters, evaluator, sample figures.

What a step is comes from a pluggable step object (handobjectconsist.training.steps): trainmeshreg's and the
validation's step is one single-frame batch; trainmeshwarp's is a data batch and a consist batch whose gradients
are accumulated by two backward calls before the step.
"""

from contextlib import nullcontext
from pathlib import Path
from typing import Dict, Iterable, Optional

import torch
import torch.distributed as dist
from tqdm import tqdm

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.errors import UserError
from handobjectconsist.evaluation import HandObjectEvaluator
from handobjectconsist.training.distributed import DistContext, all_finite, stop_if_interrupted
from handobjectconsist.training.steps import Step
from libyana.meters import AverageMeters


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss became NaN or infinite; the run stops without writing a checkpoint for this epoch."""


def set_model_mode(model: torch.nn.Module, train: bool, train_batchnorm: bool) -> None:
    """Upstream trains with the whole model in eval mode (BatchNorm uses its running statistics,
    docs/differences-from-upstream.md, K3); train_batchnorm=True switches to ordinary train mode. There is no
    dropout, so only BN differs."""
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
    batches: Iterable,
    model: torch.nn.Module,
    step: Step,
    epoch: int,
    device: torch.device,
    optimizer: Optional[torch.optim.Optimizer] = None,
    train: bool = True,
    context: Optional[DistContext] = None,
    train_batchnorm: bool = False,
    figure_dir: Optional[Path] = None,
    display_freq: int = 500,
    center_idx: int = 9,
    progress: bool = True,
    total: Optional[int] = None,
) -> Dict[str, Dict]:
    """Run one epoch.

    Args:
        batches: what step.parts takes, one item per step (a collated batch dict, or a (data, consist) pair).
        model: MeshRegNet / WarpRegNet (possibly wrapped in DistributedDataParallel).
        step: the kind of step (handobjectconsist.training.steps).
        epoch: 1-based epoch number (messages, figure names).
        optimizer: required when train.
        figure_dir: where sample figures go (None: no figures); one per part every display_freq steps.
        total: number of steps, for the progress bar when batches has no len().
    Returns:
        {kind: {"losses": {name: average over processes}, "evaluator": HandObjectEvaluator (this process' samples)}}
        for each kind of step.kinds; the first kind also averages "step_loss" when step.records_step_loss.
    Raises:
        NonFiniteLossError naming the epoch, batch and kind when a loss is NaN/inf during training.
    """
    context = context or DistContext(device=device)
    set_model_mode(model, train, train_batchnorm)
    meters = {kind: AverageMeters() for kind in step.kinds}
    evaluators = {kind: HandObjectEvaluator(center_idx=center_idx) for kind in step.kinds}
    bar = tqdm(batches, total=total, desc=f"{step.label} epoch {epoch}", leave=False,
               disable=not (progress and context.is_main))
    for batch_idx, batch in enumerate(bar):
        stop_if_interrupted(context)
        if train:
            optimizer.zero_grad(set_to_none=True)
        summed = 0.0
        for part in step.parts(batch, device):
            # Under DDP the gradients are all-reduced once per step: at the backward of the last part.
            last = part.kind == step.kinds[-1]
            if not train:
                grad_context = torch.no_grad()
            elif context.distributed and not last:
                grad_context = model.no_sync()
            else:
                grad_context = nullcontext()
            with grad_context:
                loss, results, losses, extras = step.forward(model, part)
                if train:
                    if not all_finite(loss.detach(), context):
                        raise NonFiniteLossError(
                            f"non-finite {part.kind} loss ({loss.item()}) at epoch {epoch}, batch {batch_idx}; "
                            f"stopping. The last checkpoint (previous epoch) is intact and can be resumed.")
                    loss.backward()
            summed += loss.item()
            batch_size = part.query[K.IMAGE].shape[0]
            for name, value in losses.items():
                if value is not None:
                    value = value.detach().mean().item() if isinstance(value, torch.Tensor) else float(value)
                    meters[part.kind].add_loss_value(name, value, n=batch_size)
            evaluators[part.kind].feed(part.query, results)
            if figure_dir is not None and display_freq > 0 and batch_idx % display_freq == 0 and context.is_main:
                step.save_figure(part, results, extras, Path(figure_dir) / f"{part.kind}_epoch{epoch:04d}_batch"
                                                                         f"{batch_idx:06d}", epoch, batch_idx)
        if step.records_step_loss:
            meters[step.kinds[0]].add_loss_value("step_loss", summed, n=1)
        if train:
            optimizer.step()
        bar.set_postfix(loss=f"{summed:.4g}")
    return {kind: {"losses": reduce_averages(meters[kind], context, device), "evaluator": evaluators[kind]}
            for kind in step.kinds}
