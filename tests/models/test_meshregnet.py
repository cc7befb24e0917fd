import pytest
import torch

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.models.meshregnet import LOSS_LAMBDA_DEFAULTS, MeshRegNet
from handobjectconsist.training.toy_data import ToyHandObjectDataset
from libyana.camutils import project_points


@pytest.fixture(scope="module")
def toy_batch(mano_root):
    dataset = ToyHandObjectDataset(mano_root, size=3, image_size=(64, 36), seed=3, vary_obj_verts=True)
    return collate_samples([dataset[i] for i in range(3)])


@pytest.fixture(scope="module")
def model(mano_root):
    torch.manual_seed(0)
    return MeshRegNet(mano_root).eval()


def test_results_have_upstream_keys_and_shapes(model, toy_batch):
    _, results, _ = model(toy_batch)
    for key in ("verts3d", "joints3d", "shape", "pose", "joints2d", "recov_joints3d", "recov_handverts3d", "verts2d",
                "hand_pretrans", "hand_prescale", "hand_trans", "hand_scale", "obj_verts2d", "obj_verts3d",
                "recov_objverts3d", "obj_scale", "obj_prescale", "obj_prerot", "obj_trans", "obj_pretrans"):
        assert key in results, key
    assert results["pose"].shape == (3, 18)  # 3 root + 15 PCA coefficients
    assert results["joints3d"].shape == (3, 21, 3)
    # Root-centred on joint 9; camera-space joints are the centred ones plus the recovered centre.
    assert torch.allclose(results["joints3d"][:, 9], torch.zeros(3, 3), atol=1e-6)
    offset = results["recov_joints3d"] - results["joints3d"]
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-6)


def test_total_is_weighted_sum_of_logged_terms(mano_root, toy_batch):
    lambdas = {name: 0.0 for name in LOSS_LAMBDA_DEFAULTS}
    lambdas.update(mano_lambda_recov_joints3d=0.3, obj_lambda_recov_verts3d=0.7, mano_lambda_joints2d=2.0,
                   mano_lambda_shape=1e-2)
    net = MeshRegNet(mano_root, **lambdas).eval()
    total, _, losses = net(toy_batch)
    expected = (0.3 * losses["recov_joint3d"] + 0.7 * losses["recov_objverts3d"] + 2.0 * losses["joints2d"]
                + 1e-2 * losses["mano_shape"])
    assert torch.allclose(total, expected)
    assert losses["mano_verts3d"] is not None  # zero-weighted terms are still logged


def test_joints2d_loss_uses_affine_consistently_with_input_intrinsics(model, toy_batch):
    # GT 2D joints are in original pixels; mapped through AFFINE they must equal the projection of the GT 3D joints
    # with the input intrinsics, so the loss equals the MSE against that independent projection.
    _, results, losses = model(toy_batch)
    gt_input = project_points(toy_batch[K.JOINTS3D], toy_batch[K.CAM_INTR])
    expected = torch.nn.functional.mse_loss(results["joints2d"] / 512, gt_input / 512)
    assert torch.allclose(losses["joints2d"], expected, rtol=1e-4)


def test_object_losses_ignore_padding(model, toy_batch):
    _, _, losses = model(toy_batch)
    padded = dict(toy_batch)
    extra = 7
    for key in (K.OBJ_VERTS3D, K.OBJ_CAN_VERTS, K.OBJ_VERTS2D):
        value = toy_batch[key]
        garbage = torch.full((value.shape[0], extra, value.shape[2]), 5.0)
        padded[key] = torch.cat([value, garbage], dim=1)
    padded[K.OBJ_VERTS_MASK] = torch.cat([toy_batch[K.OBJ_VERTS_MASK], torch.zeros(3, extra, dtype=torch.bool)], 1)
    _, _, padded_losses = model(padded)
    for name in ("recov_objverts3d", "objverts3d", "objverts2d"):
        assert torch.allclose(losses[name], padded_losses[name], rtol=1e-5), name


def test_fhb_skeleton_joints_are_regressed_and_recentred(mano_root, toy_batch):
    torch.manual_seed(0)
    net = MeshRegNet(mano_root, dataset_skeleton=True).eval()
    _, results, _ = net(toy_batch)
    regressed = torch.einsum("jv,bvc->bjc", net.adaptor.J_regressor, results["verts3d"])
    assert torch.allclose(regressed, results["joints3d"], atol=1e-6)  # recentring is a common shift of both
    assert torch.allclose(results["joints3d"][:, 9], torch.zeros(3, 3), atol=1e-6)


def test_left_samples_use_the_left_layer(model, toy_batch):
    batch = dict(toy_batch)
    batch[K.SIDE] = ["right", "left", "right"]
    _, results, _ = model(batch)
    _, results_right, _ = model(toy_batch)
    assert torch.allclose(results["verts3d"][0], results_right["verts3d"][0])
    assert not torch.allclose(results["verts3d"][1], results_right["verts3d"][1])
    mirrored_x = results["verts3d"][1, :, 0]  # the left hand is a mirror image: x of the mean flips sign
    assert torch.sign(mirrored_x.mean()) != torch.sign(results_right["verts3d"][1, :, 0].mean())


def test_a_few_steps_reduce_the_loss(mano_root, toy_batch):
    torch.manual_seed(0)
    net = MeshRegNet(mano_root).eval()  # BN in eval mode, as upstream trains
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        total, _, _ = net(toy_batch)
        first = total.item() if first is None else first
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert total.item() < 0.5 * first


def test_amp_runs_only_the_encoder_in_bfloat16(mano_root, toy_batch):
    """--amp: autocast (here CPU bfloat16, the path CUDA takes with its own autocast) covers the encoder only; the
    heads, MANO, geometry and losses stay float32, and the result stays close to float32."""
    torch.manual_seed(0)
    model = MeshRegNet(mano_root).eval()
    total_fp32, results_fp32, _ = model(toy_batch)
    seen = {}
    model.base_net.layer4.register_forward_hook(lambda module, args, out: seen.update(encoder=out.dtype))
    model.scaletrans_branch.register_forward_hook(lambda module, args, out: seen.update(head=out.dtype))
    model.set_encoder_precision(torch.bfloat16, channels_last=True)
    total, results, losses = model(toy_batch)
    assert seen == {"encoder": torch.bfloat16, "head": torch.float32}
    assert total.dtype == torch.float32
    floats = [v for v in results.values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert all(v.dtype == torch.float32 for v in floats)
    assert all(v.dtype == torch.float32 for v in losses.values() if isinstance(v, torch.Tensor))
    assert model.base_net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    total.backward()
    assert model.base_net.conv1.weight.grad.dtype == torch.float32
    assert total.item() == pytest.approx(total_fp32.item(), rel=0.05)
    assert (results["recov_joints3d"] - results_fp32["recov_joints3d"]).abs().max() < 0.02  # metres


def test_channels_last_alone_gives_the_float32_result(mano_root, toy_batch):
    torch.manual_seed(0)
    model = MeshRegNet(mano_root).eval()
    total, results, _ = model(toy_batch)
    model.set_encoder_precision(None, channels_last=True)
    total_cl, results_cl, _ = model(toy_batch)
    torch.testing.assert_close(results_cl["recov_joints3d"], results["recov_joints3d"], rtol=1e-4, atol=1e-5)
