"""experiments/sparse_consistency.py end to end on the tiny synthetic FPHAB set, plus resumability and run naming."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from experiments import sparse_consistency
from experiments.sparsesup import data, runs
from handobjectconsist.datasets import FPHAB
from handobjectconsist.training.options import trainmeshreg_parser, trainmeshwarp_parser

TINY = ["--preset", "tiny", "--fractions", "0.2", "--seeds", "0", "--step1_epochs", "1", "--step2_epochs", "1",
        "--input_width", "48", "--batch_size", "2", "--encoder_arch", "tiny", "--device", "cpu",
        "--lr", "1e-3", "--step2_lr", "2e-4", "--lambda_consist", "0.001", "0.01"]
METHODS = {"step1", "consist", "control"}
RUNS = 4  # step 1, control, consistency at two lambda_consist values


@pytest.fixture(scope="module")
def finished(tmp_path_factory, fphab_tiny_root, mano_root):
    """One complete tiny experiment: (argv, out folder, runs folder)."""
    base = tmp_path_factory.mktemp("sparse")
    argv = ["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--out", str(base / "out"),
            "--runs_dir", str(base / "runs")] + TINY
    assert sparse_consistency.main(argv) == 0
    return argv, base / "out", base / "runs"


def test_outputs_hold_finite_metrics_for_every_method(finished):
    _, out, _ = finished
    results = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in results["runs"]} == METHODS and len(results["runs"]) == RUNS
    assert sorted(r["lambda_consist"] for r in results["runs"] if r["method"] == "consist") == [0.001, 0.01]
    for record in results["runs"]:
        for metrics in ("metrics", "metrics_unannotated"):
            for key in ("joints3d_epe_mean_mm", "objverts3d_mepe_trans_mm", "joints2d_base_epe_mean_px",
                        "objverts2d_mepe_px", "joints3d_procrustes_epe_mean_mm", "hand_root_depth_mm"):
                value = record[metrics][key]
                assert math.isfinite(value) and value > 0, (record["method"], metrics, key)
    # The two evaluation sets are different frames, so their errors differ.
    step1 = next(r for r in results["runs"] if r["method"] == "step1")
    assert step1["metrics"]["joints3d_epe_mean_mm"] != step1["metrics_unannotated"]["joints3d_epe_mean_mm"]
    assert len(list((out / "runs").glob("*.json"))) == RUNS
    table = (out / "table.md").read_text()
    for label in ("control (no consistency)", "+ photometric consistency", "change vs control",
                  "lambda_consist 0.01, evaluated on the unannotated training frames", "Convergence check",
                  "Per seed, on the test split"):
        assert label in table
    for name in ("plot.png", "plot_lambda.png", "plot_seeds.png"):  # plot_lambda.png: two lambda_consist values
        with Image.open(out / name) as image:
            assert image.size[0] > 300 and image.size[1] > 300


def test_step2_runs_resume_step1_with_and_without_consistency(finished):
    _, _, run_root = finished
    dirs = runs.run_dirs(_settings(finished), run_root, 0.2, 0)
    for method in ("consist", "control"):
        checkpoint = torch.load(dirs[method] / "checkpoint.pth", map_location="cpu", weights_only=False)
        assert checkpoint["epoch"] == 2  # 1 epoch of step 1 + 1 of step 2
        assert checkpoint["trainer"] == "trainmeshwarp"
        assert checkpoint["opts"]["consist_gt_refs"] is True
    consist = torch.load(dirs["consist"] / "checkpoint.pth", map_location="cpu", weights_only=False)
    control = torch.load(dirs["control"] / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert (consist["opts"]["lambda_data"], consist["opts"]["lambda_consist"]) == (0.999, 0.001)
    assert (control["opts"]["lambda_data"], control["opts"]["lambda_consist"]) == (1.0, 0.0)
    step1 = torch.load(dirs["step1"] / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert step1["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-3)
    for checkpoint in (consist, control):
        assert checkpoint["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2e-4)


def test_rerun_skips_finished_runs_and_an_unevaluated_run_is_only_evaluated(finished, monkeypatch):
    argv, out, run_root = finished
    before = json.loads((out / "results.json").read_text())["runs"]
    calls = []
    real_supervised = runs.run_supervised

    def no_training(name):
        def fail(argv):
            raise AssertionError(f"{name} trained again: {argv}")
        return fail

    def supervised(argv):
        assert "--evaluate" in argv, "step 1 trained again"
        calls.append(argv)
        return real_supervised(argv)

    monkeypatch.setattr(runs, "run_warp", no_training("trainmeshwarp"))
    monkeypatch.setattr(runs, "run_supervised", supervised)
    assert sparse_consistency.main(argv) == 0
    assert calls == []
    # A run killed after training but before its evaluation: only the evaluations (test split and unannotated
    # training frames) are redone, with the same result.
    control_dir = runs.run_dirs(_settings(finished), run_root, 0.2, 0)["control"]
    (control_dir / runs.DONE_FILE).unlink()
    runs.result_path(out, control_dir).unlink()
    assert sparse_consistency.main(argv) == 0
    assert len(calls) == 2
    assert "--val_frames" in calls[1] and calls[1][calls[1].index("--val_frames") + 1] == "unannotated"
    after = json.loads((out / "results.json").read_text())["runs"]
    for old, new in zip(before, after):
        assert old["method"] == new["method"]
        assert np.isclose(old["metrics"]["joints3d_epe_mean_mm"], new["metrics"]["joints3d_epe_mean_mm"])


def test_changed_consistency_weight_reuses_step1_and_control_only(finished):
    settings = _settings(finished)
    heavier = runs.Settings(**{**runs.settings_dict(settings), "lambda_consist": 0.1})
    a, b = runs.run_dirs(settings, "r", 0.2, 0), runs.run_dirs(heavier, "r", 0.2, 0)
    assert a["step1"] == b["step1"] and a["control"] == b["control"]
    assert a["consist"] != b["consist"]


def test_step2_extra_overrides_step2_flags_only_and_renames_only_step2_runs():
    base = runs.Settings(data_root="d", mano_root="m", input_width=48, batch_size=2, lr=1e-3, encoder_arch="tiny",
                         pretrained=None, step1_epochs=1, step2_epochs=1, lambda_data=0.999, lambda_consist=0.01,
                         progressive_consist_steps=10, consist_criterion="l1", extra=["--mano_lambda_shape", "1e-4"])
    probe = replace(base, step2_extra=["--mano_lambda_shape", "0.1"])
    a, b = runs.run_dirs(base, "r", 0.2, 0), runs.run_dirs(probe, "r", 0.2, 0)
    assert a["step1"] == b["step1"]  # the probe resumes the same step-1 model
    assert a["control"] != b["control"] and a["consist"] != b["consist"]
    step1 = trainmeshreg_parser().parse_args(runs.step1_argv(probe, 0.2, 0, b["step1"], 1))
    assert step1.mano_lambda_shape == pytest.approx(1e-4)
    for method, lambda_consist in (("control", 0.0), ("consist", 0.01)):
        for settings, shape in ((base, 1e-4), (probe, 0.1)):
            opts = trainmeshwarp_parser().parse_args(
                runs.step2_argv(settings, method, 0.2, 0, Path("x"), Path("s1/checkpoint.pth"), 2))
            assert opts.mano_lambda_shape == pytest.approx(shape)
            assert opts.lambda_consist == pytest.approx(lambda_consist) and opts.epochs == 2


def test_committed_main_set_runs_keep_their_folder_names():
    """The folder names (hashes) recorded by the pre-registered main-set runs are what today's code derives from their
    settings, so a rerun of the main command skips them instead of training again."""
    committed = Path(__file__).resolve().parents[2] / "experiments" / "results" / "prereg_main"
    settings = runs.Settings(**json.loads((committed / "results.json").read_text())["settings"])
    records = [json.loads(path.read_text()) for path in sorted((committed / "runs").glob("*.json"))]
    assert len(records) >= 12
    for record in records:
        variant = replace(settings, lambda_consist=record.get("lambda_consist") or settings.lambda_consist)
        expected = Path(record["run_dir"])
        derived = runs.run_dirs(variant, expected.parent.parent, record["fraction"], record["seed"])[record["method"]]
        assert derived == expected, record["run_dir"]


def test_annotated_count_matches_the_reader(fphab_tiny_root):
    counts = data.counts_from_dataset(fphab_tiny_root)
    for fraction in (0.2, 0.5, 1.0):
        reader = FPHAB(fphab_tiny_root, split="train", fraction=fraction)
        assert data.annotated_count(counts["train"], fraction) == int(reader.sparse_map.annotated.sum())
    assert sum(counts["train"]) == len(FPHAB(fphab_tiny_root, split="train"))


def _settings(finished) -> runs.Settings:
    _, out, _ = finished
    return runs.Settings(**json.loads((out / "results.json").read_text())["settings"])


def test_estimate_counts_runs_and_times_without_running_the_experiment(fphab_tiny_root, mano_root, tmp_path,
                                                                        capsys):
    argv = ["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--out", str(tmp_path / "out"),
            "--runs_dir", str(tmp_path / "runs"), "--estimate"] + TINY
    argv[argv.index("--seeds") + 1:argv.index("--seeds") + 2] = ["0", "1"]
    assert sparse_consistency.main(argv) == 0
    printed = capsys.readouterr().out
    assert "8 training runs (1 fractions x 2 seeds x step 1 / control / 2 x +consistency" in printed
    result = json.loads(printed[printed.rindex("\n{\n") + 1:])
    assert result["runs"] == 8 and result["total_s"] > 0 and result["remaining_s"] == pytest.approx(result["total_s"])
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs" / "frac0.2_seed0").exists()


def test_new_eval_subset_reevaluates_every_run_without_training(finished, monkeypatch):
    argv, out, _ = finished
    evaluations = []
    real_supervised = runs.run_supervised

    def supervised(run_argv):
        assert "--evaluate" in run_argv, "a finished run trained again"
        evaluations.append(run_argv)
        return real_supervised(run_argv)

    monkeypatch.setattr(runs, "run_warp", lambda run_argv: pytest.fail(f"trainmeshwarp trained again: {run_argv}"))
    monkeypatch.setattr(runs, "run_supervised", supervised)
    assert sparse_consistency.main(argv + ["--eval_mini_factor", "2"]) == 0
    assert len(evaluations) == 2 * RUNS  # test split and unannotated training frames of every run
    test_evaluations = [a for a in evaluations if "--val_frames" not in a]
    assert len(test_evaluations) == RUNS
    for run_argv in test_evaluations:
        assert run_argv[run_argv.index("--mini_factor") + 1] == "2.0"
    assert {r["eval_mini_factor"] for r in json.loads((out / "results.json").read_text())["runs"]} == {2.0}
    evaluations.clear()
    assert sparse_consistency.main(argv + ["--eval_mini_factor", "2"]) == 0
    assert evaluations == []


def test_committed_results_let_a_new_machine_skip_finished_runs(finished, monkeypatch, tmp_path):
    """With only --out/runs/*.json (no run folders, no checkpoints), nothing is trained or evaluated again."""
    argv, out, run_root = finished
    fresh = list(argv)
    fresh[fresh.index("--runs_dir") + 1] = str(tmp_path / "no_runs_here")
    # the results as last evaluated (another test may have re-evaluated them on a test subset)
    fresh += ["--eval_mini_factor", str(_settings(finished).eval_mini_factor)]
    monkeypatch.setattr(runs, "run_warp", lambda a: pytest.fail(f"trainmeshwarp ran: {a}"))
    monkeypatch.setattr(runs, "run_supervised", lambda a: pytest.fail(f"trainmeshreg ran: {a}"))
    assert sparse_consistency.main(fresh) == 0
    assert len(json.loads((out / "results.json").read_text())["runs"]) == RUNS
    assert not (tmp_path / "no_runs_here" / "frac0.2_seed0").exists()


def test_user_errors_print_one_line(fphab_tiny_root, mano_root, tmp_path, capsys):
    base = ["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--out", str(tmp_path / "out"),
            "--runs_dir", str(tmp_path / "runs")]
    too_few = list(TINY)
    too_few[too_few.index("--batch_size") + 1] = "64"  # more than the annotated frames at 20 %
    assert sparse_consistency.main(base + too_few) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --fractions 0.2:") and "--batch_size 64" in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs" / "frac0.2_seed0").exists()
    with pytest.raises(SystemExit) as exit_info:
        sparse_consistency.main(base + TINY + ["--step1_epochs", "many"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[0].startswith("error: argument --step1_epochs")


def test_step1_extra_reaches_step1_only_and_renames_its_runs():
    base = runs.Settings(data_root="d", mano_root="m", input_width=48, batch_size=2, lr=1e-3, encoder_arch="tiny",
                         pretrained=None, step1_epochs=4, step2_epochs=1, lambda_data=0.999, lambda_consist=0.01,
                         progressive_consist_steps=10, consist_criterion="l1")
    drop = replace(base, step1_extra=["--lr_decay_step", "3", "--lr_decay_gamma", "0.333"])
    a, b = runs.run_dirs(base, "r", 0.2, 0), runs.run_dirs(drop, "r", 0.2, 0)
    assert a["step1"] != b["step1"] and a["control"] != b["control"]  # step 2 resumes another step-1 model
    step1 = trainmeshreg_parser().parse_args(runs.step1_argv(drop, 0.2, 0, b["step1"], 4))
    assert step1.lr_decay_step == 3 and step1.lr_decay_gamma == pytest.approx(0.333)
    step2 = trainmeshwarp_parser().parse_args(runs.step2_argv(drop, "consist", 0.2, 0, Path("x"), Path("c.pth"), 5))
    default = trainmeshwarp_parser().parse_args([])
    assert step2.lr_decay_step == default.lr_decay_step and step2.lr_decay_gamma == default.lr_decay_gamma


def test_consistency_options_pass_through_step2_extra_to_both_arms():
    """The configuration chosen by the basin test reaches both step-2 arms (the control runs the same consist loader)
    and not step 1; the step-1 learning-rate drop goes through --step1_extra."""
    base = runs.Settings(data_root="d", mano_root="m", input_width=128, batch_size=8, lr=3e-4, encoder_arch="tiny",
                         pretrained=None, step1_epochs=267, step2_epochs=67, lambda_data=0.999, lambda_consist=0.01,
                         progressive_consist_steps=200, consist_criterion="l1",
                         step1_extra=["--lr_decay_step", "200", "--lr_decay_gamma", "0.333333"],
                         step2_extra="--consist_width 120 --consist_params lateral --consist_max_gap 15".split())
    dirs = runs.run_dirs(base, "r", 0.00625, 0)
    step1 = trainmeshreg_parser().parse_args(runs.step1_argv(base, 0.00625, 0, dirs["step1"], 267))
    assert (step1.lr_decay_step, step1.lr_decay_gamma) == (200, pytest.approx(1 / 3, rel=1e-5))
    assert not hasattr(step1, "consist_width")
    for method in ("control", "consist"):
        opts = trainmeshwarp_parser().parse_args(
            runs.step2_argv(base, method, 0.00625, 0, Path("x"), Path("s1/checkpoint.pth"), 334))
        assert (opts.consist_width, opts.consist_params, opts.consist_max_gap) == (120, "lateral", 15)
        assert opts.consist_scales == [1]
