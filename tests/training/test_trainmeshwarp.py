"""trainmeshwarp: flags and folder names, one optimizer step per (data, consist) pair, end-to-end runs on 'toy'."""

import json

import pytest
import torch

from handobjectconsist.training.checkpoints import load_checkpoint
from handobjectconsist.training.epochpass import epoch_pass
from handobjectconsist.training.options import experiment_name, trainmeshwarp_parser
from handobjectconsist.training.steps import ConsistencyStep
from handobjectconsist.training.trainmeshreg import run as run_supervised
from handobjectconsist.training.trainmeshwarp import paired_batches, run


def test_upstream_command_lines_parse_with_upstream_defaults():
    args = trainmeshwarp_parser().parse_args(
        "--freeze_batchnorm --consist_gt_refs --workers 8 --fraction 0.00625 --resume base.pth".split())
    assert (args.lambda_data, args.lambda_consist, args.progressive_consist_steps) == (0.999, 0.001, 1000)
    assert (args.sample_nb, args.spacing, args.consist_criterion, args.epochs, args.epoch_display_freq) == \
        (2, 0, "l1", 2000, 20)
    name = experiment_name(args, "trainmeshwarp")
    assert name.startswith("fhbhands_warpfhbhands_mini1.0/debug/_frac6.3e-03_ld1.0e+00_lc1.0e-03critl1")
    assert name.endswith("sample_nb2_spac0csteps1000_gt_refs")
    control = trainmeshwarp_parser().parse_args(
        "--freeze_batchnorm --consist_gt_refs --workers 8 --fraction 0.00625 --resume base.pth "
        "--lambda_data 1 --lambda_consist 0".split())
    assert "_ld1.0e+00_lc0.0e+00" in experiment_name(control, "trainmeshwarp")


