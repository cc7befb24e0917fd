"""The epoch loop with the single-frame step (against hand-computed SGD steps), BatchNorm mode during training and
the no-scheduler case (differences-from-upstream.md, K3 and D15)."""

import argparse

import pytest
import torch
from torch import nn

from handobjectconsist.training.epochpass import NonFiniteLossError, epoch_pass, set_model_mode
from handobjectconsist.training.session import build_scheduler
from handobjectconsist.training.steps import SingleFrameStep


def _model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())


def test_model_stays_in_eval_mode_unless_train_batchnorm():
    model = _model()
    set_model_mode(model, train=True, train_batchnorm=False)
    assert not any(module.training for module in model.modules())
    before = model[1].running_mean.clone()
    model(torch.rand(2, 3, 8, 8) + 5.0)
    assert torch.equal(model[1].running_mean, before)  # eval mode: running statistics untouched
    set_model_mode(model, train=True, train_batchnorm=True)
    assert all(module.training for module in model.modules())
    set_model_mode(model, train=False, train_batchnorm=True)
    assert not any(module.training for module in model.modules())


def test_lr_decay_gamma_zero_means_no_scheduler():
    optimizer = torch.optim.Adam(_model().parameters(), lr=1e-3)
    args = argparse.Namespace(lr_decay_gamma=0.0, lr_decay_step=1)
    assert build_scheduler(args, optimizer) is None
    scheduler = build_scheduler(argparse.Namespace(lr_decay_gamma=0.5, lr_decay_step=1), optimizer)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 5e-4


class _Quadratic(nn.Module):
    """Stand-in for MeshRegNet: loss = sum over elements of (w - mean target)^2."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, batch):
        loss = ((self.w - batch["target"].mean(0)) ** 2).sum()
        return loss, {}, {"loss": loss.detach()}


def _batches(*targets):
    return [{"image": torch.zeros(1, 3, 2, 2), "target": torch.tensor([t])} for t in targets]


def test_single_frame_step_takes_one_optimizer_step_per_batch(monkeypatch):
    monkeypatch.setattr("handobjectconsist.training.epochpass.HandObjectEvaluator.feed", lambda *a, **k: None)
    targets = [[1.0, 2.0], [-1.0, 0.5], [3.0, 0.0]]
    model = _Quadratic()
    out = epoch_pass(_batches(*targets), model, SingleFrameStep("train"), 1, torch.device("cpu"),
                     optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    w, losses = torch.zeros(2), []
    for target in map(torch.tensor, targets):  # w <- w - 0.1 * 2 (w - target), the loss taken before the step
        losses.append(float(((w - target) ** 2).sum()))
        w = w - 0.2 * (w - target)
    assert torch.allclose(model.w.detach(), w)
    assert set(out) == {"train"} and abs(out["train"]["losses"]["loss"] - sum(losses) / 3) < 1e-6


def test_evaluation_pass_changes_nothing_and_builds_no_graph(monkeypatch):
    monkeypatch.setattr("handobjectconsist.training.epochpass.HandObjectEvaluator.feed", lambda *a, **k: None)
    model = _Quadratic()
    out = epoch_pass(_batches([1.0, 2.0]), model, SingleFrameStep("val"), 1, torch.device("cpu"), train=False,
                     progress=False)
    assert torch.equal(model.w.detach(), torch.zeros(2)) and model.w.grad is None
    assert out["val"]["losses"]["loss"] == 5.0


def test_non_finite_loss_names_epoch_batch_and_kind(monkeypatch):
    monkeypatch.setattr("handobjectconsist.training.epochpass.HandObjectEvaluator.feed", lambda *a, **k: None)
    model = _Quadratic()
    with pytest.raises(NonFiniteLossError, match="non-finite train loss .* at epoch 4, batch 1"):
        epoch_pass(_batches([1.0, 2.0], [float("nan"), 0.0]), model, SingleFrameStep("train"), 4,
                   torch.device("cpu"), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
