"""Speed of one photometric-consistency step (flow render + occlusion check + warp + loss, forward and backward)
relative to a ResNet-18 forward+backward on the same image batch, measured in the same run.

Scene per pair: the synthetic MANO hand (778 vertices, 1552 faces with the wrist-closing faces; written to a temp
folder with write_synthetic_mano, posed by ManoLayer) plus the procedural "juice" object (576 faces), i.e. 2128
faces, in front of an FPHAB-like camera (fx = fy = 0.727 W, about 0.45 m away). The query frame moves the hand
(pose, rotation, 1 cm) and the object (5 degrees, 1 cm); the reference is detached, the query requires grad.

Rows (best-of-N wall ms and process-CPU ms for the whole batch, and each as a ratio to resnet18):
  rasterize x2        rasterising the reference and the query meshes (no grad)
  interpolate x2 fwd  interpolating the per-vertex displacements on both grids
  interpolate x2 f+b  the same plus its backward pass
  occlusion x2        both forward-backward checks (no grad)
  warp+loss fwd       pair_photometric_loss forward (L1, forward term only: the upstream default)
  warp+loss f+b       the same plus its backward pass into the flow
  step f+b            mesh_pair_flow + pair_photometric_loss + backward into the query vertices (the whole step)
  resnet18 f+b        torchvision resnet18(weights=None) forward + backward on the (B, 3, H, W) batch
Target: step f+b <= 0.25 x resnet18 f+b.

Usage:  .venv/bin/python benchmarks/bench_consistency.py [--batch 8] [--repeats 5] [--threads 1]
Writes benchmarks/results/bench_consistency.json.
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
import torchvision

from handobjectconsist.consistency import forward_backward_consistency, mesh_pair_flow, pair_photometric_loss
from handobjectconsist.consistency.meshflow import surface_mask
from handobjectconsist.mano import ManoLayer
from handobjectconsist.render import interpolate_attributes, rasterize
from handobjectconsist.synth.mano_hand import write_synthetic_mano
from handobjectconsist.synth.objects import make_object
from libyana.camutils import project_points
from libyana.meshutils import concat_meshes

RESULTS = Path(__file__).resolve().parent / "results" / "bench_consistency.json"
TARGET_RATIO = 0.25


def axis_angle_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(B, 3) axis-angle -> (B, 3, 3) rotation matrices (Rodrigues)."""
    angle = axis_angle.norm(dim=1, keepdim=True).clamp(min=1e-12)
    axis = axis_angle / angle
    x, y, z = axis.unbind(1)
    zeros = torch.zeros_like(x)
    skew = torch.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], dim=1).view(-1, 3, 3)
    sin, cos = angle.sin().view(-1, 1, 1), angle.cos().view(-1, 1, 1)
    return torch.eye(3).expand_as(skew) + sin * skew + (1 - cos) * skew @ skew


def hand_object_pairs(batch_size: int, mano_root: Path, seed: int = 0):
    """Query and reference meshes of `batch_size` pairs: verts (B, V, 3) each, faces (F, 3), wrist face ids."""
    generator = torch.Generator().manual_seed(seed)
    layer = ManoLayer(mano_root, side="right", ncomps=6, use_pca=True, flat_hand_mean=True, center_idx=9)
    obj = make_object("juice")
    obj_verts = torch.tensor(obj.verts, dtype=torch.float32)
    obj_faces = torch.tensor(obj.faces, dtype=torch.long)

    def frame(pose, hand_trans, obj_rot, obj_trans):
        hand_verts, _ = layer(pose)
        hand_verts = hand_verts + hand_trans.unsqueeze(1)
        thing = obj_verts.unsqueeze(0) @ axis_angle_matrix(obj_rot).transpose(1, 2) + obj_trans.unsqueeze(1)
        return concat_meshes([hand_verts, thing], [layer.closed_faces, obj_faces])

    def rand(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=generator)

    pose = torch.cat([torch.tensor([[1.2, 0.0, 0.0]]) + rand(batch_size, 3, scale=0.1), rand(batch_size, 6)], dim=1)
    hand_trans = torch.tensor([[-0.03, 0.02, 0.45]]) + rand(batch_size, 3, scale=0.01)
    obj_rot = torch.tensor([[1.4, 0.0, 0.0]]) + rand(batch_size, 3, scale=0.1)
    obj_trans = torch.tensor([[0.06, 0.0, 0.47]]) + rand(batch_size, 3, scale=0.01)
    with torch.no_grad():
        verts_ref, faces = frame(pose, hand_trans, obj_rot, obj_trans)
        verts_query, _ = frame(
            pose + rand(batch_size, 9, scale=0.05),
            hand_trans + rand(batch_size, 3, scale=0.01),
            obj_rot + rand(batch_size, 3, scale=0.09),
            obj_trans + rand(batch_size, 3, scale=0.01),
        )
    return verts_query, verts_ref, faces[0], layer.wrist_face_ids


