"""WarpRegNet: gradient path, self pairs, loss weighting/ramp, and a closed loop on a rendered hand+object pair."""

import pytest
import torch
import trimesh

from handobjectconsist.consistency import mesh_pair_flow, pair_photometric_loss
from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.mano import ManoLayer
from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.models.warpreg import WarpRegNet, hand_object_mesh, pair_warp_loss
from handobjectconsist.render import rasterize, shade_mesh, textures
from handobjectconsist.training.toy_data import ToyHandObjectDataset
from libyana.camutils import project_points
from libyana.rotations import axis_angle_to_matrix


# --------------------------------------------------------------------------------------------- network fixtures
@pytest.fixture(scope="module")
def model(mano_root):
    torch.manual_seed(0)
    return MeshRegNet(mano_root).eval()


def _clone_batch(batch):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else list(v) if isinstance(v, list) else v)
            for k, v in batch.items()}


@pytest.fixture(scope="module")
def toy_query(mano_root):
    dataset = ToyHandObjectDataset(mano_root, size=2, image_size=(64, 48), seed=5)
    return collate_samples([dataset[i] for i in range(2)])


def _reference_near_prediction(model, query, shift=(0.004, -0.003, 0.0)):
    """A reference frame whose 'GT' meshes are the network's query prediction shifted by a few mm, so the rendered
    flow is small and valid; its image is the query image shifted by one pixel."""
    with torch.no_grad():
        _, results, _ = model(query)
    ref = _clone_batch(query)
    offset = torch.tensor(shift)
    ref[SK.HAND_VERTS3D] = results["recov_handverts3d"] + offset
    ref[SK.OBJ_VERTS3D] = results["recov_objverts3d"] + offset
    ref[SK.IMAGE] = torch.roll(query[SK.IMAGE], shifts=1, dims=3)
    ref[SK.DIST2QUERY] = torch.ones(query[SK.IMAGE].shape[0], dtype=torch.long)
    return ref


# --------------------------------------------------------------------------------------------- gradient path
@pytest.mark.parametrize("gt_refs", [True, False])
def test_gradient_reaches_only_the_query_frame(model, toy_query, gt_refs):
    warp = WarpRegNet(model, lambda_data=1.0, lambda_consist=1.0, gt_refs=gt_refs, progressive_steps=0)
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query)
    gt_before = {key: ref[key].clone() for key in (SK.HAND_VERTS3D, SK.OBJ_VERTS3D, SK.JOINTS3D)}
    query[SK.IMAGE] = query[SK.IMAGE].clone().requires_grad_()
    ref[SK.IMAGE] = ref[SK.IMAGE].clone().requires_grad_()
    ref[SK.HAND_VERTS3D] = ref[SK.HAND_VERTS3D].clone().requires_grad_()
    ref[SK.OBJ_VERTS3D] = ref[SK.OBJ_VERTS3D].clone().requires_grad_()
    model.zero_grad(set_to_none=True)
    loss, _, losses, extras = warp([query, ref])
    assert extras["pairs"][0]["mask_fwd"].sum() > 20, "precondition: the flow must cover pixels"
    assert losses["warp_loss"] > 0
    loss.backward()
    assert ref[SK.IMAGE].grad is None or not ref[SK.IMAGE].grad.any()
    assert ref[SK.HAND_VERTS3D].grad is None and ref[SK.OBJ_VERTS3D].grad is None
    assert query[SK.IMAGE].grad is not None and query[SK.IMAGE].grad.abs().sum() > 0  # through the network only
    for key, value in gt_before.items():
        assert torch.equal(ref[key].detach(), value), f"{key} was modified"
    assert model.base_net is not None and any(p.grad is not None and p.grad.abs().sum() > 0
                                              for p in model.scaletrans_branch_obj.parameters())


