"""experiments/photometric_signal.py: the photometric loss is lowest at the GT query mesh and its gradient leads
back to it (the independent answer: the GT meshes were used to render the synthetic frames)."""

import numpy as np
import torch

from experiments import photometric_signal
from handobjectconsist.datasets import FPHAB, HandObjectDataset, collate_pairs
from handobjectconsist.mano import ManoLayer


def test_gt_query_mesh_minimises_the_loss_and_the_gradient_points_back(fphab_tiny_root, mano_root):
    reader = FPHAB(fphab_tiny_root, split="train", fraction=0.2, input_width=128, mano_root=mano_root)
    dataset = HandObjectDataset(reader, mode="full", sample_nb=2, spacing=0, augment=False)
    query, ref = collate_pairs(photometric_signal.draw_items(dataset, 8, seed=0))
    layer = ManoLayer(mano_root)
    rows = photometric_signal.measure_batch(query, ref, (layer.closed_faces, layer.wrist_face_ids), [15.0], "l1")
    floor = np.tile(np.asarray(rows["floor"]), 2)  # each offset is applied with both signs, + rows first
    for part in ("hand", "object"):
        loss, cosine = np.asarray(rows[f"{part}_x_15_loss"]), np.asarray(rows[f"{part}_x_15_cos"])
        assert loss.mean() > floor.mean() + 0.005, part
        assert (loss >= floor).mean() >= 0.75, part
        assert (cosine > 0).mean() >= 0.75, part


def test_table_lists_every_offset(tmp_path, fphab_tiny_root, mano_root):
    stem = tmp_path / "signal"
    assert photometric_signal.main(["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root),
                                    "--fraction", "0.2", "--pairs", "4", "--offsets_mm", "10", "30",
                                    "--out", str(stem)]) == 0
    table = (tmp_path / "signal.md").read_text()
    for part in ("hand", "object"):
        for axis in ("x", "z"):
            for size in ("10", "30"):
                assert f"| {part} along {axis} | {size} |" in table
    assert torch.is_grad_enabled()
