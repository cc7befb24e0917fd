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


# ------------------------------------------------------------------------------------------- issue 23
def _write_meta(path, **changes):
    with open(path, "rb") as handle:
        meta = pickle.load(handle, encoding="latin1")
    meta.update(changes)
    with open(path, "wb") as handle:
        pickle.dump(meta, handle)


def _evalho3d_argv(checkpoint, root, mano_root, tmp_path, *extra):
    return ["--resume", str(checkpoint), "--val_split", "test", "--data_root", str(root), "--mano_root",
            str(mano_root), "--device", "cpu", "--batch_size", "2", "--out_dir", str(tmp_path / "sub"), *extra]


@pytest.mark.parametrize("key, value, workers", [
    ("camMat", [[1.0, 0.0], [0.0, 1.0]], 0), ("handJoints3D", [[0.0, 0.0, 0.0]] * 5, 0),
    ("objTrans", [0.0, 0.0, 0.5, 1.0], 2), ("objRot", "not numbers", 0), ("objCorners3DRest", [[0.0] * 3] * 7, 0),
])
def test_ho3d_meta_with_wrongly_shaped_array_names_file_and_key(key, value, workers, ho3d_tiny_root, mano_root,
                                                                 tmp_path, capsys):
    import evalho3dv2

    root = tmp_path / "ho3d"
    shutil.copytree(ho3d_tiny_root, root)
    meta_path = sorted((root / "evaluation").glob("*/meta/*.pkl"))[1]
    _write_meta(meta_path, **{key: value})
    checkpoint, _ = _fresh_checkpoint(mano_root, tmp_path / "run")
    code = evalho3dv2.main(_evalho3d_argv(checkpoint, root, mano_root, tmp_path, "--workers", str(workers)))
    assert code == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and str(meta_path) in errors[0] and f"'{key}'" in errors[0], errors
    assert not (tmp_path / "sub" / "pred.json").exists()


def test_evalho3dv2_writes_the_json_copy_under_out_dir(ho3d_tiny_root, mano_root, tmp_path, monkeypatch):
    import evalho3dv2

    checkpoint, _ = _fresh_checkpoint(mano_root, tmp_path / "run")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert evalho3dv2.main(_evalho3d_argv(checkpoint, ho3d_tiny_root, mano_root, tmp_path, "--workers", "0")) == 0
    assert (tmp_path / "sub" / "jsonres" / "res" / "test.json").read_bytes() == \
        (tmp_path / "sub" / "pred.json").read_bytes()
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("case", ["out_dir_file", "out_dir_in_file", "json_folder_file", "cuda"])
def test_evalho3dv2_output_path_and_device_errors(case, ho3d_tiny_root, mano_root, tmp_path, capsys, monkeypatch):
    import torch

    import evalho3dv2

    checkpoint, _ = _fresh_checkpoint(mano_root, tmp_path / "run")
    blocker = tmp_path / "blocker"
    blocker.write_text("user file\n")
    argv = _evalho3d_argv(checkpoint, ho3d_tiny_root, mano_root, tmp_path, "--workers", "0")
    flag = "--out_dir"
    if case == "out_dir_file":
        argv[argv.index("--out_dir") + 1] = str(blocker)
    elif case == "out_dir_in_file":
        argv[argv.index("--out_dir") + 1] = str(blocker / "sub")
    elif case == "json_folder_file":
        argv += ["--json_folder", str(blocker)]
        flag = "--json_folder"
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        argv[argv.index("--device") + 1] = "cuda"
        flag = "--device cuda"
    assert evalho3dv2.main(argv) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"error: {flag}"), errors
    assert blocker.read_text() == "user file\n"
    assert not (tmp_path / "sub").exists() or not any((tmp_path / "sub").iterdir())