def test_warp_gradient_moves_only_query_predictions(model, toy_query):
    # The warp term alone (no priors): its gradient w.r.t. the network equals the gradient obtained by pushing
    # the warp loss's gradient w.r.t. the query's predicted vertices back through the network (chain rule), i.e. the
    # network receives gradient only via the query prediction.
    warp = WarpRegNet(model, lambda_data=1.0, lambda_consist=1.0, gt_refs=True, progressive_steps=0)  # lambda_d = 0
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query)
    model.zero_grad(set_to_none=True)
    loss, _, _, _ = warp([query, ref])
    loss.backward()
    direct = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]

    model.zero_grad(set_to_none=True)
    _, results, _ = model(query)
    hand = results["recov_handverts3d"].detach().requires_grad_()
    obj = results["recov_objverts3d"].detach().requires_grad_()
    verts_q, faces = hand_object_mesh(hand, warp.hand_faces, obj, query[SK.OBJ_FACES], query.get(SK.OBJ_VERTS_MASK),
                                      query.get(SK.OBJ_FACES_MASK))
    verts_r, _ = hand_object_mesh(ref[SK.HAND_VERTS3D], warp.hand_faces, ref[SK.OBJ_VERTS3D], query[SK.OBJ_FACES],
                                  ref.get(SK.OBJ_VERTS_MASK))
    pair_loss, _ = pair_warp_loss(verts_q, verts_r, faces, query, ref, warp.wrist_face_ids)
    pair_loss.mean().backward()
    torch.autograd.backward([results["recov_handverts3d"], results["recov_objverts3d"]], [hand.grad, obj.grad])
    chained = [p.grad if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]
    assert any(d.abs().sum() > 0 for d in direct)
    for d, c in zip(direct, chained):
        assert (d - c).norm() <= 1e-4 * d.norm() + 1e-10


# --------------------------------------------------------------------------------------------- self pairs
def test_frame_paired_with_itself_gives_zero_warp_loss(model, toy_query):
    # The network's prediction differs from the GT mesh, so the flow is not zero; the self pair must still count 0.
    warp = WarpRegNet(model, lambda_data=1.0, lambda_consist=1.0, gt_refs=True, progressive_steps=0)  # lambda_d = 0
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query)
    ref[SK.IMAGE] = query[SK.IMAGE].clone()
    ref[SK.DIST2QUERY] = torch.tensor([0, 1])  # sample 0 is a self pair, sample 1 a real pair
    _, _, losses, extras = warp([query, ref])
    pair = extras["pairs"][0]
    assert pair["mask_fwd"][0].sum() > 0  # the flow is valid there, yet ...
    assert pair["loss_fwd"][0] > 0  # ... the raw photometric term is not zero (shifted mesh, same image)
    assert losses["warp_loss"] == pytest.approx(pair["loss_fwd"][1].item() / 2)  # 0 for sample 0, batch mean

    model.zero_grad(set_to_none=True)
    ref[SK.DIST2QUERY] = torch.tensor([0, 0])
    loss, _, losses, _ = warp([query, ref])
    assert losses["warp_loss"].item() == 0.0
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_identical_meshes_and_images_give_exactly_zero(toy_query, mano_root):
    layer = ManoLayer(mano_root)
    verts = toy_query[SK.HAND_VERTS3D]
    faces = layer.closed_faces
    frame = {SK.IMAGE: toy_query[SK.IMAGE], SK.CAM_INTR: toy_query[SK.CAM_INTR]}
    loss, out = pair_warp_loss(verts, verts.clone(), faces, frame, dict(frame), layer.wrist_face_ids)
    assert out["mask_fwd"].sum() > 0
    assert torch.equal(loss, torch.zeros_like(loss))


# --------------------------------------------------------------------------------------------- weights and ramp
def test_loss_weights_follow_the_progressive_ramp(model, toy_query):
    warp = WarpRegNet(model, lambda_data=0.999, lambda_consist=0.001, gt_refs=True, progressive_steps=4)
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query)
    seen = []
    with torch.no_grad():
        for _ in range(6):
            _, _, losses, _ = warp([query, ref])
            seen.append((losses["lambda_data"], losses["lambda_consist"]))
            expected = losses["lambda_data"] * losses["mano_reg_loss"] + losses["lambda_consist"] * losses["warp_loss"]
            assert losses["warp_consist"].item() == pytest.approx(expected.item(), rel=1e-5)
        total, _, data_losses, _ = warp(query)  # data batch: lambda_d * supervised total, ramp unchanged
    lambda_c = [0.0, 0.00025, 0.0005, 0.00075, 0.001, 0.001]
    assert [c for _, c in seen] == pytest.approx(lambda_c)
    assert [d for d, _ in seen] == pytest.approx([0.999 - c for c in lambda_c])
    assert data_losses["reg_loss"].item() == pytest.approx((0.998 * data_losses["total_loss"]).item(), rel=1e-6)
    assert int(warp.consist_step) == 6


