"""The pluggable part of an epoch (handobjectconsist.training.epochpass.epoch_pass): what one step feeds the model.

A step is one or more parts, each a model input with its kind (the name its losses, evaluator and figures go
under); epoch_pass runs forward and backward part by part (so only one part's graph is alive at a time) and takes
one optimizer step per step.
- SingleFrameStep: one collated batch of single frames through MeshRegNet (trainmeshreg training, validation).
- ConsistencyStep: trainmeshwarp's (data batch, consist batch) pair through WarpRegNet: the data part with supervision
  "data", then the consist part (a list [query frames, reference frames, ...]) with supervision "consist"; the
  optimizer step is on the sum of both losses (docs/differences-from-upstream.md, D7).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Protocol, Tuple

import torch

from handobjectconsist.devices import move_to_device
from handobjectconsist.training.samplefig import save_sample_figure
from handobjectconsist.visualize.pairs import save_pair_figure


@dataclass
class Part:
    """kind: meter / evaluator / figure name; inputs: what the model receives; query: the frame batch (dict with
    IMAGE (B, 3, H, W)) whose predictions are evaluated."""

    kind: str
    inputs: Any
    query: Dict


class Step(Protocol):
    label: str  # progress-bar label
    kinds: Tuple[str, ...]  # the kinds of the parts of a step, in order
    records_step_loss: bool  # also average the summed loss of a step as "step_loss" (under kinds[0])

    def parts(self, batch, device: torch.device) -> Iterator[Part]:
        """The parts of one step, moved to device (lazily, one at a time)."""

    def forward(self, model: torch.nn.Module, part: Part) -> Tuple[torch.Tensor, Dict, Dict, Optional[Dict]]:
        """(total loss, predictions, {loss name: value}, extras or None)."""

    def save_figure(self, part: Part, results: Dict, extras: Optional[Dict], stem: Path, epoch: int,
                    batch_idx: int) -> None:
        """Write the sample figure of this part to stem + a suffix."""


class SingleFrameStep:
    """A collated single-frame batch through MeshRegNet; kind: "train", "val", "test", ..."""

    records_step_loss = False

    def __init__(self, kind: str = "train"):
        self.label = kind
        self.kinds = (kind,)

    def parts(self, batch: Dict, device: torch.device) -> Iterator[Part]:
        batch = move_to_device(batch, device)
        yield Part(self.kinds[0], batch, batch)

    def forward(self, model, part: Part):
        total, results, losses = model(part.inputs)
        return total, results, losses, None

    def save_figure(self, part, results, extras, stem, epoch, batch_idx) -> None:
        save_sample_figure(part.query, results, f"{stem}.png")


class ConsistencyStep:
    """trainmeshwarp's step: batch = (data batch, consist batch) through WarpRegNet; kinds "train" (annotated
    frames) and "consist" (query frames and their references)."""

    label = "warp"
    kinds = ("train", "consist")
    records_step_loss = True

    def parts(self, batch, device: torch.device) -> Iterator[Part]:
        data_batch, consist_batch = batch
        data_batch = move_to_device(data_batch, device)
        yield Part("train", data_batch, data_batch)
        frames = [move_to_device(frame, device) for frame in consist_batch]
        yield Part("consist", frames, frames[0])

    def forward(self, model, part: Part):
        return model(part.inputs, supervision="data" if part.kind == "train" else "consist")

    def save_figure(self, part, results, extras, stem, epoch, batch_idx) -> None:
        if part.kind == "train":
            save_sample_figure(part.query, results, f"{stem}_single.png")
        else:
            save_pair_figure(part.inputs[0], part.inputs[1], extras["pairs"][0], f"{stem}_pair.png",
                             title=f"epoch {epoch} step {batch_idx}")
