"""Datasets and loaders for training, consistency fine-tuning and validation, from the command-line flags
(the one place that maps the flags of trainmeshreg and trainmeshwarp to datasets.build and DataLoaders)."""

import os
from pathlib import Path
from typing import Callable, Optional, Tuple

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from handobjectconsist.datasets.build import hand_object_dataset
from handobjectconsist.datasets.collate import collate_pairs, collate_samples
from handobjectconsist.datasets.handobjset import seed_worker
from handobjectconsist.datasets.locate import dataset_folder
from handobjectconsist.errors import UsageError
from handobjectconsist.interrupts import quiet_lost_fd_connections
from handobjectconsist.training.distributed import DistContext
from handobjectconsist.training.toy_data import ToyHandObjectDataset, ToyPairs

TOY_IMAGE_SIZE = (64, 36)
MAX_DEFAULT_WORKERS = 8  # --workers default on CUDA: at most this many per process


def default_workers(device: torch.device, local_processes: int = 1) -> int:
    """--workers when not given: 0 on CPU (upstream's default; the model's own threads use the cores), on CUDA
    min(8, usable CPUs / processes on this machine) so that the loader keeps up with the GPU.

    Args:
        device: this process's device.
        local_processes: training processes sharing this machine's CPUs (torchrun's LOCAL_WORLD_SIZE).
    """
    if device.type != "cuda":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_DEFAULT_WORKERS, cpus // max(1, local_processes)))


def resolve_workers(args, device: torch.device) -> int:
    """args.workers, or default_workers(device, LOCAL_WORLD_SIZE) when the flag was not given; stored back into args
    (so opt.yaml records the number used)."""
    if args.workers is None:
        args.workers = default_workers(device, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return args.workers


def split_workers(workers: int) -> Tuple[int, int]:
    """trainmeshwarp's --workers over its (data, consist) loaders: 0 stays 0; otherwise each loader gets at least
    one worker (upstream halved the count, so 1 became 0 and the loading ran in the training process); the consist
    loader, which loads two frames per item, gets the odd one."""
    if workers <= 0:
        return 0, 0
    if workers == 1:
        return 1, 1
    return workers // 2, workers - workers // 2


def dataset_root(args, name: str) -> Path:
    """dataset_folder(args.data_root, name)."""
    return dataset_folder(args.data_root, name)


def default_skeleton_regressor(args) -> Optional[Path]:
    """The regressor written by `python -m handobjectconsist.datasets.fit_fphab` next to the FPHAB fits, if any."""
    if "fhbhands" not in args.train_datasets:
        return None
    path = dataset_root(args, "fhbhands") / "fhbhands_fits" / "fhb_skel_regressor.npz"
    return path if path.is_file() else None


def build_dataset(args, name: str, split: str, mode: str, augment: bool, fraction: float,
                  sample_nb: Optional[int] = None, spacing: int = 0, consist_width: Optional[int] = None,
                  max_gap: Optional[int] = None) -> Dataset:
    """A dataset of single-frame sample dicts (sample_keys), or of consist items when sample_nb is given.

    Args:
        name: fhbhands | ho3dv2 | toy.
        mode: "strong" (annotated frames only; training) or "full" (validation, consist items).
        sample_nb: None: single frames; k: items [query, k-1 nearest annotated frames] (datasets.collate_pairs).
        spacing: consist reference choice (0: nearest annotated frame; >0: next first; <0: previous first).
        consist_width, max_gap: consist items only: also load the frames at this width (CONSIST_* keys), and keep
            the items whose references are at most max_gap frames away (HandObjectDataset).
    """
    if name == "toy":
        width = args.input_width or TOY_IMAGE_SIZE[0]
        height = max(1, round(width * TOY_IMAGE_SIZE[1] / TOY_IMAGE_SIZE[0]))
        seed = args.manual_seed * 1000 + (0 if split == "train" else 1)
        frames = ToyHandObjectDataset(args.mano_root, size=args.toy_size, image_size=(width, height), seed=seed)
        if sample_nb is None:
            return frames
        consist_frames = None
        if consist_width is not None:
            consist_height = max(1, round(consist_width * TOY_IMAGE_SIZE[1] / TOY_IMAGE_SIZE[0]))
            consist_frames = ToyHandObjectDataset(args.mano_root, size=args.toy_size,
                                                  image_size=(consist_width, consist_height), seed=seed)
        return ToyPairs(frames, consist_frames=consist_frames, max_gap=max_gap)
    if name != "fhbhands" and args.mini_factor != 1:
        raise UsageError("--mini_factor is only implemented for fhbhands")
    return hand_object_dataset(name, args.data_root, split, args.mano_root, mode=mode, fraction=fraction,
                               input_width=args.input_width, split_mode=args.split_mode, like_v1=args.version == 1,
                               mini_factor=None if args.mini_factor == 1 else args.mini_factor,
                               sample_nb=sample_nb, spacing=spacing, augment=augment,
                               center_jittering=args.center_jittering, scale_jittering=args.scale_jittering,
                               max_rot=0.0 if args.block_rot else args.max_rot, consist_width=consist_width,
                               max_gap=max_gap)


def frame_width(dataset: Dataset) -> Optional[int]:
    """Width (pixels) of the frames the network sees from `dataset` (a dataset of build_dataset, or a ConcatDataset
    of them); None when its parts differ."""
    if isinstance(dataset, ConcatDataset):
        widths = {frame_width(part) for part in dataset.datasets}
        return widths.pop() if len(widths) == 1 else None
    if isinstance(dataset, ToyPairs):
        dataset = dataset.frames
    if isinstance(dataset, ToyHandObjectDataset):
        return int(dataset.width)
    return int(dataset.pose_dataset.image_size[0])


def init_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: seeded random generators (datasets.handobjset.seed_worker), and no traceback
    from the worker's fd-passing thread when the main process stops mid-batch (interrupts.quiet_lost_fd_connections)."""
    seed_worker(worker_id)
    quiet_lost_fd_connections()


def make_loader(dataset: Dataset, args, context: DistContext, generator: Optional[torch.Generator],
                collate: Callable, workers: int, train: bool) -> DataLoader:
    """DataLoader of args.batch_size. train: shuffled, drop_last, split over the processes (DistributedSampler,
    call loader.sampler.set_epoch each epoch); otherwise the fixed order, every sample once, this process only.
    On CUDA the batches come in pinned memory (asynchronous copies to the GPU), and the workers of a loader without
    augmentation persist across epochs (no restart cost per epoch). Augmenting loaders restart their workers each
    epoch: a persistent worker keeps the base seed it started with, and HandObjectDataset derives every item's
    augmentation from that seed and the item index, so every epoch would repeat the same draws."""
    sampler = None
    if context.distributed and train:
        sampler = DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank, shuffle=True,
                                     seed=args.manual_seed, drop_last=True)
    cuda = context.device.type == "cuda"
    return DataLoader(dataset, batch_size=args.batch_size, shuffle=train and sampler is None, sampler=sampler,
                      drop_last=train, num_workers=workers, collate_fn=collate, generator=generator,
                      worker_init_fn=init_worker, pin_memory=cuda,
                      persistent_workers=cuda and workers > 0 and not getattr(dataset, "augment", False))


