"""Flags kept from the original that have no effect say so, one line each (docs/differences-from-upstream.md, D14);
the "RANDOM weights" line appears only when the encoder really keeps random weights."""

import logging

import pytest
import torch

from handobjectconsist.entry import unused_flag_lines
from handobjectconsist.models import MeshRegNet
from handobjectconsist.models.trained import load_trained_model
from handobjectconsist.training.checkpoints import save_training_checkpoint
from handobjectconsist.training.options import (
    UNUSED_TRAINING_FLAGS,
    UNUSED_WARP_FLAGS,
    trainmeshreg_parser,
    trainmeshwarp_parser,
)
from handobjectconsist.training.session import build_meshregnet


def test_defaults_print_nothing_and_each_given_flag_one_line():
    parser = trainmeshreg_parser()
    assert unused_flag_lines(parser.parse_args([]), parser, UNUSED_TRAINING_FLAGS) == []
    lines = unused_flag_lines(parser.parse_args("--use_cache --pyapt_id job7 --criterion2d l1".split()), parser,
                              UNUSED_TRAINING_FLAGS)
    assert [line.split()[0] for line in lines] == ["--use_cache", "--pyapt_id", "--criterion2d"]
    assert all(" has no effect: " in line and "\n" not in line for line in lines)


def test_trainmeshwarp_names_its_own_unused_flags():
    parser = trainmeshwarp_parser()
    reasons = {**UNUSED_TRAINING_FLAGS, **UNUSED_WARP_FLAGS}
    assert unused_flag_lines(parser.parse_args([]), parser, reasons) == []
    lines = unused_flag_lines(parser.parse_args("--consist_mode flow --consist_scale 2".split()), parser, reasons)
    assert [line.split()[0] for line in lines] == ["--consist_mode", "--consist_scale"]


@pytest.mark.parametrize("name", ["syntho3d", "syntho3dv2"])
def test_unavailable_original_datasets_are_rejected_while_parsing(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        trainmeshreg_parser().parse_args(["--train_datasets", name])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def _resnet_options(mano_root):
    argv = f"--mano_root {mano_root} --encoder_arch resnet18 --pretrained none".split()
    args = trainmeshreg_parser().parse_args(argv)
    return args, dict(vars(args))


def test_random_weights_are_reported_only_without_a_checkpoint(mano_root, tmp_path, caplog):
    args, opts = _resnet_options(mano_root)
    logger = logging.getLogger("test_unused_flags")
    with caplog.at_level(logging.WARNING):
        model = build_meshregnet(args, opts, None, logger)
    assert sum("RANDOM weights" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    path = save_training_checkpoint(tmp_path, 1, opts, model, optimizer, None, None, {}, 0)
    with caplog.at_level(logging.INFO):
        loaded = load_trained_model(path, mano_root)
        resumed = build_meshregnet(args, opts, {"state_dict": model.state_dict(), "path": str(path), "epoch": 1},
                                   logger)
    assert not any("RANDOM" in r.getMessage() for r in caplog.records)
    assert isinstance(loaded.model, MeshRegNet) and isinstance(resumed, MeshRegNet)
    first = next(iter(model.state_dict()))
    assert torch.equal(loaded.model.state_dict()[first], model.state_dict()[first])
