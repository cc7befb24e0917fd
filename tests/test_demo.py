"""`python -m handobjectconsist.demo --quick`: the whole pipeline at toy size, on the session's tiny FPHAB set."""

import json
import math

import pytest
from PIL import Image

from handobjectconsist import demo
from handobjectconsist.visualize import posefit_demo


def test_quick_demo_writes_figures_and_finite_metrics(fphab_tiny_root, mano_root, tmp_path, capsys):
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "fhbhands").symlink_to(fphab_tiny_root, target_is_directory=True)  # the quick preset: reused
    out = tmp_path / "out"
    code = demo.main(["--quick", "--out", str(out), "--data_root", str(data_root), "--mano_root", str(mano_root),
                      "--workers", "0", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "reusing the synthetic FPHAB set" in printed
    assert "NOT FPHAB" in printed and "SYNTHETIC" in printed

    for split in ("test", "train"):
        figures = sorted((out / f"visualize_{split}" / "images").glob("render*.png"))
        assert len(figures) == demo.QUICK.num_figures
        for path in figures:
            assert str(path) in printed
            with Image.open(path) as image:
                assert image.size[0] > 300 and image.size[1] > 4 * 150  # GT row + 3 model rows
    table = (out / "metrics.md").read_text()
    assert table.count("\n| ") == 2 * len(demo.MODEL_ROWS) + 1  # header + one row per model and split
    assert "| test split |" in table and "| training sequences |" in table
    result = json.loads((out / "metrics.json").read_text())
    assert result["synthetic"] is True
    assert [(row["split"], row["run"]) for row in result["metrics"]] == [
        (split, name) for split in ("test", "train") for name, _ in demo.MODEL_ROWS]
    for row in result["metrics"]:
        for key, _ in demo.METRIC_COLUMNS:
            assert math.isfinite(row["metrics"][key]), (row["run"], key)
        assert row["metrics"]["frames"] == 12  # tiny preset: 2 sequences x 6 frames in each split
    finetuned = {row["run"]: row["metrics"]["epoch"] for row in result["metrics"]}
    assert finetuned == {"full": 1, "sparse": 1, "control": 2, "consist": 2}  # fine-tunings continue the epochs

    # The consistency stage: a GIF with one frame per fit state, its start and end frames, the error table.
    gif = out / "consistency" / "posefit.gif"
    assert str(gif) in printed
    with Image.open(gif) as image:
        assert image.n_frames == demo.QUICK.posefit.steps + 1
    for name in ("posefit_start.png", "posefit_end.png", "posefit.md"):
        assert (out / "consistency" / name).is_file()
    posefit = result["posefit"]
    assert len(posefit["rows"]) == demo.QUICK.posefit.pairs
    start = posefit["rows"][0]["start"]
    # The start is the truth moved by the known offsets: the hand's vertex mean moved by exactly their translation.
    assert start["hand_depth_mm"] == pytest.approx(posefit_demo.KNOWN_OFFSETS["hand"][1][2], abs=1e-3)
    assert start["hand_mm"] > 10 and start["object_mm"] > 10


def test_existing_foreign_folder_is_not_overwritten(tmp_path, mano_root, capsys):
    data_root = tmp_path / "data"
    (data_root / "fhbhands").mkdir(parents=True)
    (data_root / "fhbhands" / "keep.txt").write_text("user data")
    code = demo.main(["--quick", "--out", str(tmp_path / "out"), "--data_root", str(data_root),
                      "--mano_root", str(mano_root), "--device", "cpu"])
    assert code == 1
    err = capsys.readouterr().err
    assert str(data_root / "fhbhands") in err and "hoc_synth.json" in err
    assert (data_root / "fhbhands" / "keep.txt").read_text() == "user data"
