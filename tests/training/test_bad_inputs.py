"""Issue 14: every bad input to the trainers gives one line "error: ..." naming the file or flag, a non-zero exit
status and no half-written experiment folder; programming errors keep their traceback."""

import errno
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from handobjectconsist.entry import run_main
from handobjectconsist.training import checkpoints, trainmeshreg, trainmeshwarp
from handobjectconsist.training.checkpoints import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _error_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def _toy(mano_root, exp_dir, epochs=1, extra=""):
    return (f"--train_datasets toy --val_dataset toy --toy_size 4 --batch_size 2 --input_width 32 --device cpu "
            f"--mano_root {mano_root} --exp_dir {exp_dir} --epochs {epochs} --eval_freq -1 --epoch_display_freq 0 "
            f"--snapshot 2 --lr 1e-3 --encoder_arch tiny {extra}").split()


def _fphab(data_root, mano_root, exp_dir, extra=""):
    return (f"--data_root {data_root} --mano_root {mano_root} --input_width 64 --epochs 1 --batch_size 2 "
            f"--encoder_arch tiny --exp_dir {exp_dir} --epoch_display_freq 0 --eval_freq -1 --device cpu "
            f"{extra}").split()


# ------------------------------------------------------------------------------------------- flags at parsing
@pytest.mark.parametrize("flag, value", [("--fraction", "0"), ("--fraction", "-0.5"), ("--fraction", "1.5"),
                                         ("--fraction", "nan"), ("--input_width", "0"), ("--input_width", "-64"),
                                         ("--batch_size", "0")])
@pytest.mark.parametrize("main", [trainmeshreg.main, trainmeshwarp.main], ids=["trainmeshreg", "trainmeshwarp"])
def test_bad_flag_value_is_rejected_at_parsing(main, flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([flag, value, "--exp_dir", str(tmp_path / "exp")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: argument {flag}: ") and value in err[0]
    assert not (tmp_path / "exp").exists()


# ------------------------------------------------------------------------------------------- MANO pickles
def _corrupt_mano(mano_root, tmp_path, kind):
    root = tmp_path / "mano"
    shutil.copytree(mano_root, root)
    path = root / "MANO_RIGHT.pkl"
    if kind == "not_a_pickle":
        path.write_text("this is not a pickle\n")
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        with open(path, "rb") as handle:
            model = pickle.load(handle, encoding="latin1")
        del model["weights"]
        with open(path, "wb") as handle:
            pickle.dump(model, handle)
    return root, path


@pytest.mark.parametrize("kind", ["not_a_pickle", "truncated", "missing_keys"])
def test_bad_mano_pickle_names_the_file(kind, mano_root, tmp_path, capsys):
    root, path = _corrupt_mano(mano_root, tmp_path, kind)
    assert trainmeshreg.main(_toy(root, tmp_path / "exp")) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and str(path) in errors[0]
    if kind == "missing_keys":
        assert "'weights'" in errors[0]
    assert not (tmp_path / "exp").exists()


# ------------------------------------------------------------------------------------------- FPHAB annotations
@pytest.fixture
def fphab_copy(fphab_tiny_root, tmp_path):
    root = tmp_path / "fphab"
    shutil.copytree(fphab_tiny_root, root)
    return root


def _first_skeleton(root):
    return sorted((root / "Hand_pose_annotation_v1").glob("Subject_*/*/*/skeleton.txt"))[0]


@pytest.mark.parametrize("edit, problem", [
    (lambda words: words[:-1], "expected a frame number and 63"),
    (lambda words: words[:5] + ["1.2.3"] + words[6:], "non-numeric"),
    (lambda words: words[:5] + ["nan"] + words[6:], "non-finite"),
    (lambda words: words[:5] + ["-inf"] + words[6:], "non-finite"),
], ids=["columns", "non_numeric", "nan", "inf"])
def test_bad_skeleton_line_names_file_and_line(edit, problem, fphab_copy, mano_root, tmp_path, capsys):
    path = _first_skeleton(fphab_copy)
    lines = path.read_text().splitlines()
    lines[2] = " ".join(edit(lines[2].split()))
    path.write_text("\n".join(lines) + "\n")
    assert trainmeshreg.main(_fphab(fphab_copy, mano_root, tmp_path / "exp")) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and f"{path}, line 3" in errors[0] and problem in errors[0], errors
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("kind, workers", [("truncated", 0), ("garbage", 0), ("truncated", 2)])
def test_corrupt_frame_names_its_path(kind, workers, fphab_copy, mano_root, tmp_path, capsys):
    frames = sorted((fphab_copy / "Video_files_480").glob("Subject_*/*/*/color/*.jpeg"))
    for path in frames[1:]:  # every frame but the first, whose header is read at start-up
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3] if kind == "truncated" else b"\x00garbage" * 10)
    assert trainmeshreg.main(_fphab(fphab_copy, mano_root, tmp_path / "exp", f"--workers {workers}")) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "cannot read" in errors[0] and "Video_files_480" in errors[0], errors
    assert any(str(path) in errors[0] for path in frames[1:])
    assert not (tmp_path / "exp").exists()


def test_fraction_too_small_for_one_batch(fphab_copy, mano_root, tmp_path, capsys):
    argv = _fphab(fphab_copy, mano_root, tmp_path / "exp", "--fraction 0.01 --batch_size 12")
    assert trainmeshreg.main(argv) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "--fraction 0.01" in errors[0] and "--batch_size 12" in errors[0], errors
    assert not (tmp_path / "exp").exists()


# ------------------------------------------------------------------------------------------- outputs
def test_read_only_output_folder(mano_root, tmp_path, capsys, monkeypatch):
    exp = tmp_path / "locked" / "exp"
    real_mkdir = Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "locked")):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only_mkdir)
    assert trainmeshreg.main(_toy(mano_root, exp)) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "read-only file system" in errors[0] and str(tmp_path / "locked") in errors[0]
    assert not (tmp_path / "locked").exists()


