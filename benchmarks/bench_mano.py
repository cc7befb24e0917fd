"""Speed of the MANO layer: forward and forward+backward of a batch of PCA poses with betas.

    python benchmarks/bench_mano.py [--batch 64] [--ncomps 15] [--repeats 20] [--device cpu] [--threads N]
                                    [--mano_root DIR]

Prints a table and writes benchmarks/results/bench_mano.json. Without --mano_root it uses assets/mano (official),
else assets/mano_synth, else generates the synthetic hand into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from handobjectconsist.mano import ManoLayer  # noqa: E402


def find_mano_root(requested: str | None, scratch: Path) -> tuple[Path, str]:
    """Folder holding MANO_RIGHT.pkl and a word saying where it came from."""
    if requested:
        return Path(requested), "given"
    for candidate, origin in ((REPO_ROOT / "assets" / "mano", "official"), (REPO_ROOT / "assets" / "mano_synth",
                                                                            "synthetic")):
        if (candidate / "MANO_RIGHT.pkl").is_file():
            return candidate, origin
    from handobjectconsist.synth.mano_hand import write_synthetic_mano

    write_synthetic_mano(scratch, seed=0)
    return scratch, "synthetic (generated)"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def time_runs(step, repeats: int, warmup: int, device: torch.device) -> list[float]:
    """Wall-clock seconds of `repeats` calls of step() after `warmup` untimed calls."""
    times = []
    for index in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--ncomps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--mano_root", default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "bench_mano.json"))
    args = parser.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    with tempfile.TemporaryDirectory() as scratch:
        mano_root, origin = find_mano_root(args.mano_root, Path(scratch))
        layer = ManoLayer(mano_root, side="right", ncomps=args.ncomps, use_pca=True, flat_hand_mean=False,
                          center_idx=9).to(device)
    generator = torch.Generator().manual_seed(args.seed)
    pose = (0.5 * torch.randn(args.batch, 3 + args.ncomps, generator=generator)).to(device).requires_grad_(True)
    betas = torch.randn(args.batch, layer.num_betas, generator=generator).to(device).requires_grad_(True)

    def forward():
        with torch.no_grad():
            layer(pose, betas)

    def forward_backward():
        pose.grad = betas.grad = None
        verts, joints = layer(pose, betas)
        (verts.square().sum() + joints.square().sum()).backward()

    rows = []
    for name, step in (("forward", forward), ("forward+backward", forward_backward)):
        times = time_runs(step, args.repeats, args.warmup, device)
        rows.append({"case": name, "median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
                     "max_ms": 1e3 * max(times)})

    print(f"MANO layer, batch {args.batch}, PCA {args.ncomps} comps + betas, right hand, {layer.num_verts} verts, "
          f"device {device}, torch threads {torch.get_num_threads()}, model: {origin}, {args.repeats} runs")
    print(f"{'case':<18} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'median ms/sample':>17}")
    for row in rows:
        print(f"{row['case']:<18} {row['median_ms']:>10.2f} {row['min_ms']:>8.2f} {row['max_ms']:>8.2f} "
              f"{row['median_ms'] / args.batch:>17.3f}")

    result = {
        "benchmark": "bench_mano",
        "batch": args.batch,
        "ncomps": args.ncomps,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "machine": platform.machine(),
        "model": origin,
        "num_verts": layer.num_verts,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
