"""training/session.py: the experiment-folder guard, BatchNorm freezing and the loaders' generator."""

import logging

import pytest
import torch

from handobjectconsist.errors import UsageError
from handobjectconsist.training.session import experiment_folder, freeze_batchnorm_momentum, loader_generator

LOGGER = logging.getLogger("test_session")


def test_a_failed_start_removes_only_the_folders_it_created(tmp_path):
    exp_dir = tmp_path / "runs" / "exp"
    with pytest.raises(UsageError):
        with experiment_folder(exp_dir, None, snapshot=0, enabled=True, logger=LOGGER):
            exp_dir.mkdir(parents=True)
            (exp_dir / "train.txt").write_text("epoch 1\n")
            raise UsageError("bad flag")
    assert not (tmp_path / "runs").exists() and tmp_path.exists()


def test_a_run_with_a_checkpoint_or_a_bug_keeps_its_folder(tmp_path):
    kept = tmp_path / "kept"
    with pytest.raises(UsageError):
        with experiment_folder(kept, None, snapshot=0, enabled=True, logger=LOGGER):
            kept.mkdir()
            (kept / "checkpoint.pth").write_bytes(b"x")
            raise UsageError("later failure")
    assert (kept / "checkpoint.pth").exists()
    bug = tmp_path / "bug"
    with pytest.raises(ZeroDivisionError):
        with experiment_folder(bug, None, snapshot=0, enabled=True, logger=LOGGER):
            bug.mkdir()
            1 / 0
    assert bug.exists()


def test_disabled_guard_on_other_ranks_touches_nothing(tmp_path):
    exp_dir = tmp_path / "exp"
    with pytest.raises(UsageError):
        with experiment_folder(exp_dir, None, snapshot=0, enabled=False, logger=LOGGER):
            exp_dir.mkdir()
            raise UsageError("bad flag")
    assert exp_dir.exists()


def test_freeze_batchnorm_keeps_running_statistics_in_train_mode():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    freeze_batchnorm_momentum(model)
    before = model[1].running_mean.clone()
    model.train()
    model(torch.randn(2, 3, 5, 5) + 3.0)
    assert model[1].momentum == 0.0 and torch.equal(model[1].running_mean, before)


def test_loader_generator_is_seeded():
    assert torch.equal(torch.randperm(10, generator=loader_generator(3)),
                       torch.randperm(10, generator=loader_generator(3)))
    assert not torch.equal(torch.randperm(50, generator=loader_generator(3)),
                           torch.randperm(50, generator=loader_generator(4)))
