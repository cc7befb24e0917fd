"""The issue-7 diagnostics. photometric_signal: the photometric loss is lowest at the GT query mesh and its gradient
leads back to it (the independent answer: the GT meshes rendered the synthetic frames). overfit_consistency: Adam on
the photometric loss of fixed pairs lowers that loss through the whole network."""

import json

import numpy as np
import pytest
import torch

from experiments import overfit_consistency, photometric_at_prediction, photometric_signal
from handobjectconsist.datasets import FPHAB, HandObjectDataset, collate_pairs
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.mano import ManoLayer
from handobjectconsist.models import MeshRegNet
from handobjectconsist.training.checkpoints import save_training_checkpoint
from handobjectconsist.training.options import trainmeshreg_parser


def test_gt_query_mesh_minimises_the_loss_and_the_gradient_points_back(fphab_tiny_root, mano_root):
    reader = FPHAB(fphab_tiny_root, split="train", fraction=0.2, input_width=128, mano_root=mano_root)
    dataset = HandObjectDataset(reader, mode="full", sample_nb=2, spacing=0, augment=False)
    query, ref = collate_pairs(photometric_signal.draw_items(dataset, 8, seed=0))
    layer = ManoLayer(mano_root)
    rows = photometric_signal.measure_batch(query, ref, (layer.closed_faces, layer.wrist_face_ids), [15.0], "l1",
                                            finger_degrees=[20.0], mano_root=mano_root)
    floor = np.tile(np.asarray(rows["floor"]), 2)  # each offset is applied with both signs, + rows first
    for part in ("hand", "object"):
        loss, cosine = np.asarray(rows[f"{part}_x_15_loss"]), np.asarray(rows[f"{part}_x_15_cos"])
        assert loss.mean() > floor.mean() + 0.005, part
        assert (loss >= floor).mean() >= 0.75, part
        assert (cosine > 0).mean() >= 0.75, part
        assert np.allclose(rows[f"{part}_x_15_shift_mm"], 15.0 if part == "hand" else 0.0, atol=1e-3)
    # Bent fingers move the hand's vertices and cost photometric error too (weaker signal: assert the mean only).
    assert np.mean(rows["fingers_20_shift_mm"]) > 2.0
    assert np.mean(rows["fingers_20_loss"]) > floor.mean()


def test_table_lists_every_offset(tmp_path, fphab_tiny_root, mano_root):
    stem = tmp_path / "signal"
    assert photometric_signal.main(["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root),
                                    "--fraction", "0.2", "--pairs", "4", "--offsets_mm", "10", "30",
                                    "--out", str(stem)]) == 0
    table = (tmp_path / "signal.md").read_text()
    for part in ("hand", "object"):
        for axis in ("x", "z"):
            for size in ("10", "30"):
                assert f"| {part} along {axis} | {size} mm |" in table
    assert "| finger joints (random direction) | 5 deg |" in table
    assert torch.is_grad_enabled()


def test_overfitting_pairs_lowers_the_photometric_loss_through_the_network(tmp_path, fphab_tiny_root, mano_root):
    args = trainmeshreg_parser().parse_args(f"--mano_root {mano_root} --encoder_arch tiny --input_width 64".split())
    torch.manual_seed(0)
    model = MeshRegNet.from_options(vars(args))
    checkpoint = save_training_checkpoint(tmp_path / "run", 1, dict(vars(args)), model,
                                          torch.optim.Adam(model.parameters()), None, None, {}, 0)
    out = tmp_path / "trace.json"
    assert overfit_consistency.main(["--checkpoint", str(checkpoint), "--data_root", str(fphab_tiny_root),
                                     "--mano_root", str(mano_root), "--fraction", "0.2", "--pairs", "4",
                                     "--steps", "60", "--lr", "1e-3", "--out", str(out)]) == 0
    trace = json.loads(out.read_text())["trace"]
    assert (tmp_path / "trace.png").stat().st_size > 10_000
    assert [row["step"] for row in trace] == [0, 10, 20, 30, 40, 50, 60]
    assert trace[-1]["warp_loss"] < 0.8 * trace[0]["warp_loss"]
    for row in trace:
        assert all(np.isfinite(v) and v >= 0 for v in row.values())