@pytest.mark.parametrize("style", ["oserror", "torch"])
def test_disk_full_while_saving_keeps_previous_checkpoint(style, mano_root, tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    real_save = torch.save

    def save_until_full(obj, stream, *args, **kwargs):
        if obj["epoch"] == 2:
            stream.write(b"x" * 1000)
            if style == "oserror":
                raise OSError(errno.ENOSPC, "No space left on device")
            try:  # what torch.save does on a real full disk (measured on a small tmpfs)
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 3015872 vs 3015760")
        return real_save(obj, stream, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", save_until_full)
    assert trainmeshreg.main(_toy(mano_root, exp, epochs=3)) == 1
    errors = _error_lines(capsys)
    assert errors == [f"error: no space left on device while writing {exp / 'checkpoint.pth'}; the previous "
                      f"checkpoint (epoch 1) is intact: free space (or make the folder writable) and resume with "
                      f"--resume {exp / 'checkpoint.pth'}"]
    assert load_checkpoint(exp / "checkpoint.pth")["epoch"] == 1
    assert not [p for p in exp.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------- resume
def test_resume_names_ignored_model_flags(mano_root, tmp_path, caplog):
    exp = tmp_path / "exp"
    assert trainmeshreg.main(_toy(mano_root, exp)) == 0
    caplog.clear()
    argv = _toy(mano_root, exp, epochs=2, extra=f"--resume {exp / 'checkpoint.pth'} --mano_ncomps 10")
    assert trainmeshreg.main(argv) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "ignored: --mano_ncomps 10 (checkpoint: 15)" in warnings[0]


def test_trainmeshwarp_refuses_another_fraction_than_the_base_run(mano_root, tmp_path, capsys):
    base = tmp_path / "base"
    assert trainmeshreg.main(_toy(mano_root, base)) == 0
    warp = tmp_path / "warp"
    argv = _toy(mano_root, warp, epochs=2, extra=f"--resume {base / 'checkpoint.pth'} --fraction 0.5")
    assert trainmeshwarp.main(argv + ["--consist_dataset", "toy"]) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "--fraction 0.5" in errors[0] and "pass --fraction 1" in errors[0], errors
    assert not warp.exists()


def test_leftovers_are_cleaned_on_resume(mano_root, tmp_path):
    exp = tmp_path / "exp"
    assert trainmeshreg.main(_toy(mano_root, exp, epochs=2)) == 0
    stale = exp / ".checkpoint.pth.999999999.0123abcd.tmp"  # a pid that cannot run
    stale.write_bytes(b"half a checkpoint")
    (exp / "checkpoint_2.pth").unlink()  # snapshot lost to a kill
    with open(exp / "train.txt", "a") as log:  # epoch 3 logged, then killed before its checkpoint
        log.write("(epoch: 3, time: x),total_loss:1\n")
    assert trainmeshreg.main(_toy(mano_root, exp, epochs=4, extra=f"--resume {exp / 'checkpoint.pth'}")) == 0
    assert not stale.exists()
    assert load_checkpoint(exp / "checkpoint_2.pth")["epoch"] == 2
    epochs = [line.split(",")[0] for line in (exp / "train.txt").read_text().splitlines()[1:]]
    assert epochs == [f"(epoch: {e}" for e in (1, 2, 3, 4)]


# ------------------------------------------------------------------------------------------- the policy
def test_programming_errors_keep_their_traceback():
    def buggy(argv):
        raise ValueError("a bug, not the user's fault")

    with pytest.raises(ValueError, match="a bug"):
        run_main(buggy, [])


def test_interrupt_during_checkpoint_write_finishes_the_write(mano_root, tmp_path, capsys, monkeypatch):
    import os
    import signal

    exp = tmp_path / "exp"
    real_save = torch.save

    def save_with_interrupt(obj, stream, *args, **kwargs):
        if obj["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the write
        return real_save(obj, stream, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", save_with_interrupt)
    assert trainmeshreg.main(_toy(mano_root, exp, epochs=5)) == 130
    errors = _error_lines(capsys)
    assert errors == [f"error: interrupted by SIGINT; the last saved checkpoint is {exp / 'checkpoint.pth'} "
                      f"(epoch 2); continue with --resume {exp / 'checkpoint.pth'}"]
    assert load_checkpoint(exp / "checkpoint.pth")["epoch"] == 2
    assert load_checkpoint(exp / "checkpoint_2.pth")["epoch"] == 2


@pytest.mark.parametrize("sig, workers", [("SIGINT", 0), ("SIGINT", 2), ("SIGTERM", 2)])
def test_signal_to_the_main_process_stops_the_run(sig, workers, mano_root, tmp_path):
    import signal
    import time

    exp = tmp_path / "exp"
    argv = _toy(mano_root, exp, epochs=100000, extra=f"--workers {workers} --toy_size 64")
    proc = subprocess.Popen([sys.executable, str(REPO / "trainmeshreg.py"), *argv], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (exp / "checkpoint.pth").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (exp / "checkpoint.pth").exists()
        time.sleep(0.5)
        sent = time.time()
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
        elapsed = time.time() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert proc.returncode == 128 + getattr(signal, sig), err
    assert "Traceback" not in err and len(errors) == 1, err
    epoch = load_checkpoint(exp / "checkpoint.pth")["epoch"]
    assert errors[0].startswith(f"error: interrupted by {sig}; the last saved checkpoint is ")
    assert f"(epoch {epoch})" in errors[0]
    assert elapsed < 10


# ------------------------------------------------------------------------------------------- issue 23
@pytest.mark.parametrize("flag, value", [
    ("--mini_factor", "0.5"), ("--mini_factor", "inf"), ("--lr", "0"), ("--lr", "nan"), ("--lr", "-1e-3"),
    ("--momentum", "1.5"), ("--weight_decay", "-1"), ("--mano_lambda_recov_joints3d", "-0.5"),
    ("--obj_lambda_recov_verts3d", "inf"), ("--mano_lambda_shape", "nan"), ("--snapshot", "-1"),
    ("--eval_freq", "0"), ("--eval_freq", "-2"), ("--manual_seed", "-1"), ("--center_idx", "21"),
    ("--scale_jittering", "1"), ("--center_jittering", "-inf"), ("--display_freq", "-1"),
    ("--lr_decay_step", "0"), ("--obj_trans_factor", "0"), ("--epochs", "1.5"), ("--max_rot", "nan"),
])
@pytest.mark.parametrize("main", [trainmeshreg.main, trainmeshwarp.main], ids=["trainmeshreg", "trainmeshwarp"])
def test_out_of_range_number_is_rejected_at_parsing(main, flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([f"{flag}={value}", "--exp_dir", str(tmp_path / "exp")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: argument {flag}: ") and value in err[0], err
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("flag, value", [("--lambda_consist", "-0.1"), ("--lambda_data", "nan"),
                                         ("--occlusion_threshold", "-1"), ("--progressive_consist_steps", "-5"),
                                         ("--consist_scale", "inf")])
def test_trainmeshwarp_consistency_numbers_are_checked_at_parsing(flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        trainmeshwarp.main([f"{flag}={value}", "--exp_dir", str(tmp_path / "exp")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: argument {flag}: "), err


def _base_run(mano_root, exp, width=48):
    argv = _toy(mano_root, exp)
    argv[argv.index("--input_width") + 1] = str(width)
    assert trainmeshreg.main(argv) == 0
    return exp / "checkpoint.pth"


def _without_width(argv):
    index = argv.index("--input_width")
    return argv[:index] + argv[index + 2:]


@pytest.mark.parametrize("main", [trainmeshreg.main, trainmeshwarp.main], ids=["trainmeshreg", "trainmeshwarp"])
def test_resume_keeps_the_frame_width_of_the_checkpoint(main, mano_root, tmp_path, caplog):
    import yaml

    checkpoint = _base_run(mano_root, tmp_path / "base")
    exp = tmp_path / "resumed"
    argv = _without_width(_toy(mano_root, exp, epochs=2, extra=f"--resume {checkpoint}"))
    extra = ["--consist_dataset", "toy"] if main is trainmeshwarp.main else []
    caplog.clear()
    assert main(argv + extra) == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "input_width" in r.getMessage()]
    assert yaml.safe_load((exp / "opt.yaml").read_text())["input_width"] == 48
    assert load_checkpoint(exp / "checkpoint.pth")["opts"]["input_width"] == 48


def test_resume_with_another_width_says_it_in_one_line(mano_root, tmp_path, caplog):
    import yaml

    checkpoint = _base_run(mano_root, tmp_path / "base")
    exp = tmp_path / "resumed"
    caplog.clear()
    assert trainmeshreg.main(_toy(mano_root, exp, epochs=2, extra=f"--resume {checkpoint}")) == 0  # width 32
    lines = [r.getMessage() for r in caplog.records if "--input_width" in r.getMessage()]
    assert len(lines) == 1 and "--input_width 32 differs from the checkpoint's 48" in lines[0], lines
    assert yaml.safe_load((exp / "opt.yaml").read_text())["input_width"] == 32


def test_native_width_is_recorded_not_null(mano_root, tmp_path):
    import yaml

    exp = tmp_path / "exp"
    assert trainmeshreg.main(_without_width(_toy(mano_root, exp))) == 0
    assert yaml.safe_load((exp / "opt.yaml").read_text())["input_width"] == 64  # the toy set's native width


@pytest.mark.parametrize("epochs", [1, 0])
def test_resume_with_no_epoch_left_is_an_error(epochs, mano_root, tmp_path, capsys):
    checkpoint = _base_run(mano_root, tmp_path / "base")
    exp = tmp_path / "more"
    assert trainmeshreg.main(_toy(mano_root, exp, epochs=epochs, extra=f"--resume {checkpoint}")) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and f"--epochs {epochs}" in errors[0] and "above 1" in errors[0], errors
    assert not exp.exists()


@pytest.mark.parametrize("main", [trainmeshreg.main, trainmeshwarp.main], ids=["trainmeshreg", "trainmeshwarp"])
@pytest.mark.parametrize("where", ["exp_dir", "parent"])
def test_exp_dir_that_is_a_file(main, where, mano_root, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("user data\n")
    exp = blocker if where == "exp_dir" else blocker / "run"
    assert main(_toy(mano_root, exp) + ["--consist_dataset", "toy"] * (main is trainmeshwarp.main)) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"error: --exp_dir {exp}: ") and "existing file" in errors[0]
    assert blocker.read_text() == "user data\n"


@pytest.mark.parametrize("main", [trainmeshreg.main, trainmeshwarp.main], ids=["trainmeshreg", "trainmeshwarp"])
def test_device_cuda_without_cuda(main, mano_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = _toy(mano_root, tmp_path / "exp")
    argv[argv.index("--device") + 1] = "cuda"
    assert main(argv + ["--consist_dataset", "toy"] * (main is trainmeshwarp.main)) == 1
    errors = _error_lines(capsys)
    assert errors == ["error: --device cuda: no CUDA device is visible; use --device cpu or auto"]
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("content", ["garbage", "tensor", "list", "checkpoint_object", "empty"])
def test_pretrained_file_that_is_not_a_state_dict(content, mano_root, tmp_path, capsys):
    path = tmp_path / "weights.pth"
    if content == "garbage":
        path.write_bytes(b"\x00not a torch file" * 20)
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
    elif content == "list":
        torch.save([torch.zeros(3)], path)
    elif content == "checkpoint_object":
        torch.save({"epoch": 3, "opts": {"lr": 1.0}}, path)
    else:
        path.write_bytes(b"")
    argv = _toy(mano_root, tmp_path / "exp", extra=f"--pretrained {path}")
    argv[argv.index("--encoder_arch") + 1] = "resnet18"
    assert trainmeshreg.main(argv) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith(f"error: --pretrained {path}: "), errors
    assert not (tmp_path / "exp").exists()


def test_pretrained_with_the_tiny_encoder(mano_root, tmp_path, capsys):
    path = tmp_path / "weights.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    assert trainmeshreg.main(_toy(mano_root, tmp_path / "exp", extra=f"--pretrained {path}")) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "--pretrained" in errors[0] and "tiny" in errors[0], errors


# ---- annotation files checked whole, frames of another size
def _first_object_pose(root):
    return sorted((root / "Object_6D_pose_annotation_v1_1").glob("Subject_*/*/*/object_pose.txt"))[0]


@pytest.mark.parametrize("which, cut", [("skeleton", "empty"), ("skeleton", "half"), ("object_pose", "empty"),
                                        ("skeleton", "blank_lines")])
def test_empty_or_truncated_annotation_file_names_file_and_line(which, cut, fphab_copy, mano_root, tmp_path,
                                                                capsys):
    path = _first_skeleton(fphab_copy) if which == "skeleton" else _first_object_pose(fphab_copy)
    lines = path.read_text().splitlines()
    kept = {"empty": [], "half": lines[: len(lines) // 2], "blank_lines": ["", "  "]}[cut]
    path.write_text("".join(line + "\n" for line in kept))
    assert trainmeshreg.main(_fphab(fphab_copy, mano_root, tmp_path / "exp")) == 1
    errors = _error_lines(capsys)
    line = len(kept if cut == "half" else []) + 1
    assert len(errors) == 1 and f"{path}, line {line}" in errors[0], errors
    problem = errors[0].split(f", line {line}: ")[1].replace(str(tmp_path), "")
    assert ("the file is empty" in problem) == (cut != "half") and ("truncated" in problem) == (cut == "half")
    assert not (tmp_path / "exp").exists()


def test_frames_without_object_pose_are_dropped_with_one_line(fphab_copy, mano_root, tmp_path, capsys):
    from handobjectconsist.datasets.fphab import FPHAB

    full = len(FPHAB(fphab_copy, split="train"))
    capsys.readouterr()
    path = _first_object_pose(fphab_copy)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")
    reader = FPHAB(fphab_copy, split="train")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "2 frames of 1 sequences" in out[0] and str(path) in out[0], out
    assert len(reader) == full - 2 or len(reader) == len(FPHAB(fphab_copy, split="train"))


@pytest.mark.parametrize("workers", [0, 2])
def test_frame_of_another_size_names_the_frame(workers, fphab_copy, mano_root, tmp_path, capsys):
    from PIL import Image

    frames = sorted((fphab_copy / "Video_files_480").glob("Subject_*/*/*/color/*.jpeg"))
    for odd in frames[1:]:  # every frame but the first, whose size is read at start-up
        Image.open(odd).convert("RGB").resize((320, 180)).save(odd, format="JPEG")
    argv = _fphab(fphab_copy, mano_root, tmp_path / "exp", f"--workers {workers}")
    assert trainmeshreg.main(argv) == 1
    errors = _error_lines(capsys)
    assert len(errors) == 1 and "the frame is 320x180" in errors[0], errors
    assert any(str(path) in errors[0] for path in frames[1:])
    assert not (tmp_path / "exp").exists()  # no opt.yaml, tensorboard/ or images/ left behind
