"""End-to-end runs of the training loop on the tiny in-memory 'toy' dataset (CPU)."""

import json
import logging
import urllib.error

import pytest
import torch
import yaml

from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.training.checkpoints import CheckpointError
from handobjectconsist.training.epochpass import NonFiniteLossError
from handobjectconsist.training.trainmeshreg import main, run


def _argv(mano_root, exp_dir, epochs, extra=""):
    return (f"--train_datasets toy --val_dataset toy --toy_size 4 --batch_size 2 --input_width 32 --device cpu "
            f"--mano_root {mano_root} --exp_dir {exp_dir} --epochs {epochs} --eval_freq 2 --epoch_display_freq 0 "
            f"--snapshot 2 --lr 1e-3 --encoder_arch tiny {extra}").split()


def _strip(entries):
    return [{k: v for k, v in e.items()} for e in entries]


def test_interrupted_and_resumed_run_matches_uninterrupted(mano_root, tmp_path):
    straight = run(_argv(mano_root, tmp_path / "straight", 4))
    run(_argv(mano_root, tmp_path / "resumed", 2))
    resumed = run(_argv(mano_root, tmp_path / "resumed", 4, f"--resume {tmp_path / 'resumed' / 'checkpoint.pth'}"))
    assert [e["epoch"] for e in resumed["train"]] == [1, 2, 3, 4]
    # --eval_freq 2 validates epochs 1, 3 and the last one: 4 straight, 2 and then 4 when run as 2 + 2 epochs.
    assert [e["epoch"] for e in straight["val"]] == [1, 3, 4]
    assert [e["epoch"] for e in resumed["val"]] == [1, 2, 3, 4]
    for split in ("train", "val"):
        resumed_entries = [e for e in resumed[split] if e["epoch"] in {s["epoch"] for s in straight[split]}]
        assert len(straight[split]) == len(resumed_entries) > 0
        for a, b in zip(straight[split], resumed_entries):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), (split, a["epoch"], key)
    # Experiment folder contents.
    exp = tmp_path / "resumed"
    for name in ("opt.yaml", "results.json", "curves.png", "train.txt", "val.txt", "checkpoint.pth",
                 "checkpoint_2.pth", "checkpoint_4.pth"):
        assert (exp / name).is_file(), name
    assert any((exp / "tensorboard").iterdir())
    assert (exp / "evaluation" / "val_epoch0003.json").is_file()  # validation at epoch_idx 0 and 2, and the last
    results = json.loads((exp / "results.json").read_text())
    assert [e["epoch"] for e in results["val"]] == [1, 2, 3, 4]


