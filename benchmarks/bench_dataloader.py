"""Data-loader throughput: single frames and consistency pairs, augmentation on and off, beside JPEG decoding alone.

    python benchmarks/bench_dataloader.py [--data_root DIR] [--mano_root DIR] [--items 96] [--input_width W]
        [--consist_width W] [--workers 0 1 2] [--device cpu] [--out FILE]

Reads a synthetic (or real) FPHAB-layout folder; without --data_root the synthetic "tiny" set is generated once into
benchmarks/results/fphab_tiny (git-ignored; its frames are stored at 480x270). Measured in one run, side by side, on
the same frames, batch 8, after one warm-up batch:
  single, augmented     single-frame items (mode full) with the default augmentation (centre jitter, colour, blur)
  single, plain         the same items with augmentation off
  pairs, augmented      consistency items (sample_nb=2: query + reference), counted in pairs
  pairs, plain          the same without augmentation
  pairs, augmented, consist frames at W   with --consist_width W: the augmented pairs with every frame also
                        loaded at width W for the photometric loss (trainmeshwarp --consist_width)
  JPEG decoding alone   the reader's get_image on the same frames (decode, resize if any), nothing else
With 0 workers everything runs in this process on one core: the table gives items per second of wall time and of
this process' CPU time (time.process_time, which other jobs on the machine do not inflate). With workers, wall time
only. For comparison, the consumption rate of a ResNet-18 forward+backward at batch 8 on the same input size
(--device). With --repeats N every rate is the best of N interleaved timings (other jobs on the machine only ever
slow a timing down). Prints a markdown table and writes JSON (default benchmarks/results/bench_dataloader.json).
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cv2
import torch
import torchvision

from handobjectconsist.datasets.collate import collate_pairs, collate_samples
from handobjectconsist.datasets.fphab import FPHAB
from handobjectconsist.datasets.handobjset import HandObjectDataset, seed_worker
from handobjectconsist.synth.fphab import write_fphab
from handobjectconsist.synth.mano_hand import write_synthetic_mano

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 8


def ensure_data(data_root, mano_root):
    """The FPHAB-layout folder and MANO folder to read: the given ones, or the synthetic tiny set (made once)."""
    if data_root:
        return Path(data_root), mano_root
    mano = RESULTS / "mano_synth"
    root = RESULTS / "fphab_tiny"
    if not (mano / "MANO_RIGHT.pkl").is_file():
        write_synthetic_mano(mano, seed=0)
    if not (root / "data_split_action_recognition.txt").is_file():
        write_fphab(root, mano_root=mano, preset="tiny", seed=0)
    return root, mano


def loader_rate(dataset, collate, workers, items, pin_memory=False):
    """(items per wall second, items per CPU second of this process or None with workers) over `items` items."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         collate_fn=collate, worker_init_fn=seed_worker, pin_memory=pin_memory,
                                         generator=torch.Generator().manual_seed(0), drop_last=True,
                                         persistent_workers=workers > 0)
    done, wall, cpu = -BATCH, None, None  # the first batch is a warm-up (worker start-up excluded)
    while done < items:
        for _ in loader:
            if wall is None:
                wall, cpu = time.perf_counter(), time.process_time()
            done += BATCH
            if done >= items:
                break
    wall_rate = done / (time.perf_counter() - wall)
    return wall_rate, (done / (time.process_time() - cpu) if workers == 0 else None)