def require_one_batch(dataset: Dataset, args, context: DistContext, what: str, remedy: str) -> None:
    """Raise UsageError naming the flags when a shuffled drop_last loader over `dataset` would yield no batch at
    all (the epoch would train nothing and still write a checkpoint). what: the items counted; remedy: the fix."""
    per_process = len(dataset) // context.world_size
    if per_process >= args.batch_size:
        return
    world = f" on each of {context.world_size} processes" if context.world_size > 1 else ""
    raise UsageError(f"{len(dataset)} {what}: fewer than one batch (--batch_size {args.batch_size}{world}), so "
                     f"no training step would run; {remedy} or lower --batch_size to at most {max(1, per_process)}")


def build_train_loader(args, context: DistContext, generator: torch.Generator,
                       workers: Optional[int] = None) -> DataLoader:
    """Loader over the "strong" frames of every --train_datasets/--train_splits pair (concatenated; upstream
    round-robined one loader per dataset, which only changes the batch composition). shuffle, drop_last.
    workers: default args.workers."""
    if len(args.train_datasets) != len(args.train_splits):
        raise UsageError(f"--train_datasets {args.train_datasets} and --train_splits {args.train_splits} must have "
                         f"the same length (they are zipped)")
    datasets = [build_dataset(args, name, split, "strong", augment=not args.no_augm, fraction=args.fraction)
                for name, split in zip(args.train_datasets, args.train_splits)]
    dataset = datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)
    require_one_batch(dataset, args, context, f"annotated training frames in {' + '.join(args.train_datasets)} "
                      f"with --fraction {args.fraction:g}", "raise --fraction")
    return make_loader(dataset, args, context, generator, collate_samples,
                       resolve_workers(args, context.device) if workers is None else workers, train=True)


def build_pair_loader(args, context: DistContext, generator: torch.Generator,
                      workers: Optional[int] = None) -> DataLoader:
    """trainmeshwarp's consist loader: items [query, reference frame(s)] (mode "full", --sample_nb, --spacing,
    --fraction of annotated frames, --consist_width frames, --consist_max_gap) of --consist_dataset/--consist_split,
    collated by datasets.collate_pairs. shuffle, drop_last; workers: default args.workers. Its dataset's
    gap_summary() says how many unannotated frames the pairs keep."""
    dataset = build_dataset(args, args.consist_dataset, args.consist_split, "full", augment=not args.no_consist_augm,
                            fraction=args.fraction, sample_nb=args.sample_nb, spacing=args.spacing,
                            consist_width=args.consist_width, max_gap=args.consist_max_gap)
    require_one_batch(dataset, args, context, f"consistency items in --consist_dataset {args.consist_dataset} "
                      f"split {args.consist_split}", "use a larger split")
    return make_loader(dataset, args, context, generator, collate_pairs,
                       resolve_workers(args, context.device) if workers is None else workers, train=True)


def build_val_loader(args, context: DistContext, generator: Optional[torch.Generator] = None) -> DataLoader:
    """Validation loader (no augmentation, fixed order; main process only): every frame of --val_split (mode
    "full", fraction 1), or with --val_frames unannotated only the frames --fraction leaves unannotated ("weak")."""
    if args.val_frames == "unannotated":
        dataset = build_dataset(args, args.val_dataset, args.val_split, "weak", augment=False, fraction=args.fraction)
    else:
        dataset = build_dataset(args, args.val_dataset, args.val_split, "full", augment=False, fraction=1.0)
    return make_loader(dataset, args, context, generator, collate_samples, resolve_workers(args, context.device),
                       train=False)
