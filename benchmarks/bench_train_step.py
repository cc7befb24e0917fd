"""Supervised training-step cost relative to the bare encoder, and peak training memory.

    python benchmarks/bench_train_step.py [--device auto|cpu|cuda] [--batch_size 8] [--input_width 480]
                                          [--iters 6] [--mano_root DIR]

Measures, on the same batch and in the same run (timings interleaved, medians reported):
  step    MeshRegNet forward + all losses + backward + Adam step (model in eval mode, as upstream trains)
  encoder the ResNet encoder alone: forward + backward of feature.sum() + Adam step on its parameters
  ratio   step / encoder (target <= 1.15)
and the peak memory of training at the given batch: torch.cuda.max_memory_allocated on CUDA; on CPU the growth of
the process' peak resident set size (resource.getrusage maxrss) over the training steps, which is the best
available CPU measure (tracemalloc does not see torch allocations).
The batch comes from the in-memory toy dataset at FPHAB's input size (480x270 by default).
Writes benchmarks/results/bench_train_step.json.
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.devices import move_to_device
from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.synth.pipeline import mano_root_or_synthetic
from handobjectconsist.training.distributed import resolve_device
from handobjectconsist.training.toy_data import ToyHandObjectDataset

TARGET_RATIO = 1.15


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _maxrss_bytes() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--input_width", type=int, default=480)
    parser.add_argument("--encoder_arch", default="resnet18")
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mano_root", default=None, help="default: a synthetic MANO written to a temporary folder")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_train_step.json"))
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    with mano_root_or_synthetic(args.mano_root) as mano_root:
        result = _measure(args, device, mano_root)
    print(f"{'measure':<28}{'value':>14}")
    print(f"{'train step (median, s)':<28}{result['train_step_s']:>14.4f}")
    print(f"{'encoder fwd+bwd (median, s)':<28}{result['encoder_step_s']:>14.4f}")
    print(f"{'ratio (target <= 1.15)':<28}{result['ratio']:>14.3f}")
    print(f"{'peak memory (MB)':<28}{result['peak_memory_mb']:>14.1f}   [{result['peak_memory_kind']}]")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


def _measure(args, device: torch.device, mano_root: str) -> dict:
    """Timings and peak memory of the training step and the bare encoder (the JSON result)."""
    height = round(args.input_width * 270 / 480)
    dataset = ToyHandObjectDataset(mano_root, size=args.batch_size, image_size=(args.input_width, height),
                                   vary_obj_verts=True, obj_verts=600)
    batch = move_to_device(collate_samples([dataset[i] for i in range(args.batch_size)]), device)

    model = MeshRegNet(mano_root, encoder_arch=args.encoder_arch).to(device).eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    encoder_opt = torch.optim.Adam(model.base_net.parameters(), lr=1e-5)

    def train_step():
        total, _, _ = model(batch)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    def encoder_step():
        features = model.base_net(batch["image"])
        encoder_opt.zero_grad(set_to_none=True)
        features.sum().backward()
        encoder_opt.step()

    rss_before = _maxrss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        train_step()
        encoder_step()
    _sync(device)
    step_times, encoder_times = [], []
    for _ in range(args.iters):
        for fn, times in ((train_step, step_times), (encoder_step, encoder_times)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        peak_kind = "torch.cuda.max_memory_allocated"
    else:
        peak = _maxrss_bytes() - rss_before
        peak_kind = "maxrss growth during training"
    step, enc = statistics.median(step_times), statistics.median(encoder_times)
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "input_size": [args.input_width, height],
        "encoder_arch": args.encoder_arch,
        "iters": args.iters,
        "train_step_s": step,
        "encoder_step_s": enc,
        "ratio": step / enc,
        "target_ratio": TARGET_RATIO,
        "peak_memory_mb": peak / 2**20,
        "peak_memory_kind": peak_kind,
        "train_step_all_s": step_times,
        "encoder_step_all_s": encoder_times,
    }


if __name__ == "__main__":
    sys.exit(main())