def decode_rate(reader, items):
    """(frames per wall second, per CPU second) of the reader's get_image alone (decode, and the resize to
    --input_width if any) on its frames, cycled."""
    reader.get_image(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(items):
        reader.get_image(i % len(reader))
    return items / (time.perf_counter() - wall), items / (time.process_time() - cpu)


def resnet_rate(height, width, device, steps=3):
    """Frames per second consumed by a ResNet-18 forward + backward + SGD step at batch 8."""
    model = torchvision.models.resnet18(num_classes=100).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    images = torch.rand(BATCH, 3, height, width, device=device) - 0.5
    for step in range(steps + 1):
        if step == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        optimizer.zero_grad()
        model(images).square().mean().backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return BATCH * steps / (time.perf_counter() - start)


def _fmt(value):
    return "-" if value is None else f"{value:.0f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", default=None, help="FPHAB-layout folder (default: the synthetic tiny set)")
    parser.add_argument("--mano_root", default=None, help="with --data_root: also build GT hand meshes")
    parser.add_argument("--items", type=int, default=96, help="items timed per configuration (after a warm-up)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="time every configuration this many times (interleaved) and keep the best rate")
    parser.add_argument("--input_width", type=int, default=None, help="frame width (default: as stored)")
    parser.add_argument("--consist_width", type=int, default=None,
                        help="also time augmented pairs whose frames are loaded at this width too (trainmeshwarp's "
                             "--consist_width)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader worker counts")
    parser.add_argument("--device", default="cpu", help="device of the ResNet-18 comparison (and pinned memory)")
    parser.add_argument("--out", default=str(RESULTS / "bench_dataloader.json"), help="JSON output file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    root, mano = ensure_data(args.data_root, args.mano_root)
    reader = FPHAB(root, split="all", fraction=0.25, mano_root=mano, input_width=args.input_width)
    width, height = reader.image_size
    device = torch.device(args.device)
    configs = [("single, augmented", None, True, None), ("single, plain", None, False, None),
               ("pairs, augmented", 2, True, None), ("pairs, plain", 2, False, None)]
    if args.consist_width is not None:
        configs.append((f"pairs, augmented, consist frames at {args.consist_width}", 2, True, args.consist_width))
    timings = {}  # key -> [(wall rate, CPU rate or None), ...] over the repeats, interleaved over the configurations
    for _ in range(args.repeats):
        for workers in args.workers:
            for name, sample_nb, augment, consist_width in configs:
                dataset = HandObjectDataset(reader, mode="full", sample_nb=sample_nb, augment=augment,
                                            consist_width=consist_width)
                collate = collate_samples if sample_nb is None else collate_pairs
                timings.setdefault((name, workers), []).append(
                    loader_rate(dataset, collate, workers, args.items, pin_memory=device.type == "cuda"))
        timings.setdefault("decode", []).append(decode_rate(reader, 2 * args.items))

    def best(key, column):
        values = [timing[column] for timing in timings[key] if timing[column] is not None]
        return max(values) if values else None

    rows = [{"config": name, "workers": workers, "items_per_s": best((name, workers), 0),
             "items_per_cpu_s": best((name, workers), 1)} for workers in args.workers for name, *_ in configs]
    decode_wall, decode_cpu = best("decode", 0), best("decode", 1)
    train_rate = resnet_rate(height, width, device)

    lines = [f"FPHAB-layout frames {width}x{height}, batch {BATCH}, hand meshes {'on' if mano else 'off'}, "
             f"torch threads 1, {os.cpu_count()} CPUs ({platform.machine()})", "",
             "| configuration | workers | items/s (wall) | items/s (CPU time of this process) |", "|---|---|---|---|"]
    lines += [f"| {r['config']} | {r['workers']} | {_fmt(r['items_per_s'])} | {_fmt(r['items_per_cpu_s'])} |"
              for r in rows]
    lines.append(f"| JPEG decoding alone (frames) | 0 | {_fmt(decode_wall)} | {_fmt(decode_cpu)} |")
    lines += ["", f"ResNet-18 forward+backward, batch {BATCH}, {width}x{height}, {args.device}: "
              f"{train_rate:.0f} frames/s", "(pairs are counted as items: one pair = 2 frames)"]
    print("\n".join(lines))
    result = {"image_size": [width, height], "batch_size": BATCH, "items": args.items, "repeats": args.repeats,
              "rows": rows,
              "jpeg_decode_per_s": decode_wall, "jpeg_decode_per_cpu_s": decode_cpu,
              "resnet18_train_frames_per_s": train_rate, "device": args.device, "cpu_count": os.cpu_count(),
              "machine": platform.machine()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
