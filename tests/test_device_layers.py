"""Every layer on the `device` fixture (CPU, and CUDA when present: `pytest -m cuda`), against the same computation
on the CPU. Only the inputs are moved to the device (tests/conftest.py), so a tensor made without device= inside the
code under test fails here on CUDA as it would for a user. render/ and consistency/ have their own device tests."""

import numpy as np
import pytest
import torch

from handobjectconsist.consistency.posefit import fit_rigid_motions, move_rigidly
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_pairs, collate_samples
from handobjectconsist.devices import move_to_device, to_host
from handobjectconsist.evaluation import HandObjectEvaluator
from handobjectconsist.mano import ManoLayer
from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.models.trained import LoadedModel
from handobjectconsist.models.warpreg import WarpRegNet
from handobjectconsist.predict.inference import FramePredictor
from handobjectconsist.training.epochpass import epoch_pass
from handobjectconsist.training.steps import ConsistencyStep, SingleFrameStep
from handobjectconsist.training.toy_data import ToyHandObjectDataset, ToyPairs
from handobjectconsist.visualize.posefit_gif import posefit_frames


@pytest.fixture(scope="module")
def toy(mano_root):
    return ToyHandObjectDataset(mano_root, size=4, image_size=(64, 36), seed=5)


def _model(mano_root, device):
    torch.manual_seed(0)
    return MeshRegNet(mano_root, encoder_arch="tiny").to(device).eval()


def _close(a, b, tol=1e-4):
    torch.testing.assert_close(a.detach().cpu().double(), b.detach().cpu().double(), rtol=tol, atol=tol)


def test_to_host_copies_every_tensor(device):
    tensors = {"a": torch.arange(6, device=device).view(2, 3), "b": torch.rand(4, device=device)}
    host = to_host(tensors)
    assert all(value.device.type == "cpu" for value in host.values())
    assert torch.equal(host["a"], torch.arange(6).view(2, 3)) and torch.equal(host["b"], tensors["b"].cpu())


def test_mano_layer(mano_root, device):
    torch.manual_seed(1)
    layer = ManoLayer(mano_root, use_pca=False)
    pose, shape = torch.randn(3, layer.pose_dim) * 0.3, torch.randn(3, 10)
    expected = layer(pose, shape)
    verts, joints = layer.to(device)(pose.to(device), shape.to(device))
    assert verts.device.type == device.type
    _close(verts, expected[0])
    _close(joints, expected[1])


def test_meshregnet_forward_and_backward(mano_root, toy, device):
    batch = collate_samples([toy[i] for i in range(2)])
    reference = _model(mano_root, "cpu")
    total_cpu, results_cpu, _ = reference(batch)
    total_cpu.backward()
    model = _model(mano_root, device)
    total, results, losses = model(move_to_device(batch, device))
    total.backward()
    _close(total, total_cpu)
    _close(results["recov_handverts3d"], results_cpu["recov_handverts3d"])
    grads = [(p.grad, q.grad) for p, q in zip(model.parameters(), reference.parameters()) if q.grad is not None]
    assert grads
    for grad, grad_cpu in grads:
        _close(grad, grad_cpu, tol=1e-3)


def _train_one_epoch(mano_root, toy, device, warp: bool):
    model = _model(mano_root, device)
    module = WarpRegNet(model, progressive_steps=0).to(device) if warp else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    frames = torch.utils.data.DataLoader(toy, batch_size=2, collate_fn=collate_samples, generator=generator)
    if warp:
        pairs = torch.utils.data.DataLoader(ToyPairs(toy), batch_size=2, collate_fn=collate_pairs)
        out = epoch_pass(list(zip(frames, pairs)), module, ConsistencyStep(), 1, device, optimizer=optimizer,
                         progress=False)
    else:
        out = epoch_pass(frames, module, SingleFrameStep(), 1, device, optimizer=optimizer, progress=False)
    return model, out