def test_ramp_counter_is_saved_and_restored(model, toy_query):
    warp = WarpRegNet(model, progressive_steps=10)
    warp.consist_step.fill_(7)
    state = warp.state_dict()
    assert int(state["consist_step"]) == 7
    fresh = WarpRegNet(model, progressive_steps=10)
    fresh.load_state_dict(state)
    assert fresh.loss_weights() == pytest.approx((0.999 - 0.0007, 0.0007))


def test_control_run_weights(model):
    warp = WarpRegNet(model, lambda_data=1.0, lambda_consist=0.0)
    warp.consist_step.fill_(500)
    assert warp.loss_weights() == (1.0, 0.0)


# --------------------------------------------------------------------------------------------- padding
def test_padded_object_faces_are_not_rendered(mano_root):
    layer = ManoLayer(mano_root)
    hand = torch.zeros(1, layer.num_verts, 3) + torch.tensor([0.0, 0.0, -1.0])  # behind the camera: invisible
    box = trimesh.creation.box(extents=(0.05, 0.05, 0.05))
    obj = torch.tensor(box.vertices, dtype=torch.float32).unsqueeze(0) + torch.tensor([0.0, 0.0, 0.3])
    faces = torch.tensor(box.faces, dtype=torch.long)
    # Pad with a spurious face between real and padded vertices that would cover the whole image if rendered.
    pad_verts = torch.tensor([[[-5.0, -5.0, 0.5], [5.0, -5.0, 0.5]]])
    obj_padded = torch.cat([obj, pad_verts], 1)
    faces_padded = torch.cat([faces, torch.tensor([[0, 8, 9]])]).unsqueeze(0)
    verts_mask = torch.tensor([[True] * 8 + [False] * 2])
    faces_mask = torch.tensor([[True] * len(faces) + [False]])
    K = torch.tensor([[[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]]])
    verts_all, faces_all = hand_object_mesh(hand, layer.closed_faces, obj_padded, faces_padded, verts_mask, faces_mask)
    covered = rasterize(verts_all, faces_all, K, (48, 64)).mask
    expected = rasterize(obj, faces, K, (48, 64)).mask
    assert torch.equal(covered, expected)
    assert torch.isfinite(project_points(verts_all, K)).all()


# --------------------------------------------------------------------------------------------- closed loop
H, W = 72, 96


def _scene(layer, obj_can, pose, trans, obj_rot, obj_trans):
    hand, _ = layer(pose, None, trans)
    obj = obj_can.unsqueeze(0) @ axis_angle_to_matrix(obj_rot).transpose(1, 2) + obj_trans.unsqueeze(1)
    return hand, obj


