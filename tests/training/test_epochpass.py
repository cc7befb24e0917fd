"""BatchNorm mode during training and the no-scheduler case (differences-from-upstream.md, K3 and D15)."""

import argparse

import torch
from torch import nn

from handobjectconsist.training.epochpass import set_model_mode
from handobjectconsist.training.session import build_scheduler


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
