"""The upstream README command lines, on the synthetic tiny FPHAB set (plus size/location flags)."""

import json

import pytest

from handobjectconsist.training.trainmeshreg import run

README_COMMANDS = [
    "--freeze_batchnorm --workers 2 --block_rot",
    "--freeze_batchnorm --workers 2 --fraction 0.00625 --eval_freq 50",
]


@pytest.mark.slow
@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_command_runs_on_synthetic_fphab(command, fphab_tiny_root, mano_root, tmp_path):
    extra = (f" --data_root {fphab_tiny_root} --mano_root {mano_root} --input_width 64 --epochs 1 --batch_size 2"
             f" --encoder_arch tiny --exp_dir {tmp_path} --epoch_display_freq 0")
    history = run((command + extra).split())
    assert len(history["train"]) == 1 and len(history["val"]) == 1  # epoch_idx 0 is validated
    val = history["val"][0]
    for key in ("joints3d_epe_mean_mm", "joints3d_cent_epe_mean_mm", "joints2d_base_epe_mean_px",
                "objverts3d_mepe_trans_mm", "objverts2d_mepe_px", "total_loss"):
        assert key in val and val[key] == val[key], key  # present and not NaN
    opts = json.loads((tmp_path / "results.json").read_text())["opt"]
    assert opts["freeze_batchnorm"] is True