def test_photometric_loss_alone_recovers_query_hand_and_object(mano_root):
    """Render a textured hand + object in a reference and a query frame; start the query's parameters from a
    perturbed pose and minimise the warp loss alone (reference = GT mesh, as with --consist_gt_refs). Both the 2D
    reprojection error and the 3D vertex error of hand and object must drop: the flow, warp and gradient sign
    conventions close the loop. Depths (z of the translations) are held at GT: one image pair hardly constrains
    them and they are not what this test is about."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    layer = ManoLayer(mano_root, side="right", use_pca=False, flat_hand_mean=True)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    obj_can = torch.tensor(sphere.vertices, dtype=torch.float32) * torch.tensor([0.03, 0.05, 0.03])
    obj_faces = torch.tensor(sphere.faces, dtype=torch.long)
    K = torch.tensor([[[110.0, 0, (W - 1) / 2], [0, 110.0, (H - 1) / 2], [0, 0, 1]]])

    pose_r = torch.cat([torch.tensor([[1.5, 0.0, 0.3]]), 0.15 * torch.randn(1, 45, generator=gen)], 1)
    trans_r, rot_r, otrans_r = torch.tensor([[-0.02, -0.01, 0.35]]), torch.tensor([[0.3, 0.2, 0.1]]), \
        torch.tensor([[0.05, 0.02, 0.37]])
    pose_q = pose_r + torch.cat([torch.tensor([[0.05, -0.05, 0.03]]), 0.05 * torch.randn(1, 45, generator=gen)], 1)
    trans_q, rot_q = trans_r + torch.tensor([[0.01, -0.005, 0.0]]), rot_r + torch.tensor([[0.0, 0.1, 0.0]])
    otrans_q = otrans_r + torch.tensor([[-0.008, 0.006, 0.0]])

    rest_hand, _ = layer(torch.zeros(1, 48), None, torch.zeros(1, 3))
    colors = torch.cat([textures.smooth_noise(rest_hand, scale=0.04, seed=1, amplitude=0.4),
                        textures.smooth_noise(obj_can.unsqueeze(0), scale=0.04, seed=2, base_color=(0.3, 0.5, 0.8),
                                              amplitude=0.4)], 1)
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    background = (0.5 + 0.3 * torch.stack([torch.sin(cols / 5.0), torch.cos(rows / 7.0),
                                           torch.sin((cols + rows) / 9.0)])).unsqueeze(0)

    def image(hand, obj):
        verts, faces = hand_object_mesh(hand, layer.closed_faces, obj, obj_faces)
        return shade_mesh(verts, faces, K, (H, W), colors, background=background, ambient=1.0, diffuse=0.0)["rgb"] - 0.5

    with torch.no_grad():
        hand_r, obj_r = _scene(layer, obj_can, pose_r, trans_r, rot_r, otrans_r)
        hand_q, obj_q = _scene(layer, obj_can, pose_q, trans_q, rot_q, otrans_q)
        ref = {SK.IMAGE: image(hand_r, obj_r), SK.CAM_INTR: K, SK.DIST2QUERY: torch.tensor([1])}
        query = {SK.IMAGE: image(hand_q, obj_q), SK.CAM_INTR: K}
    verts_ref, faces = hand_object_mesh(hand_r, layer.closed_faces, obj_r, obj_faces)

    root = (pose_q[:, :3] + torch.tensor([[0.08, 0.06, -0.05]])).requires_grad_()
    fingers = pose_q[:, 3:].clone().requires_grad_()
    hand_xy = (trans_q[:, :2] + torch.tensor([[0.012, 0.01]])).requires_grad_()
    obj_rot = (rot_q + torch.tensor([[0.1, -0.1, 0.05]])).requires_grad_()
    obj_xy = (otrans_q[:, :2] + torch.tensor([[0.01, -0.01]])).requires_grad_()
    optimizer = torch.optim.Adam([{"params": [hand_xy, obj_xy], "lr": 1e-3}, {"params": [root, obj_rot], "lr": 1e-2},
                                  {"params": [fingers], "lr": 2e-3}])

    def current():
        return _scene(layer, obj_can, torch.cat([root, fingers], 1), torch.cat([hand_xy, trans_q[:, 2:]], 1),
                      obj_rot, torch.cat([obj_xy, otrans_q[:, 2:]], 1))

    def errors():
        with torch.no_grad():
            hand, obj = current()
            err3d = [(hand - hand_q).norm(dim=-1).mean(), (obj - obj_q).norm(dim=-1).mean()]
            err2d = [(project_points(a, K) - project_points(b, K)).norm(dim=-1).mean()
                     for a, b in ((hand, hand_q), (obj, obj_q))]
        return [float(e) for e in err3d + err2d]

    start = errors()
    for _ in range(25):
        hand, obj = current()
        verts_q, _ = hand_object_mesh(hand, layer.closed_faces, obj, obj_faces)
        loss, _ = pair_warp_loss(verts_q, verts_ref, faces, query, ref, layer.wrist_face_ids)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    end = errors()
    hand3d, obj3d, hand2d, obj2d = (e / s for e, s in zip(end, start))
    assert hand3d < 0.8 and obj3d < 0.6, (start, end)
    assert hand2d < 0.5 and obj2d < 0.5, (start, end)


# --------------------------------------------------------------------------------------------- loss resolution
def _upstream_pair_loss(verts_query, verts_ref, faces, query, ref, ignore_face_ids):
    """The photometric pair loss as computed before --consist_width / --consist_scales existed (commit 9d2bcba):
    the network inputs, one flow at their size, self pairs zeroed."""
    image_query, image_ref = query[SK.IMAGE].detach(), ref[SK.IMAGE].detach()
    flow = mesh_pair_flow(verts_query, verts_ref.detach(), faces, query[SK.CAM_INTR], ref[SK.CAM_INTR],
                          tuple(image_ref.shape[2:]), ignore_face_ids=ignore_face_ids)
    loss, _ = pair_photometric_loss(image_query, image_ref, query.get(SK.JITTER_MASK), ref.get(SK.JITTER_MASK), flow)
    self_pair = ref[SK.DIST2QUERY] == 0
    return torch.where(self_pair, torch.zeros_like(loss), loss)


def _network_gradients(model):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def test_default_loss_and_gradients_are_the_upstream_ones_bit_for_bit(model, toy_query):
    query = _clone_batch(toy_query)
    query[SK.JITTER_MASK] = torch.ones_like(query[SK.JITTER_MASK])
    query[SK.JITTER_MASK][:, :, :, :3] = 0  # some padding in the query
    ref = _reference_near_prediction(model, query)
    warp = WarpRegNet(model, lambda_data=1.0, lambda_consist=1.0, gt_refs=True, progressive_steps=0)  # lambda_d = 0
    model.zero_grad(set_to_none=True)
    loss, _, losses, _ = warp([query, ref])
    loss.backward()
    default_grads = _network_gradients(model)

    model.zero_grad(set_to_none=True)
    _, results, model_losses = model(query)
    verts_q, faces = hand_object_mesh(results["recov_handverts3d"], warp.hand_faces, results["recov_objverts3d"],
                                      query[SK.OBJ_FACES], query.get(SK.OBJ_VERTS_MASK), query.get(SK.OBJ_FACES_MASK))
    verts_r, _ = hand_object_mesh(ref[SK.HAND_VERTS3D], warp.hand_faces, ref[SK.OBJ_VERTS3D], query[SK.OBJ_FACES],
                                  ref.get(SK.OBJ_VERTS_MASK))
    warp_loss = _upstream_pair_loss(verts_q, verts_r, faces, query, ref, warp.wrist_face_ids).mean()
    (0.0 * model_losses["mano_reg_loss"] + 1.0 * warp_loss).backward()
    assert losses["warp_loss"] > 0 and torch.equal(losses["warp_loss"], warp_loss.detach())
    assert torch.equal(loss.detach(), (0.0 * model_losses["mano_reg_loss"] + warp_loss).detach())
    assert any(g.abs().sum() > 0 for g in default_grads)
    for default, upstream in zip(default_grads, _network_gradients(model)):
        assert torch.equal(default, upstream)


def _with_consist_frames(frame):
    """The frame with CONSIST_* keys holding copies of its network input (what the dataset loads for a
    --consist_width equal to the input width)."""
    frame = _clone_batch(frame)
    frame[SK.CONSIST_IMAGE] = frame[SK.IMAGE].clone()
    frame[SK.CONSIST_CAM_INTR] = frame[SK.CAM_INTR].clone()
    if SK.JITTER_MASK in frame:
        frame[SK.CONSIST_JITTER_MASK] = frame[SK.JITTER_MASK].clone()
    frame[SK.IMAGE] = torch.zeros_like(frame[SK.IMAGE])  # the loss must not look at the network input
    return frame


def test_consist_width_uses_the_consist_frames(model, toy_query):
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query)
    layer_faces = WarpRegNet(model).hand_faces
    verts_q, faces = hand_object_mesh(query[SK.HAND_VERTS3D] + 0.003, layer_faces, query[SK.OBJ_VERTS3D],
                                      query[SK.OBJ_FACES])
    verts_r, _ = hand_object_mesh(ref[SK.HAND_VERTS3D], layer_faces, ref[SK.OBJ_VERTS3D], query[SK.OBJ_FACES])
    default, _ = pair_warp_loss(verts_q, verts_r, faces, query, ref)
    width = query[SK.IMAGE].shape[-1]
    at_width, out = pair_warp_loss(verts_q, verts_r, faces, _with_consist_frames(query), _with_consist_frames(ref),
                                   width=width)
    assert default.abs().sum() > 0 and torch.equal(at_width, default)
    assert torch.equal(out["image_query"], query[SK.IMAGE])
    with pytest.raises(ValueError, match="64 px wide"):
        pair_warp_loss(verts_q, verts_r, faces, _with_consist_frames(query), _with_consist_frames(ref), width=32)
    with pytest.raises(KeyError, match="consist_width=64"):
        pair_warp_loss(verts_q, verts_r, faces, query, ref, width=width)


# --------------------------------------------------------------------------------------------- consist params
HEADS = ("pose", "shape", "hand_scale", "hand_trans", "obj_prerot", "obj_scale", "obj_trans")


def _head_gradients(model, query, ref, params):
    """Gradient of the warp loss of the query meshes restricted by `params` w.r.t. the model's head outputs (zeros
    where the loss does not depend on one), and the query hand mesh the loss rendered."""
    warp = WarpRegNet(model, gt_refs=True, consist_params=params)
    _, results, _ = model(query)
    verts_q, faces = warp._query_mesh(results, query)
    verts_r, _ = hand_object_mesh(ref[SK.HAND_VERTS3D], warp.hand_faces, ref[SK.OBJ_VERTS3D], query[SK.OBJ_FACES],
                                  ref.get(SK.OBJ_VERTS_MASK))
    loss, _ = pair_warp_loss(verts_q, verts_r, faces, query, ref, warp.wrist_face_ids)
    grads = torch.autograd.grad(loss.sum(), [results[key] for key in HEADS], allow_unused=True)
    return {key: torch.zeros_like(results[key]) if g is None else g for key, g in zip(HEADS, grads)}, verts_q


def test_consist_params_detach_exactly_what_they_name(model, toy_query):
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query, shift=(0.006, -0.004, 0.005))
    every, mesh_all = _head_gradients(model, query, ref, "all")
    for key in HEADS:
        assert every[key].abs().sum() > 0, key  # precondition: the loss depends on every head
    assert every["pose"][:, 3:].abs().sum() > 0

    global_, mesh_global = _head_gradients(model, query, ref, "global")
    assert torch.equal(mesh_global, mesh_all)  # the same meshes, only the gradient differs
    assert not global_["pose"][:, 3:].any() and not global_["shape"].any()  # articulation and shape detached
    torch.testing.assert_close(global_["pose"][:, :3], every["pose"][:, :3], rtol=1e-4, atol=1e-7)  # root rotation
    for key in HEADS[2:]:
        torch.testing.assert_close(global_[key], every[key], rtol=1e-4, atol=1e-7)

    lateral, mesh_lateral = _head_gradients(model, query, ref, "lateral")
    assert torch.equal(mesh_lateral, mesh_all)
    for key in ("shape", "hand_scale", "obj_scale"):
        assert not lateral[key].any(), key
    assert not lateral["pose"][:, 3:].any()
    for key in ("hand_trans", "obj_trans", "obj_prerot"):
        torch.testing.assert_close(lateral[key], every[key], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(lateral["pose"][:, :3], every["pose"][:, :3], rtol=1e-4, atol=1e-7)


def test_lateral_leaves_the_depth_rows_of_the_network_untouched(model, toy_query):
    query = _clone_batch(toy_query)
    ref = _reference_near_prediction(model, query, shift=(0.006, -0.004, 0.005))
    warp = WarpRegNet(model, lambda_data=1.0, lambda_consist=1.0, gt_refs=True, progressive_steps=0,
                      consist_params="lateral")
    model.zero_grad(set_to_none=True)
    loss, _, _, _ = warp([query, ref])
    loss.backward()
    hand_head, obj_head = model.scaletrans_branch.final_layer, model.scaletrans_branch_obj.final_layer
    for head in (hand_head, obj_head):  # row 0: the scale (depth); then the translation (and object rotation)
        assert not head.weight.grad[0].any() and not head.bias.grad[0].any()
        assert head.weight.grad[1:].abs().sum() > 0
    pose_reg = model.mano_branch.pose_reg
    assert not pose_reg.weight.grad[3:].any() and pose_reg.weight.grad[:3].abs().sum() > 0
    shape = model.mano_branch.shape_reg[0].weight.grad
    assert shape is None or not shape.any()