class _Quadratic(torch.nn.Module):
    """Stand-in for WarpRegNet: data loss = (w - a)^2, consist loss = 3 (w - b)^2, summed over elements."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))

    def forward(self, batch, supervision):
        frame = batch if supervision == "data" else batch[0]
        target = frame["target"].mean(0)
        scale = 1.0 if supervision == "data" else 3.0
        loss = scale * ((self.w - target) ** 2).sum()
        return loss, {}, {"loss": loss.detach()}, {"pairs": []}


def test_one_optimizer_step_on_the_sum_of_data_and_consist_losses(monkeypatch):
    monkeypatch.setattr("handobjectconsist.training.epochpass.HandObjectEvaluator.feed", lambda *a, **k: None)
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.5])
    data = [{"image": torch.zeros(1, 3, 2, 2), "target": a.unsqueeze(0)}] * 3
    consist = [[{"image": torch.zeros(1, 3, 2, 2), "target": b.unsqueeze(0)}, {}]] * 2
    model = _Quadratic()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches, steps = paired_batches(data, consist)
    out = epoch_pass(batches, model, ConsistencyStep(), 1, torch.device("cpu"), optimizer=optimizer, total=steps,
                     progress=False)
    # Two steps (the shorter loader); each w <- w - 0.1 * (2 (w - a) + 6 (w - b)).
    w = torch.zeros(2)
    for _ in range(2):
        w = w - 0.1 * (2 * (w - a) + 6 * (w - b))
    assert torch.allclose(model.w.detach(), w)
    # Both parts are metered under their kind; the step loss is their sum, averaged over the two steps.
    assert steps == 2 and set(out) == {"train", "consist"}
    assert abs(out["train"]["losses"]["step_loss"] - out["train"]["losses"]["loss"]
               - out["consist"]["losses"]["loss"]) < 1e-6


def _argv(mano_root, exp_dir, epochs, extra=""):
    return (f"--train_datasets toy --val_dataset toy --consist_dataset toy --toy_size 4 --batch_size 2 "
            f"--input_width 32 --device cpu --mano_root {mano_root} --exp_dir {exp_dir} --epochs {epochs} "
            f"--eval_freq 2 --epoch_display_freq 0 --display_freq 1 --snapshot 100 --lr 1e-3 --encoder_arch tiny "
            f"--consist_gt_refs --progressive_consist_steps 3 {extra}").split()


@pytest.fixture(scope="module")
def base_checkpoint(mano_root, tmp_path_factory):
    exp = tmp_path_factory.mktemp("base")
    run_supervised(f"--train_datasets toy --val_dataset toy --toy_size 4 --batch_size 2 --input_width 32 "
                   f"--device cpu --mano_root {mano_root} --exp_dir {exp} --epochs 1 --eval_freq -1 "
                   f"--epoch_display_freq 0 --encoder_arch tiny".split())
    return exp / "checkpoint.pth"


def test_resume_from_supervised_then_interrupted_run_matches_uninterrupted(mano_root, tmp_path, base_checkpoint):
    straight = run(_argv(mano_root, tmp_path / "straight", 3, f"--resume {base_checkpoint}"))
    run(_argv(mano_root, tmp_path / "resumed", 2, f"--resume {base_checkpoint}"))
    resumed = run(_argv(mano_root, tmp_path / "resumed", 3,
                        f"--resume {tmp_path / 'resumed' / 'checkpoint.pth'} --epoch_display_freq 3"))
    # The supervised checkpoint ended epoch 1; fine-tuning continues with epochs 2 and 3.
    assert [e["epoch"] for e in straight["consist"]] == [2, 3]
    # --eval_freq 2 validates epoch 3 (0-based index 2) and the last epoch: the 2-epoch run adds epoch 2.
    assert [e["epoch"] for e in straight["val"]] == [3] and [e["epoch"] for e in resumed["val"]] == [2, 3]
    for split in ("train", "consist", "val"):
        common = [e for e in resumed[split] if e["epoch"] in {x["epoch"] for x in straight[split]}]
        assert len(straight[split]) == len(common) > 0, split
        for x, y in zip(straight[split], common):
            for key in x:
                assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-9), (split, x["epoch"], key)
    # Ramp: 2 consist batches per epoch (toy_size 4, batch 2); lambda_c = 0.001 * step / 3, capped.
    assert [e["lambda_consist"] for e in straight["consist"]] == pytest.approx([0.001 * 0.5 / 3, 0.001 * 2.5 / 3])
    checkpoint = load_checkpoint(tmp_path / "resumed" / "checkpoint.pth")
    assert int(checkpoint["warp_state"]["consist_step"]) == 4
    exp = tmp_path / "resumed"
    for name in ("opt.yaml", "results.json", "curves.png", "train.txt", "consist.txt", "val.txt"):
        assert (exp / name).is_file(), name
    assert sorted(p.name for p in (exp / "images").glob("consist_*_pair.png"))[0] == \
        "consist_epoch0003_batch000000_pair.png"
    results = json.loads((exp / "results.json").read_text())
    assert results["opt"]["command"] == "trainmeshwarp"


def test_control_run_has_no_photometric_weight(mano_root, tmp_path, base_checkpoint):
    out = run(_argv(mano_root, tmp_path / "control", 2,
                    f"--resume {base_checkpoint} --lambda_data 1 --lambda_consist 0 --eval_freq -1"))
    consist = out["consist"][-1]
    assert consist["lambda_consist"] == 0.0 and consist["lambda_data"] == 1.0
    assert consist["warp_consist"] == pytest.approx(consist["mano_reg_loss"], rel=1e-5)
    assert consist["warp_loss"] > 0  # still measured and logged


def test_loss_weight_given_when_resuming_a_supervised_checkpoint_is_used(mano_root, tmp_path, base_checkpoint):
    """The base checkpoint was trained with the default shape prior 5e-7; step 2 with --mano_lambda_shape 0.5
    trains with 0.5 (the regulariser is 0.5 x shape + 5e-6 x pose), and the resumed step-2 run keeps it."""
    argv = _argv(mano_root, tmp_path / "prior", 2, f"--resume {base_checkpoint} --mano_lambda_shape 0.5 "
                                                    f"--lambda_data 1 --lambda_consist 0 --eval_freq -1")
    for entry in run(argv)["train"]:
        assert entry["mano_reg_loss"] == pytest.approx(0.5 * entry["mano_shape"] + 5e-6 * entry["pose_reg"],
                                                       rel=1e-4)
    assert load_checkpoint(tmp_path / "prior" / "checkpoint.pth")["opts"]["mano_lambda_shape"] == 0.5


def test_consist_flags_name_the_folder_only_when_set():
    base = "--freeze_batchnorm --consist_gt_refs --fraction 0.00625 --resume base.pth".split()
    plain = experiment_name(trainmeshwarp_parser().parse_args(base), "trainmeshwarp")
    args = trainmeshwarp_parser().parse_args(base + "--consist_width 480 --consist_scales 1 2 4 --consist_params "
                                                    "lateral --consist_max_gap 30".split())
    assert (args.consist_width, args.consist_scales, args.consist_params, args.consist_max_gap) == \
        (480, [1, 2, 4], "lateral", 30)
    assert experiment_name(args, "trainmeshwarp") == plain + "_cw480_cs1-2-4_cplateral_cmg30"
    assert plain.endswith("_gt_refs")


def test_consistency_at_another_width_with_a_pyramid_runs_end_to_end(mano_root, tmp_path, base_checkpoint, caplog):
    """The network sees 32-wide frames, the loss is computed on 48-wide copies averaged with a 24-wide level; the
    pair figure shows the loss's frames; max_gap 0 keeps only the toy items paired with themselves, and says so."""
    caplog.set_level("INFO", logger="trainmeshwarp")
    flags = "--consist_width 48 --consist_scales 1 2 --consist_params lateral --epoch_display_freq 2"
    out = run(_argv(mano_root, tmp_path / "wide", 2, f"--resume {base_checkpoint} --eval_freq -1 {flags}"))
    assert out["consist"][-1]["warp_loss"] > 0
    assert sorted(p.name for p in (tmp_path / "wide" / "images").glob("consist_*_pair.png"))
    assert "toy consist pairs (no bound): 4 of 4 items kept" in caplog.text
    with pytest.raises(Exception, match="fewer than one batch"):
        run(_argv(mano_root, tmp_path / "gap", 2, f"--resume {base_checkpoint} --eval_freq -1 --consist_max_gap 0 "
                                                  "--toy_size 3"))
