"""One pass over batches, the same for every trainer: interrupt check, forward and backward of each part of a step,
ONE host synchronisation for all loss values of the step, non-finite check, ONE optimizer step per step (train),
loss meters, evaluator, sample figures.

What a step is comes from a pluggable step object (handobjectconsist.training.steps): trainmeshreg's and the
validation's step is one single-frame batch; trainmeshwarp's is a data batch and a consist batch whose gradients
are accumulated by two backward calls before the step.
"""

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

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


def _step_values(parts: List[Tuple[torch.Tensor, Dict]]) -> List[Tuple[float, Dict[str, float]]]:
    """[(loss, {name: tensor | float | None})] of the parts of a step -> [(loss value, {name: value})], the
    tensors (means of) copied to the host together: one synchronisation with the device instead of one per value.
    None values are dropped; float values pass unchanged."""
    tensors, slots = [], []
    for loss, losses in parts:
        slots.append(len(tensors))
        tensors.append(loss.reshape(()))
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                tensors.append(value.detach().mean())
    # float64 holds every float32/bfloat16 value exactly, so the numbers equal each tensor's own .item().
    host = torch.stack([t.to(torch.float64) for t in tensors]).tolist() if tensors else []
    out = []
    for (loss, losses), slot in zip(parts, slots):
        position, values = slot + 1, {}
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                values[name] = host[position]
                position += 1
            elif value is not None:
                values[name] = float(value)
        out.append((host[slot], values))
    return out


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
        {kind: {"losses": {name: average over processes}, "evaluator": HandObjectEvaluator (this process' samples),
        "timing": {"steps", "samples", "seconds", "loader_wait_s"} (wall clock of the whole pass; the same for every
        kind)}} for each kind of step.kinds; the first kind also averages "step_loss" when step.records_step_loss.
    Raises:
        NonFiniteLossError naming the epoch, batch and kind when a loss is NaN/inf during training.
    """
    context = context or DistContext(device=device)
    set_model_mode(model, train, train_batchnorm)
    meters = {kind: AverageMeters() for kind in step.kinds}
    evaluators = {kind: HandObjectEvaluator(center_idx=center_idx) for kind in step.kinds}
    bar = tqdm(batches, total=total, desc=f"{step.label} epoch {epoch}", leave=False,
               disable=not (progress and context.is_main))
    wait, step_count, samples, started = 0.0, 0, 0, time.perf_counter()
    ready = started
    for batch_idx, batch in enumerate(bar):
        wait += time.perf_counter() - ready  # time this step waited for its batch (data loading)
        stop_if_interrupted(context)
        if train:
            optimizer.zero_grad(set_to_none=True)
        done = []
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
                    loss.backward()
            done.append((part, loss.detach(), results, losses, extras))
        # One host synchronisation per step: every loss value of every part comes back in one copy.
        values = _step_values([(loss, losses) for _, loss, _, losses, _ in done])
        if train:
            # Checked after backward (which only fills .grad) and before optimizer.step, so a non-finite loss still
            # leaves the weights untouched; all ranks stop together.
            bad = next((i for i, (loss_value, _) in enumerate(values) if not math.isfinite(loss_value)), None)
            if context.distributed:
                ok = all_finite(torch.tensor(0.0 if bad is not None else 1.0, device=device), context)
            else:
                ok = bad is None
            if not ok:
                kind, value = (done[bad][0].kind, values[bad][0]) if bad is not None else ("(another process')", "")
                raise NonFiniteLossError(
                    f"non-finite {kind} loss ({value}) at epoch {epoch}, batch {batch_idx}; "
                    f"stopping. The last checkpoint (previous epoch) is intact and can be resumed.")
        summed = 0.0
        for (part, _, results, _, extras), (loss_value, loss_values) in zip(done, values):
            summed += loss_value
            batch_size = part.query[K.IMAGE].shape[0]
            for name, value in loss_values.items():
                meters[part.kind].add_loss_value(name, value, n=batch_size)
            evaluators[part.kind].feed(part.query, results)
            if figure_dir is not None and display_freq > 0 and batch_idx % display_freq == 0 and context.is_main:
                step.save_figure(part, results, extras, Path(figure_dir) / f"{part.kind}_epoch{epoch:04d}_batch"
                                                                         f"{batch_idx:06d}", epoch, batch_idx)
        done_samples = sum(part.query[K.IMAGE].shape[0] for part, *_ in done)
        del done
        if step.records_step_loss:
            meters[step.kinds[0]].add_loss_value("step_loss", summed, n=1)
        if train:
            optimizer.step()
        bar.set_postfix(loss=f"{summed:.4g}")
        step_count += 1
        samples += done_samples
        ready = time.perf_counter()
    timing = {"steps": step_count, "samples": samples, "seconds": time.perf_counter() - started, "loader_wait_s": wait}
    return {kind: {"losses": reduce_averages(meters[kind], context, device), "evaluator": evaluators[kind],
                   "timing": timing} for kind in step.kinds}


def timing_line(label: str, epoch: int, timing: Dict, device: torch.device) -> str:
    """One log line of an epoch's speed: steps, ms per step, samples per second (frames of every part), the share of
    the time spent waiting for the data loader, and on CUDA the peak GPU memory (parsed by benchmarks/gpu_check.sh)."""
    seconds = max(timing["seconds"], 1e-9)
    line = (f"timing {label} epoch {epoch}: steps={timing['steps']} "
            f"ms_per_step={1000 * seconds / max(timing['steps'], 1):.2f} "
            f"samples_per_s={timing['samples'] / seconds:.2f} "
            f"loader_wait_share={timing['loader_wait_s'] / seconds:.4f}")
    if device.type == "cuda":
        line += f" gpu_peak_mib={torch.cuda.max_memory_allocated(device) / 2**20:.1f}"
    return line
