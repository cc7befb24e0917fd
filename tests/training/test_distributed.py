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
