"""Speed of the pure-PyTorch rasteriser (and attribute interpolation) on hand-plus-object-like meshes.

Scene per batch element: a closed 770-vertex / 1536-face bumpy elongated blob (hand-like) plus a 1024-face
ellipsoid (object), i.e. 2560 faces, in front of an FPHAB-like camera (fx = fy = 0.73 * W), covering roughly
10-20 % of the image. Reported per configuration:
  ms/batch            median wall time of one call for the whole batch
  faces*px/s          B * F * H * W / time (the work a brute-force rasteriser would do, per second)
  cand/s              (face, pixel) candidate pairs tested per second (the work this rasteriser actually does)
  coverage            fraction of pixels covered
Also rasterize + interpolate (2 channels, backward included) -- the work one flow render of the consistency loss
needs --, shade_mesh on a single frame (synthetic-data rendering), and PyTorch3D's rasterize_meshes if importable.
On a shared, loaded machine use --threads 1: PyTorch's intra-op threads then contend and wall times explode.

Usage:  .venv/bin/python benchmarks/bench_render.py [--batch 8] [--repeats 5] [--threads 2] [--device cpu]
Writes benchmarks/results/bench_render.json.
"""

import argparse
import importlib.util
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

from handobjectconsist.render import interpolate_attributes, rasterize, shade_mesh
from handobjectconsist.render.rasterize import count_candidates
from handobjectconsist.render.textures import smooth_noise

RESULTS = Path(__file__).resolve().parent / "results" / "bench_render.json"


def hand_object_scene(batch_size: int, width: int, height: int, seed: int = 0):
    """Return verts (B, V, 3), faces (F, 3), K (B, 3, 3) for the benchmark scene (metres, OpenCV camera)."""
    rng = np.random.default_rng(seed)
    blob = trimesh.creation.uv_sphere(radius=1.0, count=[13, 31])
    obj = trimesh.creation.uv_sphere(radius=1.0, count=[9, 31])
    verts_all, faces = [], None
    for _ in range(batch_size):
        hand = blob.vertices * np.array([0.05, 0.09, 0.025])
        bumps = np.sin(7 * blob.vertices[:, :1] + rng.uniform(0, 6)) * np.cos(5 * blob.vertices[:, 2:])
        hand = hand * (1.0 + 0.15 * bumps)
        hand = hand + np.array([-0.04, 0.0, 0.4]) + rng.normal(0, 0.01, 3)
        thing = obj.vertices * np.array([0.045, 0.055, 0.045]) + np.array([0.05, 0.01, 0.42]) + rng.normal(0, 0.01, 3)
        verts_all.append(np.concatenate([hand, thing]))
        faces = np.concatenate([blob.faces, obj.faces + len(blob.vertices)])
    verts = torch.tensor(np.stack(verts_all), dtype=torch.float32)
    focal = 0.73 * width
    K = torch.tensor([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]], dtype=torch.float32)
    return verts, torch.tensor(faces, dtype=torch.long), K.expand(batch_size, 3, 3).contiguous()


def timed(fn, repeats: int, device: torch.device):
    """Median wall seconds and median process CPU seconds of fn() over `repeats` runs after one warm-up.

    CPU time (all threads of this process) is robust to other processes sharing the cores; with --threads 1 it is
    the time the call would take on an idle core.
    """
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def bench_pytorch3d(verts, faces, K, image_size, repeats, device):
    if importlib.util.find_spec("pytorch3d") is None:
        return None, "not installed"
    from handobjectconsist.render.backends import rasterize_pytorch3d

    return timed(lambda: rasterize_pytorch3d(verts, faces, K, image_size), repeats, device)[0], "ok"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rows = []
    for width, height in [(480, 270), (240, 135)]:
        verts, faces, K = hand_object_scene(args.batch, width, height)
        verts, faces, K = verts.to(device), faces.to(device), K.to(device)
        size = (height, width)
        fragments = rasterize(verts, faces, K, size)
        coverage = fragments.mask.float().mean().item()
        candidates = count_candidates(verts, faces, K, size)
        t_rast, cpu_rast = timed(lambda: rasterize(verts, faces, K, size), args.repeats, device)

        attrs = torch.randn(args.batch, verts.shape[1], 2, device=device, requires_grad=True)

        def rast_interp():
            frags = rasterize(verts, faces, K, size)
            interpolate_attributes(frags, faces, attrs).square().sum().backward()

        t_full, cpu_full = timed(rast_interp, args.repeats, device)
        colors = smooth_noise(verts[:1])
        t_shade, cpu_shade = timed(lambda: shade_mesh(verts[:1], faces, K[:1], size, colors), args.repeats, device)
        t_p3d, p3d_status = bench_pytorch3d(verts, faces, K, size, args.repeats, device)
        num_faces = faces.shape[0]
        rows.append(
            {
                "image": f"{width}x{height}",
                "batch": args.batch,
                "faces": num_faces,
                "coverage": coverage,
                "candidates": candidates,
                "rasterize_ms": 1e3 * t_rast,
                "rasterize_cpu_ms": 1e3 * cpu_rast,
                "faces_x_pixels_per_s": args.batch * num_faces * width * height / t_rast,
                "candidates_per_s": candidates / t_rast,
                "rasterize_interpolate_backward_ms": 1e3 * t_full,
                "rasterize_interpolate_backward_cpu_ms": 1e3 * cpu_full,
                "shade_one_frame_ms": 1e3 * t_shade,
                "shade_one_frame_cpu_ms": 1e3 * cpu_shade,
                "pytorch3d_ms": None if t_p3d is None else 1e3 * t_p3d,
                "pytorch3d": p3d_status,
            }
        )

    print(f"device={device} threads={args.threads} torch={torch.__version__}  (times: wall / process CPU, ms; "
          f"rates use wall time)")
    print(f"{'image':>8} {'B':>3} {'F':>5} {'cover':>6} {'cand':>8} {'rasterize':>14} {'faces*px/s':>11} "
          f"{'cand/s':>9} {'rast+interp+bwd':>16} {'shade 1 frame':>14} {'pytorch3d':>10}")
    for r in rows:
        p3d = "n/a" if r["pytorch3d_ms"] is None else f"{r['pytorch3d_ms']:.1f}"
        print(
            f"{r['image']:>8} {r['batch']:>3} {r['faces']:>5} {r['coverage']:>6.3f} {r['candidates']:>8d} "
            f"{r['rasterize_ms']:>6.1f} /{r['rasterize_cpu_ms']:>6.1f} {r['faces_x_pixels_per_s']:>11.3g} "
            f"{r['candidates_per_s']:>9.3g} {r['rasterize_interpolate_backward_ms']:>7.1f} /"
            f"{r['rasterize_interpolate_backward_cpu_ms']:>7.1f} {r['shade_one_frame_ms']:>6.1f} /"
            f"{r['shade_one_frame_cpu_ms']:>6.1f} {p3d:>10}"
        )
    if rows[0]["pytorch3d_ms"] is None:
        print(f"PyTorch3D: {rows[0]['pytorch3d']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"device": str(device), "threads": args.threads, "torch": torch.__version__,
            "machine": platform.machine(), "processor": platform.processor(), "repeats": args.repeats}
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