@pytest.mark.parametrize("warp", [False, True], ids=["trainmeshreg", "trainmeshwarp"])
def test_training_step(mano_root, toy, device, warp):
    model_cpu, out_cpu = _train_one_epoch(mano_root, toy, torch.device("cpu"), warp)
    model, out = _train_one_epoch(mano_root, toy, device, warp)
    for kind, record in out.items():
        assert record["losses"].keys() == out_cpu[kind]["losses"].keys()
        for name, value in record["losses"].items():
            assert value == pytest.approx(out_cpu[kind]["losses"][name], rel=1e-3, abs=1e-6), (kind, name)
    for p, q in zip(model.parameters(), model_cpu.parameters()):
        _close(p, q, tol=1e-3)


def test_evaluator(toy, mano_root, device):
    batch = collate_samples([toy[i] for i in range(3)])
    _, results, _ = _model(mano_root, "cpu")(batch)
    results = {key: value.detach() for key, value in results.items() if isinstance(value, torch.Tensor)}
    summaries = []
    for where in ("cpu", device):
        evaluator = HandObjectEvaluator()
        evaluator.feed(move_to_device(batch, where), move_to_device(results, where))
        summaries.append((evaluator.summary(), evaluator.records))
    assert summaries[0][0].keys() == summaries[1][0].keys() and summaries[0][0]
    for name, value in summaries[1][0].items():
        assert value == pytest.approx(summaries[0][0][name], rel=1e-9, abs=1e-9)
    assert [r["frame_idx"] for r in summaries[1][1]] == [r["frame_idx"] for r in summaries[0][1]]


def test_frame_predictor(mano_root, toy, device):
    frames = [np.random.default_rng(k).integers(0, 256, (36, 64, 3), dtype=np.uint8) for k in range(2)]
    intrinsics = np.asarray(toy[0][K.CAM_INTR], dtype=np.float64)
    outputs = []
    for where in ("cpu", device):
        loaded = LoadedModel(model=_model(mano_root, where), opts={}, epoch=0, path=None)
        predictor = FramePredictor(loaded, intrinsics, (64, 36), 64, None, "right", where)
        outputs.append(predictor(frames))
    np.testing.assert_allclose(outputs[1].hand_verts, outputs[0].hand_verts, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs[1].joints2d, outputs[0].joints2d, rtol=1e-4, atol=1e-3)


def test_posefit_frames(mano_root, device):
    """The pose-fit animation of the demo: its colours must be made on the device of the meshes."""
    layer = ManoLayer(mano_root, use_pca=False)
    hand = layer(torch.zeros(1, layer.pose_dim), torch.zeros(1, 10))[0][0] + torch.tensor([0.0, 0.0, 0.5])
    obj = hand[:8].clone() + torch.tensor([0.02, 0.0, 0.0])
    obj_faces = torch.tensor([[0, 1, 2], [3, 4, 5], [5, 6, 7]])
    height, width = 24, 32
    Ks = torch.tensor([[40.0, 0.0, 15.5], [0.0, 40.0, 11.5], [0.0, 0.0, 1.0]])
    torch.manual_seed(0)
    images = torch.rand(2, 3, height, width) - 0.5
    shifted = move_rigidly(hand, torch.zeros(3), torch.tensor([0.003, 0.0, 0.0]))
    args = [images[0], images[1], Ks, Ks, shifted, obj, hand, obj, layer.closed_faces, obj_faces]
    pictures = []
    for where in ("cpu", device):
        moved = [value.to(where) for value in args]
        states = fit_rigid_motions(*moved, steps=1)
        curves = {"loss": [s.loss for s in states]}
        frames = posefit_frames(states, moved[0], moved[1], moved[2], moved[3], moved[8], moved[9], moved[6],
                                moved[7], moved[6], moved[7], curves)
        pictures.append(np.stack(frames).astype(np.int16))
    assert pictures[0].shape == pictures[1].shape
    assert np.abs(pictures[0] - pictures[1]).mean() < 1.0  # 8-bit frames; the GPU may round a few pixels apart