def timed(fn, repeats: int):
    """Best (minimum) wall seconds and best process CPU seconds of fn() over `repeats` runs after one warm-up.

    Minima, not medians: the CPU is shared with other jobs, and interference only ever adds time. The process CPU
    time is less sensitive to other jobs than the wall time (it does not count time spent descheduled); with
    --threads 1 it is the single-core cost.
    """
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start_wall)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def bench_size(verts_query, verts_ref, faces, wrist_ids, width, height, repeats):
    batch = verts_ref.shape[0]
    size = (height, width)
    focal = 0.727 * width
    K = torch.tensor([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]]).expand(batch, 3, 3)
    K = K.contiguous()
    generator = torch.Generator().manual_seed(1)
    image_query = torch.rand(batch, 3, height, width, generator=generator) - 0.5
    image_ref = torch.rand(batch, 3, height, width, generator=generator) - 0.5
    jitter = torch.ones(batch, 1, height, width)
    query = verts_query.clone().requires_grad_(True)
    times = {}

    times["rasterize x2"] = timed(lambda: (rasterize(verts_ref, faces, K, size), rasterize(query, faces, K, size)),
                                  repeats)
    frag_ref = rasterize(verts_ref, faces, K, size)
    frag_query = rasterize(query, faces, K, size)

    def interpolate_both():
        points_query, points_ref = project_points(query, K), project_points(verts_ref, K)
        return (interpolate_attributes(frag_ref, faces, points_query - points_ref),
                interpolate_attributes(frag_query, faces, points_ref - points_query))

    times["interpolate x2 fwd"] = timed(interpolate_both, repeats)

    def interpolate_backward():
        flow_ref, flow_query = interpolate_both()
        (flow_ref.sum() + flow_query.sum()).backward()

    times["interpolate x2 f+b"] = timed(interpolate_backward, repeats)
    with torch.no_grad():
        flow_ref, flow_query = interpolate_both()
    surface_ref = surface_mask(frag_ref, wrist_ids, faces.shape[-2])
    surface_query = surface_mask(frag_query, wrist_ids, faces.shape[-2])
    times["occlusion x2"] = timed(
        lambda: (forward_backward_consistency(flow_ref, flow_query, surface_query),
                 forward_backward_consistency(flow_query, flow_ref, surface_ref)),
        repeats,
    )
    flow = mesh_pair_flow(query, verts_ref, faces, K, K, size, ignore_face_ids=wrist_ids)
    flow.flow_ref = flow.flow_ref.detach().requires_grad_(True)
    times["warp+loss fwd"] = timed(lambda: pair_photometric_loss(image_query, image_ref, jitter, jitter, flow),
                                   repeats)
    times["warp+loss f+b"] = timed(
        lambda: pair_photometric_loss(image_query, image_ref, jitter, jitter, flow)[0].sum().backward(), repeats
    )
    valid_fraction = pair_photometric_loss(image_query, image_ref, jitter, jitter, flow)[1]["mask_fwd"].mean().item()

    def step():
        pair_flow = mesh_pair_flow(query, verts_ref, faces, K, K, size, ignore_face_ids=wrist_ids)
        loss, _ = pair_photometric_loss(image_query, image_ref, jitter, jitter, pair_flow)
        loss.mean().backward()

    times["step f+b"] = timed(step, repeats)

    model = torchvision.models.resnet18(weights=None)
    images = torch.rand(batch, 3, height, width, generator=generator)

    def encoder_step():
        model.zero_grad(set_to_none=True)
        model(images).square().mean().backward()

    times["resnet18 f+b"] = timed(encoder_step, repeats)
    return {
        "image": f"{width}x{height}",
        "batch": batch,
        "faces": int(faces.shape[0]),
        "coverage": float(frag_ref.mask.float().mean()),
        "valid_fraction": valid_fraction,
        "ms": {name: 1e3 * wall for name, (wall, _) in times.items()},
        "ratio_to_resnet18": {name: wall / times["resnet18 f+b"][0] for name, (wall, _) in times.items()},
        "cpu_ms": {name: 1e3 * cpu for name, (_, cpu) in times.items()},
        "cpu_ratio_to_resnet18": {name: cpu / times["resnet18 f+b"][1] for name, (_, cpu) in times.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared 2-core machine, 2 threads spin against other jobs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as mano_root:
        write_synthetic_mano(mano_root, seed=0)
        verts_query, verts_ref, faces, wrist_ids = hand_object_pairs(args.batch, Path(mano_root))

    sizes = [(480, 270), (240, 135)]
    rows = [bench_size(verts_query, verts_ref, faces, wrist_ids, w, h, args.repeats) for w, h in sizes]

    print(f"device=cpu threads={args.threads} torch={torch.__version__} batch={args.batch} faces={rows[0]['faces']}")
    names = list(rows[0]["ms"])
    columns = "".join(f"{r['image'] + ' wall ms':>17}{'x resnet':>9}{'cpu ms':>9}{'x resnet':>9}" for r in rows)
    print(f"{'':20}{columns}")
    for name in names:
        print(f"{name:20}" + "".join(
            f"{r['ms'][name]:>17.1f}{r['ratio_to_resnet18'][name]:>9.3f}"
            f"{r['cpu_ms'][name]:>9.1f}{r['cpu_ratio_to_resnet18'][name]:>9.3f}" for r in rows))
    for r in rows:
        ratio, cpu_ratio = r["ratio_to_resnet18"]["step f+b"], r["cpu_ratio_to_resnet18"]["step f+b"]
        verdict = "meets" if max(ratio, cpu_ratio) <= TARGET_RATIO else "MISSES"
        raster_share = r["cpu_ms"]["rasterize x2"] / r["cpu_ms"]["step f+b"]
        print(f"{r['image']}: coverage {r['coverage']:.3f}, valid {r['valid_fraction']:.3f}; "
              f"step = {ratio:.3f} (wall) / {cpu_ratio:.3f} (cpu) x resnet18 ({verdict} the {TARGET_RATIO} target); "
              f"rasterize x2 is {100 * raster_share:.0f}% of the step's cpu time")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"device": "cpu", "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
            "processor": platform.processor(), "repeats": args.repeats, "target_ratio": TARGET_RATIO}
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