def test_descent_effect_on_known_directions():
    gt = torch.rand(2, 5, 3)
    pred = gt + torch.tensor([0.01, -0.02, 0.005])
    toward = photometric_at_prediction.descent_effect(pred, gt, grad=pred - gt)  # -grad points at the truth
    away = photometric_at_prediction.descent_effect(pred, gt, grad=gt - pred)
    assert torch.allclose(toward["cosine"], torch.ones(2)) and (toward["slope"] < 0).all()
    assert torch.allclose(away["cosine"], -torch.ones(2)) and (away["slope"] > 0).all()
    # A step orthogonal to the error leaves it unchanged to first order; masked vertices do not count.
    sideways = torch.cross(pred - gt, torch.tensor([0.0, 0.0, 1.0]).expand(2, 5, 3), dim=-1)
    assert torch.allclose(photometric_at_prediction.descent_effect(pred, gt, sideways)["slope"], torch.zeros(2),
                          atol=1e-7)
    mask = torch.tensor([[True] * 3 + [False] * 2] * 2)
    noisy = (pred - gt).clone()
    noisy[:, 3:] = torch.randn(2, 2, 3)
    masked = photometric_at_prediction.descent_effect(pred, gt, noisy, mask)
    assert torch.allclose(masked["cosine"], torch.ones(2), atol=1e-6)


def test_at_prediction_table_and_truth_loss_independent_of_the_model(tmp_path, fphab_tiny_root, mano_root):
    args = trainmeshreg_parser().parse_args(f"--mano_root {mano_root} --encoder_arch tiny --input_width 128".split())
    per_model = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = MeshRegNet.from_options(vars(args))
        checkpoint = save_training_checkpoint(tmp_path / f"run{seed}", 1, dict(vars(args)), model,
                                              torch.optim.Adam(model.parameters()), None, None, {}, 0)
        stem = tmp_path / f"at{seed}"
        assert photometric_at_prediction.main(["--checkpoint", str(checkpoint), "--data_root", str(fphab_tiny_root),
                                               "--mano_root", str(mano_root), "--fraction", "0.2", "--pairs", "6",
                                               "--out", str(stem)]) == 0
        assert "| all pairs | 6 |" in (tmp_path / f"at{seed}.md").read_text()
        per_model.append(json.loads((tmp_path / f"at{seed}.json").read_text())["per_pair"])
    assert np.allclose(per_model[0]["loss_gt"], per_model[1]["loss_gt"])  # the truth does not depend on the model
    assert not np.allclose(per_model[0]["loss_pred"], per_model[1]["loss_pred"])
    assert all(d > 0 for d in per_model[0]["dist"])  # only unannotated queries
    for truth_only in ("hand_truth_to_ref_mm", "obj_truth_to_ref_mm"):
        assert np.allclose(per_model[0][truth_only], per_model[1][truth_only])
    assert not np.allclose(per_model[0]["hand_to_ref_mm"], per_model[1]["hand_to_ref_mm"])
    stem = tmp_path / "at_width"
    assert photometric_at_prediction.main(["--checkpoint", str(checkpoint), "--data_root", str(fphab_tiny_root),
                                           "--mano_root", str(mano_root), "--fraction", "0.2", "--pairs", "4",
                                           "--consist_width", "64", "--consist_max_gap", "2", "--augment",
                                           "--out", str(stem)]) == 0
    assert "augmented as in training" in stem.with_suffix(".md").read_text()
    at_width = json.loads(stem.with_suffix(".json").read_text())["per_pair"]
    assert all(0 < d <= 2 for d in at_width["dist"])


