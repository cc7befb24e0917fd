"""MANO fitting to skeletons and the skeleton regressor, on hands with known parameters (synthetic MANO)."""

import numpy as np
import pytest
import torch

from handobjectconsist.datasets.fit_fphab import fit_all, skeleton_regressor
from handobjectconsist.mano import ManoLayer


def test_fit_recovers_joints_and_regressor_reproduces_them(mano_root):
    torch.manual_seed(0)
    layer = ManoLayer(mano_root, use_pca=False, flat_hand_mean=True, center_idx=None)
    batch = 4
    # Root rotations far from identity (the Procrustes init must handle them), moderate finger flexion.
    pose = torch.zeros(batch, 48)
    pose[:, :3] = torch.randn(batch, 3) * 1.5
    pose[:, 3:] = torch.randn(batch, 45) * 0.15
    shape = torch.randn(1, 10).expand(batch, -1).contiguous() * 0.8
    trans = torch.tensor([0.02, -0.01, 0.45]) + torch.randn(batch, 3) * 0.03
    with torch.no_grad():
        verts, joints = layer(pose, shape, trans)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: threading overhead dominates on the shared test machine
    try:
        result = fit_all(layer, joints, ["Subject_1"] * batch, batch_size=batch, iters=150, shape_mode="frame",
                         progress=False)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        fit_verts, fit_joints = layer(result["fullpose"], result["shape"], result["trans"])
    joint_err_mm = (fit_joints - joints).norm(dim=-1).mean().item() * 1000
    vert_err_mm = (fit_verts - verts).norm(dim=-1).mean().item() * 1000
    assert joint_err_mm < 5.0, joint_err_mm
    assert vert_err_mm < 10.0, vert_err_mm
    assert torch.allclose(result["joint_err"].mean(), torch.tensor(joint_err_mm / 1000), atol=1e-5)

    regressor = skeleton_regressor(verts.numpy(), joints.numpy(), layer.tip_vertex_ids)
    assert regressor.shape == (21, layer.num_verts)
    assert np.allclose(regressor.sum(1), 1.0, atol=1e-4)
    for row, vid in zip((4, 8, 12, 16, 20), layer.tip_vertex_ids):
        assert regressor[row, vid] == 1.0 and np.count_nonzero(regressor[row]) == 1
    regressed = np.einsum("jv,nvc->njc", regressor, verts.numpy())
    assert np.abs(regressed - joints.numpy()).max() < 1e-3


def test_cli_writes_fits_the_reader_loads(fphab_tiny_root, mano_root, tmp_path):
    import json
    import shutil

    from handobjectconsist.datasets.fit_fphab import main
    from handobjectconsist.datasets.fphab import FPHAB

    # A copy of the dataset without the shipped fits: the reader must point to the fit tool, then load our fits.
    root = tmp_path / "fphab"
    shutil.copytree(fphab_tiny_root, root, ignore=shutil.ignore_patterns("fhbhands_fits"))
    with pytest.raises(FileNotFoundError, match="fit_fphab"):
        FPHAB(root, split="all", mano_root=mano_root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["--data_root", str(root), "--mano_root", str(mano_root), "--iters", "40", "--threads", "1",
                     "--reference", str(fphab_tiny_root / "fhbhands_fits")]) == 0
    finally:
        torch.set_num_threads(threads)
    data = FPHAB(root, split="all", mano_root=mano_root)
    assert data.get_annotation(0)["hand_verts3d"].shape == (778, 3)
    report = json.loads((root / "fhbhands_fits" / "fit_report.json").read_text())
    assert report["frames"] == len(data) and report["joint_err_mean_mm"] < 20 and "vert_err_mean_mm" in report
    assert np.load(root / "fhbhands_fits" / "fhb_skel_regressor.npz")["regressor"].shape == (21, 778)
