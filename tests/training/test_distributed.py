"""torchrun with 2 CPU processes (gloo, DistributedSampler) vs 1 process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from handobjectconsist.training.trainmeshreg import run

REPO = Path(__file__).resolve().parents[2]


def _argv(mano_root, exp_dir, batch_size):
    # 4 samples = one global batch per epoch, so both runs see the same samples in every step.
    return (f"--train_datasets toy --val_dataset toy --toy_size 4 --batch_size {batch_size} --input_width 32 "
            f"--device cpu --encoder_arch tiny --mano_root {mano_root} --exp_dir {exp_dir} --epochs 2 "
            f"--eval_freq -1 --epoch_display_freq 0 --lr 1e-3").split()


@pytest.mark.slow
def test_two_processes_match_one_process_with_same_global_batch(mano_root, tmp_path):
    single = run(_argv(mano_root, tmp_path / "single", batch_size=4))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "trainmeshreg.py"), *_argv(mano_root, tmp_path / "ddp", batch_size=2)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    for a, b in zip(single["train"], ddp["train"]):
        for key in ("total_loss", "recov_joint3d", "recov_objverts3d"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key
    # Parameters after two optimisation steps agree too.
    w_single = torch.load(tmp_path / "single" / "checkpoint.pth", weights_only=False)["state_dict"]
    w_ddp = torch.load(tmp_path / "ddp" / "checkpoint.pth", weights_only=False)["state_dict"]
    for name, value in w_single.items():
        if value.is_floating_point():
            assert torch.allclose(value, w_ddp[name], rtol=1e-4, atol=1e-6), name
    # Only rank 0 writes: one TensorBoard event file.
    assert len(list((tmp_path / "ddp" / "tensorboard").iterdir())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_to_the_launcher_stops_every_rank_in_one_line(sig, mano_root, tmp_path):
    """Two CPU ranks (gloo) under training.launch (torchrun): a signal to the launcher parent stops both ranks at a
    step boundary; one line, from rank 0, names the last checkpoint; status 128 + signal; no traceback."""
    import signal
    import time

    from handobjectconsist.training.checkpoints import load_checkpoint

    exp = tmp_path / "ddp"
    argv = _argv(mano_root, exp, batch_size=2)
    argv[argv.index("--epochs") + 1] = "100000"
    argv[argv.index("--eval_freq") + 1] = "3"  # a validation pass on rank 0 while rank 1 waits, now and then
    argv[argv.index("--toy_size") + 1] = "16"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "handobjectconsist.training.launch", "--standalone", "--nproc_per_node", "2",
           str(REPO / "trainmeshreg.py"), *argv]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while not (exp / "checkpoint.pth").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (exp / "checkpoint.pth").exists(), proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(1.0)
        sent = time.time()
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
        elapsed = time.time() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + getattr(signal, sig), err[-3000:]
    assert "Traceback" not in err and "death signal" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err[-3000:]
    epoch = load_checkpoint(exp / "checkpoint.pth")["epoch"]
    assert f"error: interrupted by {sig}; the last saved checkpoint is {exp / 'checkpoint.pth'} (epoch {epoch})" \
        in errors[0]
    assert elapsed < 30


@pytest.mark.parametrize("weights", [{}, {"obj_lambda_recov_verts3d": 0}, {"mano_lambda_recov_joints3d": 0},
                                     {"mano_lambda_recov_joints3d": 0, "mano_lambda_joints2d": 1e-3},
                                     {"obj_lambda_recov_verts3d": 0, "obj_lambda_verts2d": 1e-3},
                                     {"mano_lambda_recov_joints3d": 0, "mano_lambda_shape": 0,
                                      "mano_lambda_pose_reg": 0}])
def test_unused_parameter_rule_matches_the_gradients(weights, mano_root):
    """session.may_leave_parameters_unused (DDP's find_unused_parameters) against the gradients of one step."""
    from handobjectconsist.datasets.collate import collate_samples
    from handobjectconsist.models import MeshRegNet
    from handobjectconsist.training.options import trainmeshreg_parser
    from handobjectconsist.training.session import may_leave_parameters_unused
    from handobjectconsist.training.toy_data import ToyHandObjectDataset

    opts = vars(trainmeshreg_parser().parse_args(["--encoder_arch", "tiny", "--mano_root", str(mano_root)]))
    opts.update(weights)
    model = MeshRegNet.from_options(opts, pretrained=None)
    model.eval()
    batch = collate_samples([ToyHandObjectDataset(mano_root, size=2, image_size=(32, 18))[i] for i in range(2)])
    loss, _, _ = model(batch)
    loss.backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert may_leave_parameters_unused(opts, photometric=False) == bool(unused), unused