def test_loss_on_reference_pixels_of_a_flat_square_moved_sideways():
    """A square at constant depth moved sideways by dx has the uniform flow fx * dx / z; on a horizontal ramp image
    the L1 over the reference square's pixels rises by exactly that many ramp steps, whatever the query mesh."""
    height, width, fx, depth = 48, 64, 60.0, 0.5
    K_cam = torch.tensor([[[fx, 0.0, 32.0], [0.0, fx, 24.0], [0.0, 0.0, 1.0]]])
    half = 0.1
    square = torch.tensor([[[-half, -half, depth], [half, -half, depth], [half, half, depth], [-half, half, depth]]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    ramp = torch.arange(width, dtype=torch.float32).expand(1, 3, height, width) / width
    query = {K.IMAGE: ramp, K.CAM_INTR: K_cam}
    ref = {K.IMAGE: torch.zeros(1, 3, height, width), K.CAM_INTR: K_cam}
    at_rest = photometric_at_prediction.loss_on_reference_pixels(square, square, faces, query, ref, None, "l1", None)
    shift_px = 3.0
    moved = square + torch.tensor([shift_px * depth / fx, 0.0, 0.0])
    shifted = photometric_at_prediction.loss_on_reference_pixels(moved, square, faces, query, ref, None, "l1", None)
    columns = torch.arange(width, dtype=torch.float32)
    inside = (columns - 32.0).abs() <= fx * half / depth  # the square spans u = 32 +- 12 px
    assert torch.allclose(at_rest, (columns[inside] / width).mean().reshape(1), atol=2e-3)
    assert torch.allclose(shifted - at_rest, torch.tensor([shift_px / width]), atol=1e-4)


def test_weight_steps_start_from_the_same_weights_and_act_to_first_order(tmp_path, fphab_tiny_root, mano_root):
    """The errors are smooth in the weights: a step ten times longer along the same direction changes them ten times
    as much, which holds only if every step starts from the restored weights."""
    from experiments import photometric_network_step

    args = trainmeshreg_parser().parse_args(f"--mano_root {mano_root} --encoder_arch tiny --input_width 128".split())
    torch.manual_seed(0)
    model = MeshRegNet.from_options(vars(args))
    optimizer = torch.optim.Adam(model.parameters())
    for param in model.parameters():  # an Adam state whose second moments differ from weight to weight
        param.grad = torch.randn_like(param)
    optimizer.step()
    checkpoint = save_training_checkpoint(tmp_path / "run", 1, dict(vars(args)), model, optimizer, None, None, {}, 0)
    stem = tmp_path / "step"
    assert photometric_network_step.main(["--checkpoint", str(checkpoint), "--data_root", str(fphab_tiny_root),
                                          "--mano_root", str(mano_root), "--fraction", "0.2", "--pairs", "8",
                                          "--batch_size", "4", "--consist_params", "lateral", "--lrs", "1e-5", "1e-6",
                                          "--sgd_lrs", "1e-3", "1e-4", "--adam_lambdas", "1e-2", "1e-3",
                                          "--adam_lr", "1e-4",
                                          "--out", str(stem)]) == 0
    effects = json.loads(stem.with_suffix(".json").read_text())["per_pair"]["effects"]
    assert len(effects) == 12  # 2 batches x (2 sign + 2 sgd + 2 adam steps)
    assert all(np.isfinite(row["hand_mm_seen"]) for row in effects if row["step"] == "adam")
    for batch in (0, 1):
        for kind, long, short in (("sign", 1e-5, 1e-6), ("sgd", 1e-3, 1e-4)):
            rows = {row["lr"]: row for row in effects if row["batch"] == batch and row["step"] == kind}
            for name in ("hand_mm_seen", "hand_mm_unseen", "hand2d_px_seen"):
                assert abs(rows[short][name]) > 0
                assert rows[long][name] / rows[short][name] == pytest.approx(10.0, rel=0.1), (batch, kind, name)
    assert "| sgd | 0.001 | 2 |" in stem.with_suffix(".md").read_text()
    supervised = tmp_path / "supervised"
    assert photometric_network_step.main(["--checkpoint", str(checkpoint), "--data_root", str(fphab_tiny_root),
                                          "--mano_root", str(mano_root), "--fraction", "0.2", "--pairs", "8",
                                          "--batch_size", "4", "--loss", "supervised", "--lrs", "1e-5",
                                          "--sgd_lrs", "--adam_lambdas", "--out", str(supervised)]) == 0
    assert "One weight step on the supervised loss" in supervised.with_suffix(".md").read_text()
    other = json.loads(supervised.with_suffix(".json").read_text())["per_pair"]["effects"]
    photometric = [row for row in effects if row["step"] == "sign" and row["lr"] == 1e-5]
    assert [row["hand_mm_seen"] for row in other] != pytest.approx([row["hand_mm_seen"] for row in photometric])


def test_adam_update_is_what_adam_adds_for_the_gradient(tmp_path, mano_root):
    """Against torch.optim.Adam: from the checkpoint's state with the first moments zeroed, Adam's next step for a
    gradient G is (1 - beta1) / (1 - beta1^(t+1)) of adam_update (the first moment's share at that step)."""
    from experiments import photometric_network_step
    from handobjectconsist.models.trained import load_checkpoint

    args = trainmeshreg_parser().parse_args(f"--mano_root {mano_root} --encoder_arch tiny --input_width 128".split())
    torch.manual_seed(0)
    model = MeshRegNet.from_options(vars(args))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    for _ in range(3):
        for param in params:
            param.grad = torch.randn_like(param)
        optimizer.step()
    for param in params[::2]:  # weights no earlier gradient reached: the new gradient alone sets v'
        optimizer.state[param]["exp_avg_sq"].zero_()
    checkpoint = save_training_checkpoint(tmp_path / "run", 1, dict(vars(args)), model, optimizer, None, None, {}, 0)
    state = photometric_network_step.read_adam_state(load_checkpoint(checkpoint), params)
    grads = [torch.randn_like(p) for p in params]
    updates = photometric_network_step.adam_update(state, grads, weight=0.5, lr=1e-3)
    before = [p.detach().clone() for p in params]
    for param, grad in zip(params, grads):
        optimizer.state[param]["exp_avg"].zero_()
        param.grad = 0.5 * grad
    optimizer.step()
    share = (1 - 0.9) / (1 - 0.9 ** 4)
    for param, start, update in zip(params, before, updates):
        assert torch.allclose(start - param.detach(), share * update, rtol=1e-2, atol=1e-7)  # float32 differences