def test_evaluate_mode_reproduces_validation_metrics(mano_root, tmp_path):
    run(_argv(mano_root, tmp_path / "train", 1, "--eval_freq 1"))
    ckpt = tmp_path / "train" / "checkpoint.pth"
    evaluated = run(_argv(mano_root, tmp_path / "eval", 1, f"--evaluate --resume {ckpt}"))
    trained = json.loads((tmp_path / "train" / "results.json").read_text())["val"][-1]
    got = evaluated["val"][-1]
    assert got["joints3d_epe_mean_mm"] == pytest.approx(trained["joints3d_epe_mean_mm"], rel=1e-6)
    assert got["objverts3d_mepe_trans_mm"] == pytest.approx(trained["objverts3d_mepe_trans_mm"], rel=1e-6)
    assert (tmp_path / "eval" / "evaluation" / "val_epoch0001.npz").is_file()


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_checkpoint(mano_root, tmp_path, monkeypatch):
    original = MeshRegNet.forward
    calls = {"n": 0}

    def poisoned(self, batch):
        total, results, losses = original(self, batch)
        if self.training is False and torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 6:  # epoch 3 (2 batches per epoch), batch 1
                total = total * float("nan")
        return total, results, losses

    monkeypatch.setattr(MeshRegNet, "forward", poisoned)
    exp = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match="epoch 3, batch 1"):
        run(_argv(mano_root, exp, 5, "--eval_freq -1"))
    checkpoint = torch.load(exp / "checkpoint.pth", weights_only=False)
    assert checkpoint["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())


def test_incompatible_checkpoint_gives_clear_error(mano_root, tmp_path, capsys):
    run(_argv(mano_root, tmp_path / "a", 1, "--eval_freq -1"))
    path = tmp_path / "a" / "checkpoint.pth"
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["opts"]["encoder_arch"] = "resnet18"  # the weights are those of the tiny encoder
    torch.save(checkpoint, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="bad.pth"):
        run(_argv(mano_root, tmp_path / "b", 2, f"--resume {tmp_path / 'bad.pth'}"))
    assert main(_argv(mano_root, tmp_path / "b", 2, f"--resume {tmp_path / 'bad.pth'}")) == 1
    assert "do not fit the model" in capsys.readouterr().err


def test_resume_rebuilds_model_from_checkpoint_options(tmp_path):
    from handobjectconsist.training.options import trainmeshreg_parser
    from handobjectconsist.training.session import model_options

    args = trainmeshreg_parser().parse_args(
        f"--mano_root {tmp_path / 'here'} --obj_trans_factor 7 --mano_lambda_shape 0".split())
    saved = dict(vars(trainmeshreg_parser().parse_args([])), mano_root="/elsewhere", obj_trans_factor=100.0,
                 mano_lambda_shape=5e-7, encoder_arch="resnet50")
    opts = model_options(args, {"opts": saved}, logging.getLogger("test"))
    assert opts["obj_trans_factor"] == 100.0 and opts["mano_lambda_shape"] == 5e-7  # the checkpoint's values
    assert opts["encoder_arch"] == "resnet50"
    assert opts["mano_root"] == str(tmp_path / "here")  # a path on this machine, from the command line


def test_resume_takes_loss_weights_given_on_the_command_line(caplog):
    from handobjectconsist.training.options import trainmeshreg_parser
    from handobjectconsist.training.session import model_options

    saved = dict(vars(trainmeshreg_parser().parse_args([])), mano_lambda_shape=1e-4, obj_trans_factor=100.0)
    args = trainmeshreg_parser().parse_args("--mano_lambda_shape 0.1 --obj_lambda_verts2d 0.2 "
                                            "--obj_trans_factor 7".split())
    with caplog.at_level(logging.INFO):
        opts = model_options(args, {"opts": saved, "path": "c.pth"}, logging.getLogger("test"))
    assert opts["mano_lambda_shape"] == 0.1 and opts["obj_lambda_verts2d"] == 0.2  # loss weights: command line
    assert opts["obj_trans_factor"] == 100.0  # builds the network: the checkpoint's
    assert "ignored: --obj_trans_factor 7" in caplog.text
    assert "loss weights from the command line: --mano_lambda_shape 0.1 (checkpoint: 0.0001)" in caplog.text
    # A flag left at its default keeps the checkpoint's weight; switching the shape head off is refused.
    assert model_options(trainmeshreg_parser().parse_args([]), {"opts": saved},
                         logging.getLogger("test"))["mano_lambda_shape"] == 1e-4
    assert model_options(trainmeshreg_parser().parse_args("--mano_lambda_shape 0".split()), {"opts": saved},
                         logging.getLogger("test"))["mano_lambda_shape"] == 1e-4


def test_default_imagenet_weights_offline_is_one_line_and_writes_nothing(mano_root, tmp_path, monkeypatch, capsys):
    # The default encoder weights are torchvision's ImageNet weights; without network or cached file the run stops
    # before creating anything, in one line that names the file and the way out (the loader is replaced: no
    # download is attempted in tests).
    def offline(url, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    argv = [a for a in _argv(mano_root, tmp_path / "exp", 1) if a != "tiny"]
    argv[argv.index("--encoder_arch") + 1:argv.index("--encoder_arch") + 1] = ["resnet18"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --pretrained imagenet") and "resnet18-f37072fd.pth" in err[0]
    assert not (tmp_path / "exp").exists()


def test_opt_yaml_records_the_initial_weights(mano_root, tmp_path):
    run(_argv(mano_root, tmp_path / "exp", 1))
    assert yaml.safe_load((tmp_path / "exp" / "opt.yaml").read_text())["pretrained"] == "none"  # tiny: random


def test_pretrained_with_resume_says_it_has_no_effect(mano_root, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("downloaded on resume"))
    run(_argv(mano_root, tmp_path / "exp", 1))
    resume = f"--resume {tmp_path / 'exp' / 'checkpoint.pth'} --pretrained imagenet"
    with caplog.at_level(logging.WARNING):
        run(_argv(mano_root, tmp_path / "exp", 2, resume))
    lines = [r.getMessage() for r in caplog.records if "--pretrained" in r.getMessage()]
    assert len(lines) == 1 and "no effect with --resume" in lines[0]
    assert yaml.safe_load((tmp_path / "exp" / "opt.yaml").read_text())["pretrained"] == "none"  # the checkpoint's
