"""Issue 14: the error policy of evalho3dv2.py, visualize.py, the synth CLI and the MANO fit tool (the trainers
and reduce_fphab.py have their own tests): one line "error: ..." naming the file or flag, non-zero status."""

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handobjectconsist.datasets import fit_fphab
from handobjectconsist.synth import __main__ as synth_main
from handobjectconsist.visualize.figures import visualize_main
from tests.test_scripts_evalho3dv2 import _fresh_checkpoint

REPO = Path(__file__).resolve().parents[1]


def _error_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("workers", [0, 2])
def test_ho3d_meta_without_keys_names_file_and_keys(workers, ho3d_tiny_root, mano_root, tmp_path, capsys):
    import evalho3dv2

    root = tmp_path / "ho3d"
    shutil.copytree(ho3d_tiny_root, root)
    meta_path = sorted((root / "evaluation").glob("*/meta/*.pkl"))[1]
    with open(meta_path, "rb") as handle:
        meta = pickle.load(handle, encoding="latin1")
    del meta["camMat"], meta["objRot"]
    with open(meta_path, "wb") as handle:
        pickle.dump(meta, handle)
    checkpoint, _ = _fresh_checkpoint(mano_root, tmp_path / "run")
    code = evalho3dv2.main(["--resume", str(checkpoint), "--val_split", "test", "--data_root", str(root),
                            "--mano_root", str(mano_root), "--device", "cpu", "--workers", str(workers),
                            "--batch_size", "2", "--out_dir", str(tmp_path / "sub"),
                            "--json_folder", str(tmp_path / "jsonres")])
    assert code == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and str(meta_path) in errors[0] and "['camMat', 'objRot']" in errors[0], errors
    assert not (tmp_path / "sub" / "pred.json").exists()


@pytest.mark.parametrize("script, argv, flag", [
    ("evalho3dv2.py", ["--resume", "x.pth", "--input_width", "0"], "--input_width"),
    ("evalho3dv2.py", ["--resume", "x.pth", "--batch_size", "-1"], "--batch_size"),
    ("visualize.py", ["--batch_size", "0"], "--batch_size"),
    ("trainmeshreg.py", ["--fraction", "0"], "--fraction"),
    ("trainmeshwarp.py", ["--input_width", "-3"], "--input_width"),
])
def test_scripts_reject_bad_flags_in_one_line(script, argv, flag):
    result = subprocess.run([sys.executable, str(REPO / script), *argv], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: argument {flag}: "), result.stderr


def test_visualize_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert visualize_main(["--resumes", str(tmp_path / "none.pth"), "--model_names", "a",
                           "--out_dir", str(tmp_path / "out")]) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and str(tmp_path / "none.pth") in errors[0]
    assert not (tmp_path / "out").exists()


def test_synth_cli_bad_flag_and_subcommand(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        synth_main.main(["fphab", "--out", str(tmp_path / "d"), "--frames", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: argument --frames: must be a positive integer")
    assert synth_main.main(["fphap"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown subcommand 'fphap'")
    assert not (tmp_path / "d").exists()


def test_synth_cli_bad_mano_file_is_one_line(mano_root, tmp_path, capsys):
    bad = tmp_path / "mano"
    shutil.copytree(mano_root, bad)
    (bad / "MANO_RIGHT.pkl").write_bytes(b"\x80\x04garbage")
    assert synth_main.main(["fphab", "--out", str(tmp_path / "d"), "--mano_root", str(bad), "--frames", "2"]) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and str(bad / "MANO_RIGHT.pkl") in errors[0]


def test_fit_tool_missing_dataset_is_one_line(mano_root, tmp_path, capsys):
    assert fit_fphab.main(["--data_root", str(tmp_path / "nothing"), "--mano_root", str(mano_root)]) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and str(tmp_path / "nothing") in errors[0]
