"""Data-loader throughput (samples/s) with 0, 1 and 2 workers, against a ResNet-18 training step.

    python benchmarks/bench_dataloader.py [--data_root DIR] [--mano_root DIR] [--batches 10] [--input_width W]
        [--workers 0 1 2] [--threads N] [--device cpu]

Reads a synthetic (or real) FPHAB-layout folder; without --data_root the synthetic "tiny" set is generated once into
benchmarks/results/fphab_tiny (git-ignored). Measured: single-frame items (mode full, augmentation on) and
consistency pairs (sample_nb=2, augmentation on; one pair = 2 frames), batch 8, after one warm-up batch. For
comparison, the consumption rate of a ResNet-18 forward+backward at batch 8 on the same input size (CPU unless
--device says otherwise). Prints a table and writes benchmarks/results/bench_dataloader.json.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torchvision

from handobjectconsist.datasets.collate import collate_pairs, collate_samples
from handobjectconsist.datasets.fphab import FPHAB
from handobjectconsist.datasets.handobjset import HandObjectDataset, seed_worker

RESULTS = Path(__file__).resolve().parent / "results"


def ensure_data(args):
    if args.data_root:
        return Path(args.data_root), args.mano_root
    from handobjectconsist.synth.fphab import write_fphab
    from handobjectconsist.synth.mano_hand import write_synthetic_mano

    mano = RESULTS / "mano_synth"
    root = RESULTS / "fphab_tiny"
    if not (mano / "MANO_RIGHT.pkl").is_file():
        write_synthetic_mano(mano, seed=0)
    if not (root / "data_split_action_recognition.txt").is_file():
        write_fphab(root, mano_root=mano, preset="tiny", seed=0)
    return root, mano


def loader_rate(dataset, collate, workers, batches, frames_per_item):
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True, num_workers=workers,
                                         collate_fn=collate, worker_init_fn=seed_worker,
                                         generator=torch.Generator().manual_seed(0), drop_last=False,
                                         persistent_workers=workers > 0)
    done, frames, start = 0, 0, None
    while done <= batches:
        for batch in loader:
            if done == 0:
                start = time.perf_counter()  # after the warm-up batch (worker start-up excluded)
            else:
                first = batch[0] if isinstance(batch, list) else batch
                frames += len(first["image"]) * frames_per_item
            done += 1
            if done > batches:
                break
    return frames / (time.perf_counter() - start)


def resnet_rate(height, width, device, steps=3):
    model = torchvision.models.resnet18(num_classes=100).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    images = torch.rand(8, 3, height, width, device=device) - 0.5
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
    return 8 * steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", default=None)
    parser.add_argument("--mano_root", default=None, help="with --data_root: also build GT hand meshes")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--input_width", type=int, default=None)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the main process")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    root, mano = ensure_data(args)
    reader = FPHAB(root, split="all", fraction=0.25, mano_root=mano, input_width=args.input_width)
    width, height = reader.image_size
    rows = []
    for workers in args.workers:
        single = HandObjectDataset(reader, mode="full", augment=True)
        pairs = HandObjectDataset(reader, mode="full", sample_nb=2, augment=True)
        rows.append({"workers": workers,
                     "single_frames_per_s": loader_rate(single, collate_samples, workers, args.batches, 1),
                     "pair_frames_per_s": loader_rate(pairs, collate_pairs, workers, args.batches, 2)})
    train_rate = resnet_rate(height, width, torch.device(args.device))
    print(f"FPHAB-layout frames {width}x{height}, batch 8, augmentation on, hand meshes {'on' if mano else 'off'}")
    print(f"{'workers':>8} {'single frames/s':>16} {'pair frames/s':>14}")
    for row in rows:
        print(f"{row['workers']:>8} {row['single_frames_per_s']:>16.1f} {row['pair_frames_per_s']:>14.1f}")
    print(f"ResNet-18 forward+backward, batch 8, {width}x{height}, {args.device}: {train_rate:.1f} frames/s")
    result = {"image_size": [width, height], "batch_size": 8, "batches": args.batches, "rows": rows,
              "resnet18_train_frames_per_s": train_rate, "device": args.device,
              "torch_threads": torch.get_num_threads(), "cpu_count": __import__("os").cpu_count(),
              "machine": platform.machine()}
    (RESULTS / "bench_dataloader.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'bench_dataloader.json'}")


if __name__ == "__main__":
    main()
