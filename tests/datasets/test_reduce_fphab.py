"""reduce_fphab.py: sizes, skipping finished frames, atomic writes, stale temporary files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handobjectconsist.datasets import reduce_fphab

SCRIPT = Path(__file__).resolve().parents[2] / "reduce_fphab.py"


def _write_full_frames(root, n=2):
    color = root / "Video_files/Subject_1/open_milk/1/color"
    color.mkdir(parents=True)
    for t in range(n):
        image = np.zeros((1080, 1920, 3), np.uint8)
        image[:, : 960 + 100 * t] = 200  # left part bright: the resized edge must sit at a quarter of it
        Image.fromarray(image).save(color / f"color_{t:04d}.jpeg")
    return color


def test_resize_skip_and_stale_temp(tmp_path):
    _write_full_frames(tmp_path)
    out = tmp_path / "Video_files_480/Subject_1/open_milk/1/color"
    out.mkdir(parents=True)
    (out / f"{reduce_fphab.TMP_MARK}123-color_0000.jpeg").write_bytes(b"half")
    assert reduce_fphab.main(["--data_root", str(tmp_path), "--workers", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["color_0000.jpeg", "color_0001.jpeg"]
    small = np.asarray(Image.open(out / "color_0001.jpeg"))
    assert small.shape == (270, 480, 3)
    assert small[:, 260, 0].mean() > 150 and small[:, 270, 0].mean() < 50  # edge at 1060 / 4 = 265
    mtime = (out / "color_0000.jpeg").stat().st_mtime_ns
    jobs, done, _ = reduce_fphab.list_jobs(tmp_path, 480)
    assert jobs == [] and done == 2
    assert reduce_fphab.main(["--data_root", str(tmp_path), "--workers", "1"]) == 0
    assert (out / "color_0000.jpeg").stat().st_mtime_ns == mtime


def test_interrupted_write_leaves_no_frame(tmp_path, monkeypatch):
    color = _write_full_frames(tmp_path, n=1)
    dst = tmp_path / "Video_files_480/Subject_1/open_milk/1/color/color_0000.jpeg"

    def failing_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        reduce_fphab.reduce_frame((color / "color_0000.jpeg", dst, (480, 270)))
    assert not dst.exists()


def test_missing_video_files_names_the_path(tmp_path, capsys):
    assert reduce_fphab.main(["--data_root", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: missing {tmp_path / 'Video_files'}: expected the full-resolution FPHAB frames "
        "Video_files/Subject_k/<action>/<seq>/color/color_XXXX.jpeg (from the FPHAB download). Point --data_root "
        "at the FPHAB folder")
    result = subprocess.run([sys.executable, str(SCRIPT), "--data_root", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and str(tmp_path / "Video_files") in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_corrupt_source_frame_is_named_and_the_others_are_written(tmp_path, workers):
    color = _write_full_frames(tmp_path, n=3)
    good = (color / "color_0001.jpeg").read_bytes()
    (color / "color_0001.jpeg").write_bytes(good[: len(good) // 2])  # truncated JPEG
    (color / "color_0002.jpeg").write_bytes(b"not a jpeg at all")
    result = subprocess.run([sys.executable, str(SCRIPT), "--data_root", str(tmp_path), "--workers", workers],
                            capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(errors) == 3, result.stderr
    assert any(str(color / "color_0001.jpeg") in line for line in errors)
    assert any(str(color / "color_0002.jpeg") in line for line in errors)
    assert errors[-1].startswith("error: 2 of 3 frames could not be read")
    out = tmp_path / "Video_files_480/Subject_1/open_milk/1/color"
    assert sorted(p.name for p in out.iterdir()) == ["color_0000.jpeg"]


def test_bad_width_is_rejected_at_parsing(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--data_root", str(tmp_path), "--width", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: argument --width: must be a positive integer, got 0 (see {SCRIPT.name} --help)"]


def test_non_jpeg_files_are_named_not_skipped_silently(tmp_path, capsys):
    color = _write_full_frames(tmp_path, n=1)
    Image.fromarray(np.zeros((1080, 1920, 3), np.uint8)).save(color / "color_0001.png")
    (color / "notes.txt").write_text("mine\n")
    assert reduce_fphab.main(["--data_root", str(tmp_path), "--workers", "1"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "2 files" in notes[0] and "not .jpeg frames" in notes[0], notes
    assert sorted(p.name for p in (tmp_path / "Video_files_480/Subject_1/open_milk/1/color").iterdir()) == [
        "color_0000.jpeg"]
