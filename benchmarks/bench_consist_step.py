"""Time of one photometric-consistency training step of WarpRegNet, split into stages, against the unavoidable cost
of two encoder forward+backward passes on the same batch (upstream runs the network on both frames of a pair).

Stages (query frame; the reference uses its GT mesh, as with --consist_gt_refs, so the network runs once):
  encoder            ResNet forward on the (B, 3, H, W) query images
  mano+object        MANO / absolute / object heads, 2D-to-3D recovery, supervised loss terms (priors used)
  rasterize+interp   consistency.mesh_pair_flow: both rasterisations, flow interpolation, occlusion checks
  warp+loss          consistency.pair_photometric_loss (backward warp, masks, L1)
  backward           backward of lambda_d * priors + lambda_c * warp loss through everything
  step total         the sum; "WarpRegNet fwd+bwd" times the real module end to end as a cross-check
  2x encoder f+b     reference: two encoder forward+backward passes on the same images
Scene: a randomly initialised MeshRegNet (encoder --encoder_arch) predicts hand + object meshes; the reference
"GT" meshes are the prediction shifted by 5 mm, so the flow is small and valid like late in training. The object
is an ellipsoid of 642 vertices / 1280 faces (bottle-sized), the hand has 1552 closed faces.

Usage: .venv/bin/python benchmarks/bench_consist_step.py [--batch_size 4] [--input_width 480] [--repeats 3]
       [--device cpu|cuda] [--encoder_arch resnet18] [--threads N]
Writes benchmarks/results/bench_consist_step.json.
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
import trimesh

from handobjectconsist.consistency import mesh_pair_flow, pair_photometric_loss
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.models.warpreg import WarpRegNet, hand_object_mesh
from handobjectconsist.synth.mano_hand import write_synthetic_mano
from handobjectconsist.training.toy_data import ToyHandObjectDataset

RESULTS = Path(__file__).resolve().parent / "results" / "bench_consist_step.json"
STAGES = ("encoder", "mano+object", "rasterize+interp", "warp+loss", "backward")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    def __init__(self, device):
        self.device = device
        self.times = {}

    def mark(self, name, start):
        _sync(self.device)
        now = time.perf_counter()
        self.times[name] = now - start
        return now


def make_batch(mano_root, batch_size, width, device):
    height = round(width * 270 / 480)
    dataset = ToyHandObjectDataset(mano_root, size=batch_size, image_size=(width, height), seed=0)
    samples = [dataset[i] for i in range(batch_size)]
    sphere = trimesh.creation.icosphere(subdivisions=3)
    can = torch.tensor(sphere.vertices, dtype=torch.float32) * torch.tensor([0.035, 0.1, 0.035])
    for sample in samples:
        sample[K.OBJ_CAN_VERTS] = can.numpy()
        sample[K.OBJ_VERTS3D] = can.numpy()  # replaced below by the shifted prediction
        sample[K.OBJ_VERTS2D] = can.numpy()[:, :2]
        sample[K.OBJ_FACES] = sphere.faces.astype("int64")
    batch = collate_samples(samples)
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def staged_step(warp: WarpRegNet, query, ref, device):
    """One consist step written out stage by stage (same operations as WarpRegNet._consist_forward)."""
    net = warp.meshregnet
    timer = Timer(device)
    _sync(device)
    start = time.perf_counter()
    images = query[K.IMAGE]
    features = net.base_net(images)
    start = timer.mark("encoder", start)
    input_res = (images.shape[3], images.shape[2])
    results = net.predict_hand(features, query[K.CAM_INTR], input_res)
    results.update(net.predict_object(features, query[K.OBJ_CAN_VERTS], query[K.CAM_INTR], input_res))
    _, losses = net.compute_losses(query, results)
    verts_q, faces = hand_object_mesh(results["recov_handverts3d"], warp.hand_faces, results["recov_objverts3d"],
                                      query[K.OBJ_FACES], query.get(K.OBJ_VERTS_MASK), query.get(K.OBJ_FACES_MASK))
    verts_r, _ = hand_object_mesh(ref[K.HAND_VERTS3D], warp.hand_faces, ref[K.OBJ_VERTS3D], query[K.OBJ_FACES],
                                  ref.get(K.OBJ_VERTS_MASK))
    start = timer.mark("mano+object", start)
    height, width = images.shape[2:]
    flow = mesh_pair_flow(verts_q, verts_r.detach(), faces, query[K.CAM_INTR], ref[K.CAM_INTR], (height, width),
                          ignore_face_ids=warp.wrist_face_ids)
    start = timer.mark("rasterize+interp", start)
    warp_loss, outputs = pair_photometric_loss(images.detach(), ref[K.IMAGE].detach(), query[K.JITTER_MASK],
                                               ref[K.JITTER_MASK], flow)
    lambda_d, lambda_c = warp.loss_weights()
    loss = lambda_d * losses["mano_reg_loss"] + lambda_c * warp_loss.mean()
    start = timer.mark("warp+loss", start)
    loss.backward()
    timer.mark("backward", start)
    return timer.times, float(outputs["mask_fwd"].mean())


def timed(fn, device):
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--input_width", type=int, default=480, help="FPHAB network input: 480 x 270")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--encoder_arch", default="resnet18")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as mano_root:
        write_synthetic_mano(mano_root, seed=0)
        net = MeshRegNet(mano_root, encoder_arch=args.encoder_arch).to(device).eval()
        warp = WarpRegNet(net, gt_refs=True, lambda_consist=0.001, progressive_steps=0).to(device)
        query = make_batch(mano_root, args.batch_size, args.input_width, device)
    with torch.no_grad():
        _, results, _ = net(query)
    ref = dict(query)
    shift = torch.tensor([0.005, -0.003, 0.0], device=device)
    ref[K.HAND_VERTS3D] = results["recov_handverts3d"] + shift
    ref[K.OBJ_VERTS3D] = results["recov_objverts3d"] + shift
    ref[K.IMAGE] = torch.roll(query[K.IMAGE], 2, dims=3)
    ref[K.DIST2QUERY] = torch.ones(args.batch_size, dtype=torch.long, device=device)

    def encoder_twice():
        for _ in range(2):
            net.zero_grad(set_to_none=True)
            net.base_net(query[K.IMAGE]).sum().backward()

    def module_step():
        net.zero_grad(set_to_none=True)
        loss, _, _, _ = warp([query, ref], update_ramp=False)
        loss.backward()

    best = {name: float("inf") for name in STAGES}
    best_total = best_module = best_encoder = float("inf")
    coverage = 0.0
    for repeat in range(args.repeats + 1):  # the first round warms up
        net.zero_grad(set_to_none=True)
        stages, coverage = staged_step(warp, query, ref, device)
        enc = timed(encoder_twice, device)
        mod = timed(module_step, device)
        if repeat == 0:
            continue
        for name in STAGES:
            best[name] = min(best[name], stages[name])
        best_total = min(best_total, sum(stages.values()))
        best_encoder, best_module = min(best_encoder, enc), min(best_module, mod)

    rows = [(name, best[name]) for name in STAGES] + [("step total", best_total), ("WarpRegNet fwd+bwd", best_module),
                                                      ("2x encoder f+b", best_encoder)]
    height = round(args.input_width * 270 / 480)
    print(f"consistency step, batch {args.batch_size} x 3 x {height} x {args.input_width}, {args.encoder_arch}, "
          f"{device}, threads {torch.get_num_threads()}, best of {args.repeats}; valid-pixel fraction {coverage:.3f}")
    print(f"{'stage':<22}{'ms':>10}{'/ 2x enc':>10}")
    for name, seconds in rows:
        print(f"{name:<22}{seconds * 1e3:>10.1f}{seconds / best_encoder:>10.2f}")
    payload = {
        "batch_size": args.batch_size, "image_hw": [height, args.input_width], "encoder_arch": args.encoder_arch,
        "device": str(device), "threads": torch.get_num_threads(), "repeats": args.repeats,
        "platform": platform.platform(), "torch": torch.__version__, "valid_pixel_fraction": coverage,
        "ms": {name: seconds * 1e3 for name, seconds in rows},
        "ratio_step_to_two_encoder_passes": best_total / best_encoder,
        "ratio_module_to_two_encoder_passes": best_module / best_encoder,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=1))
    print(f"wrote {RESULTS}")
    return payload


if __name__ == "__main__":
    main()
