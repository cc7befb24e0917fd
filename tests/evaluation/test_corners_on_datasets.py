"""Object corners end to end on the synthetic sets: HO3D batches carry them to the metrics and the sample figure,
FPHAB batches (no corners) go through the same model, evaluator and figure without them."""

import numpy as np
import pytest
import torch
from PIL import Image

from handobjectconsist.datasets import FPHAB, HO3DV2, HandObjectDataset
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.evaluation.evaluator import HandObjectEvaluator
from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.training.samplefig import save_sample_figure
from libyana.boxes import BOX_EDGES
from libyana.transforms2d import apply_affine_2d

CORNER_KEYS = (K.OBJ_CORNERS3D, K.OBJ_CORNERS2D, K.OBJ_CAN_CORNERS)


def _batch(reader, augment: bool):
    torch.manual_seed(0)
    dataset = HandObjectDataset(reader, mode="full", augment=augment, center_jittering=0.2)
    return collate_samples([dataset[i] for i in range(3)])


def _model(mano_root, **kwargs):
    torch.manual_seed(0)
    return MeshRegNet(mano_root, encoder_arch="tiny", **kwargs).eval()


def test_fphab_batches_without_corners_still_work(fphab_tiny_root, mano_root, tmp_path):
    batch = _batch(FPHAB(fphab_tiny_root, split="train", input_width=64, mano_root=mano_root), augment=True)
    assert not set(CORNER_KEYS) & set(batch)
    with torch.no_grad():
        _, results, _ = _model(mano_root, dataset_skeleton=True)(batch)
    assert "recov_objverts3d" in results and "recov_objcorners3d" not in results
    evaluator = HandObjectEvaluator()
    evaluator.feed(batch, results)
    summary = evaluator.summary()
    assert np.isfinite(summary["objverts2d_mepe_px"])
    assert not [name for name in summary if name.startswith("corners")]
    path = save_sample_figure(batch, results, tmp_path / "fphab.png")
    assert np.asarray(Image.open(path)).std() > 0


@pytest.fixture(scope="module")
def ho3d_batch(ho3d_tiny_root, mano_root):
    reader = HO3DV2(ho3d_tiny_root, split="train", split_mode="paper", input_width=64, mano_root=mano_root)
    return _batch(reader, augment=True)


def test_synthetic_ho3d_corners_are_the_box_of_the_model(ho3d_batch):
    can_corners, can_verts = ho3d_batch[K.OBJ_CAN_CORNERS].double(), ho3d_batch[K.OBJ_CAN_VERTS].double()
    mask = ho3d_batch[K.OBJ_VERTS_MASK]
    for b in range(can_corners.shape[0]):
        real = can_verts[b][mask[b]]
        torch.testing.assert_close(can_corners[b].min(0).values, real.min(0).values, atol=2e-6, rtol=0)
        torch.testing.assert_close(can_corners[b].max(0).values, real.max(0).values, atol=2e-6, rtol=0)
        for a, c in BOX_EDGES:  # the generator's corner order: every edge runs along one model axis
            assert int(((can_corners[b, a] - can_corners[b, c]).abs() > 1e-6).sum()) == 1


def test_ho3d_corner_metrics_are_zero_at_the_truth_and_follow_an_offset(ho3d_batch, mano_root, tmp_path):
    with torch.no_grad():
        _, results, _ = _model(mano_root)(ho3d_batch)
    assert results["recov_objcorners3d"].shape == (3, 8, 3) and results["obj_corners2d"].shape == (3, 8, 2)
    evaluator = HandObjectEvaluator()
    evaluator.feed(ho3d_batch, results)
    summary = evaluator.summary()
    assert np.isfinite(summary["corners3d_mepe_mm"]) and np.isfinite(summary["corners2d_mepe_px"])

    # The ground truth as a prediction: 2D in input pixels through the (jittered) AFFINE.
    affine = ho3d_batch[K.AFFINE]
    assert not torch.allclose(affine, torch.eye(3).expand_as(affine))  # the jitter moved the frames
    truth = {"recov_objcorners3d": ho3d_batch[K.OBJ_CORNERS3D] + torch.tensor([0.004, 0.0, -0.003]),
             "obj_corners2d": apply_affine_2d(ho3d_batch[K.OBJ_CORNERS2D], affine)}
    evaluator = HandObjectEvaluator()
    evaluator.feed(ho3d_batch, truth)
    summary = evaluator.summary()
    assert summary["corners3d_mepe_mm"] == pytest.approx(5.0, abs=1e-3)
    assert summary["corners2d_mepe_px"] == pytest.approx(0.0, abs=1e-3)
    # Frames stored 64 wide, errors reported in 640x480 pixels: a 1 stored-pixel shift is 10 reference pixels.
    np.testing.assert_allclose(ho3d_batch[K.REPORT_SCALE].numpy(), 10.0, rtol=1e-6)
    truth["obj_corners2d"] = apply_affine_2d(ho3d_batch[K.OBJ_CORNERS2D] + torch.tensor([1.0, 0.0]), affine)
    evaluator = HandObjectEvaluator()
    evaluator.feed(ho3d_batch, truth)
    assert evaluator.summary()["corners2d_mepe_px"] == pytest.approx(10.0, abs=1e-3)

    with_box = save_sample_figure(ho3d_batch, results, tmp_path / "ho3d.png")
    no_box = save_sample_figure({k: v for k, v in ho3d_batch.items() if k != K.OBJ_CORNERS2D},
                                {k: v for k, v in results.items() if k != "obj_corners2d"}, tmp_path / "plain.png")
    a, b = np.asarray(Image.open(with_box), dtype=np.int64), np.asarray(Image.open(no_box), dtype=np.int64)
    assert a.shape == b.shape and np.abs(a - b).sum() > 0  # the boxes were drawn