@pytest.mark.parametrize("script, argv, flag", [
    ("evalho3dv2.py", ["--resume", "x.pth", "--manual_seed", "-1"], "--manual_seed"),
    ("evalho3dv2.py", ["--resume", "x.pth", "--center_idx", "30"], "--center_idx"),
    ("evalho3dv2.py", ["--resume", "x.pth", "--fraction", "nan"], "--fraction"),
    ("visualize.py", ["--display_width", "1"], "--display_width"),
    ("visualize.py", ["--max_val", "inf"], "--max_val"),
    ("visualize.py", ["--manual_seed", "-3"], "--manual_seed"),
    ("trainmeshreg.py", ["--mini_factor", "0.5"], "--mini_factor"),
    ("trainmeshwarp.py", ["--snapshot", "-1"], "--snapshot"),
])
def test_scripts_reject_out_of_range_numbers_in_one_line(script, argv, flag):
    result = subprocess.run([sys.executable, str(REPO / script), *argv], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: argument {flag}: "), result.stderr


def test_visualize_default_names_follow_the_checkpoints(tmp_path, capsys):
    from handobjectconsist.visualize.figures import DEFAULT_MODEL_NAMES, DEFAULT_RESUMES, default_model_names

    assert default_model_names(list(DEFAULT_RESUMES)) == list(DEFAULT_MODEL_NAMES)
    assert default_model_names([str(tmp_path / "runA" / "checkpoint.pth"), str(tmp_path / "runB")]) == ["runA",
                                                                                                       "runB"]
    # Two checkpoints and no --model_names: the names are not the problem, the missing checkpoints are.
    assert visualize_main(["--resumes", str(tmp_path / "a" / "checkpoint.pth"), str(tmp_path / "b.pth"),
                           "--out_dir", str(tmp_path / "out")]) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "--model_names" not in errors[0] and str(tmp_path / "b.pth") in errors[0], errors


@pytest.mark.parametrize("case", ["out_dir_file", "cuda"])
def test_visualize_output_file_and_cuda(case, checkpoint_for_visualize, tmp_path, capsys, monkeypatch):
    import torch

    out = tmp_path / "out"
    if case == "out_dir_file":
        out.write_text("user file\n")
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["--resumes", str(checkpoint_for_visualize), "--out_dir", str(out),
            "--device", "cuda" if case == "cuda" else "cpu"]
    assert visualize_main(argv) == 1
    errors = _error_lines(capsys)
    expected = f"error: --out_dir {out}: is an existing file" if case == "out_dir_file" else "error: --device cuda"
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert out.is_file() if case == "out_dir_file" else not out.exists()


@pytest.fixture
def checkpoint_for_visualize(mano_root, tmp_path):
    checkpoint, _ = _fresh_checkpoint(mano_root, tmp_path / "run")
    return checkpoint


def test_ho3d_score_out_that_is_a_file_fails_before_scoring(tmp_path, capsys):
    from handobjectconsist.evaluation import ho3d_score

    out = tmp_path / "scores"
    out.write_text("user file\n")
    # --pred and --gt do not exist: the --out check comes first, before anything is read or computed.
    assert ho3d_score.main(["--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt"),
                            "--out", str(out)]) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"error: --out {out}: is an existing file"), errors


@pytest.mark.parametrize("case", ["out_file", "out_user_folder", "verify_empty", "preview_txt", "preview_dir"])
def test_synth_paths_are_checked_before_any_work(case, tmp_path, capsys):
    argv = ["fphab", "--frames", "2"]
    if case == "out_file":
        (tmp_path / "d").write_text("user file\n")
        argv += ["--out", str(tmp_path / "d")]
        expected = f"error: --out {tmp_path / 'd'}: is an existing file"
    elif case == "out_user_folder":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "thesis.tex").write_text("user file\n")
        argv += ["--out", str(tmp_path / "d")]
        expected = f"error: --out {tmp_path / 'd'}: the folder holds files not written by this tool"
    elif case == "verify_empty":
        (tmp_path / "d").mkdir()
        argv += ["--verify", str(tmp_path / "d")]
        expected = f"error: missing {tmp_path / 'd' / 'hoc_synth.json'}"
    else:
        preview = tmp_path / ("sheet.txt" if case == "preview_txt" else "sheet.png")
        if case == "preview_dir":
            preview.mkdir()
        argv += ["--out", str(tmp_path / "d"), "--preview", str(preview)]
        expected = f"error: --preview {preview}: not an image file name"
    assert synth_main.main(argv) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    if case in ("out_user_folder", "verify_empty"):
        assert sorted(p.name for p in (tmp_path / "d").iterdir()) == (["thesis.tex"] if case == "out_user_folder"
                                                                      else [])
    elif case.startswith("preview"):
        assert not (tmp_path / "d").exists()


def test_predict_tiny_frame_is_an_error_and_principal_point_outside_a_warning(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from handobjectconsist.predict import cli as predict_cli

    image = tmp_path / "one.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(image)
    code = predict_cli.main(["--resume", str(tmp_path / "none.pth"), "--images", str(image), "--intrinsics",
                             "500", "500", "320", "240", "--out", str(tmp_path / "out")])
    assert code == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"error: --images {image}: frames are 1x1 pixels"), errors
    assert not (tmp_path / "out").exists()
    predict_cli.check_frames_and_intrinsics((64, 36), np.array([[50.0, 0, 320], [0, 50.0, 240], [0, 0, 1]]), image)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: --intrinsics principal point (320, 240) lies outside the "
                                               "64x36 frames"), err
    predict_cli.check_frames_and_intrinsics((64, 36), np.array([[50.0, 0, 32], [0, 50.0, 18], [0, 0, 1]]), image)
    assert capsys.readouterr().err == ""
