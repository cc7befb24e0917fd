"""evalho3dv2.py on the synthetic HO3D-v2 set: the submission read back against the model's own predictions."""

import argparse
import json
import logging
import zipfile

import numpy as np
import torch

from handobjectconsist.datasets import HO3DV2, HandObjectDataset
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.models import MeshRegNet
from handobjectconsist.training.checkpoints import save_training_checkpoint
from handobjectconsist.training.options import trainmeshreg_parser

# HO3D (MANO + tips) order from the project order, (argsort of the reading order;
# docs/differences-from-upstream.md, K7).
HO3D_FROM_PROJECT = np.argsort([0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20])
INPUT_WIDTH = 64


def _fresh_checkpoint(mano_root, exp_dir):
    """A freshly initialised tiny MeshRegNet saved like trainmeshreg.py saves its checkpoints."""
    args = trainmeshreg_parser().parse_args(
        f"--mano_root {mano_root} --encoder_arch tiny --input_width {INPUT_WIDTH} --train_datasets ho3dv2".split())
    opts = dict(vars(args))
    torch.manual_seed(0)
    model = MeshRegNet.from_options(opts)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    return save_training_checkpoint(exp_dir, 1, opts, model, optimizer, None, None, {}, 0), model


def test_submission_round_trip_matches_model_output(ho3d_tiny_root, mano_root, tmp_path):
    import evalho3dv2

    checkpoint, model = _fresh_checkpoint(mano_root, tmp_path / "run")
    out_dir = tmp_path / "sub"
    code = evalho3dv2.main(["--resume", str(checkpoint), "--val_split", "test", "--data_root", str(ho3d_tiny_root),
                            "--mano_root", str(mano_root), "--device", "cpu", "--workers", "0", "--batch_size", "2",
                            "--out_dir", str(out_dir), "--json_folder", str(tmp_path / "jsonres")])
    assert code == 0
    xyz, verts = json.loads((out_dir / "pred.json").read_text())
    listed = [line.strip() for line in (ho3d_tiny_root / "evaluation.txt").read_text().splitlines() if line.strip()]
    assert len(xyz) == len(verts) == len(listed)
    xyz, verts = np.asarray(xyz), np.asarray(verts)
    num_verts = model.mano_branch.mano_layer_right.num_verts
    assert xyz.shape == (len(listed), 21, 3) and verts.shape == (len(listed), num_verts, 3)
    with zipfile.ZipFile(out_dir / "pred.zip") as archive:
        assert archive.namelist() == ["pred.json"]
        assert archive.read("pred.json") == (out_dir / "pred.json").read_bytes()
    assert (tmp_path / "jsonres" / "test.json").read_bytes() == (out_dir / "pred.json").read_bytes()

    # Independent pass: the evaluation frames in evaluation.txt order, through the same weights.
    reader = HO3DV2(ho3d_tiny_root, split="test", split_mode="paper", input_width=INPUT_WIDTH, mano_root=mano_root)
    frames = HandObjectDataset(reader, mode="full", augment=False)
    assert [f"{frames[i]['seq_name']}/{frames[i]['frame_idx']:04d}" for i in range(len(frames))] == listed
    model.eval()
    with torch.no_grad():
        _, results, _ = model(collate_samples([frames[i] for i in range(len(frames))]))
    flip = np.array([1.0, -1.0, -1.0])  # OpenCV (y down, z forward) -> HO3D's OpenGL (y up, z backwards)
    expected_xyz = results["recov_joints3d"].double().numpy()[:, HO3D_FROM_PROJECT] * flip
    expected_verts = results["recov_handverts3d"].double().numpy() * flip
    np.testing.assert_allclose(xyz, expected_xyz, atol=1e-5 + 1e-6)
    np.testing.assert_allclose(verts, expected_verts, atol=1e-5 + 1e-6)
    assert (xyz[:, :, 2] < 0).all()  # in front of an OpenGL camera means negative z


def test_missing_checkpoint_is_an_error_naming_it(tmp_path, capsys):
    import evalho3dv2

    missing = tmp_path / "nothing" / "checkpoint.pth"
    assert evalho3dv2.main(["--resume", str(missing), "--val_split", "test", "--data_root", str(tmp_path)]) == 1
    assert str(missing) in capsys.readouterr().err


def test_original_flags_without_effect_print_one_line_each(tmp_path, caplog):
    import evalho3dv2

    argv = ["--resume", str(tmp_path / "missing.pth"), "--use_cache", "--epochs", "3", "--mode", "full",
            "--obj_trans_factor", "1"]
    with caplog.at_level(logging.WARNING):
        assert evalho3dv2.main(argv) == 1  # the checkpoint is missing; the warnings come first
    lines = [r.getMessage() for r in caplog.records if "has no effect" in r.getMessage()]
    assert [line.split()[0] for line in lines] == ["--epochs", "--obj_trans_factor", "--use_cache", "--mode"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        evalho3dv2.main(["--resume", str(tmp_path / "missing.pth")])
    assert not any("has no effect" in r.getMessage() for r in caplog.records)


def test_every_hidden_flag_has_a_reason():
    import evalho3dv2

    hidden = [a.dest for a in evalho3dv2.parser()._actions if a.help == argparse.SUPPRESS]
    assert len(hidden) == 16 and set(hidden) <= set(evalho3dv2.UNUSED_FLAGS)
