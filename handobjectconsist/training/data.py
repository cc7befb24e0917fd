"""Datasets and loaders for training/validation from the command-line flags."""

from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.training.distributed import DistContext
from handobjectconsist.training.toy_data import ToyHandObjectDataset

TOY_IMAGE_SIZE = (64, 36)


DATASET_FOLDERS = {"fhbhands": "fhbhands", "ho3dv2": "ho3dv2"}
# A file or folder that identifies a dataset root, for --data_root pointing at the dataset itself.
DATASET_MARKERS = {"fhbhands": "Hand_pose_annotation_v1", "ho3dv2": "train"}


def dataset_root(args, name: str) -> Path:
    """data_root/<name> (upstream layout data/fhbhands, data/ho3dv2), or data_root itself when it already is
    that dataset's folder (e.g. a synthetic set written with `python -m handobjectconsist.synth fphab --out DIR`)."""
    if name not in DATASET_FOLDERS:
        raise NotImplementedError(f"dataset {name!r} is not available in this re-implementation; "
                                  f"use one of {sorted(DATASET_FOLDERS)} or 'toy'")
    root = Path(args.data_root)
    nested = root / DATASET_FOLDERS[name]
    if not nested.is_dir() and (root / DATASET_MARKERS[name]).exists():
        return root
    return nested


def default_skeleton_regressor(args) -> Optional[Path]:
    """The regressor written by `python -m handobjectconsist.datasets.fit_fphab` next to the FPHAB fits, if any."""
    if "fhbhands" not in args.train_datasets:
        return None
    path = dataset_root(args, "fhbhands") / "fhbhands_fits" / "fhb_skel_regressor.npz"
    return path if path.is_file() else None


def build_dataset(args, name: str, split: str, mode: str, augment: bool, fraction: float) -> Dataset:
    """A dataset of single-frame sample dicts (sample_keys).

    Args:
        name: fhbhands | ho3dv2 | toy.
        mode: "strong" (annotated frames only; training) or "full" (validation).
    """
    if name == "toy":
        width = args.input_width or TOY_IMAGE_SIZE[0]
        height = max(1, round(width * TOY_IMAGE_SIZE[1] / TOY_IMAGE_SIZE[0]))
        seed = args.manual_seed * 1000 + (0 if split == "train" else 1)
        return ToyHandObjectDataset(args.mano_root, size=args.toy_size, image_size=(width, height), seed=seed)
    from handobjectconsist.datasets import FPHAB, HO3DV2, HandObjectDataset

    root = dataset_root(args, name)
    if name == "fhbhands":
        reader = FPHAB(root, split=split, fraction=fraction, input_width=args.input_width, mano_root=args.mano_root,
                       mini_factor=None if args.mini_factor == 1 else args.mini_factor)
    else:
        if args.mini_factor != 1:
            raise ValueError("--mini_factor is only implemented for fhbhands")
        reader = HO3DV2(root, split=split, split_mode=args.split_mode, fraction=fraction,
                        like_v1=args.version == 1, input_width=args.input_width, mano_root=args.mano_root)
    return HandObjectDataset(reader, mode=mode, augment=augment, center_jittering=args.center_jittering,
                             scale_jittering=args.scale_jittering, max_rot=0.0 if args.block_rot else args.max_rot)


def build_train_loader(args, context: DistContext, generator: torch.Generator) -> DataLoader:
    """Loader over the "strong" frames of every --train_datasets/--train_splits pair (concatenated; upstream
    round-robined one loader per dataset, which only changes the batch composition). shuffle, drop_last."""
    if len(args.train_datasets) != len(args.train_splits):
        raise ValueError(f"--train_datasets {args.train_datasets} and --train_splits {args.train_splits} must have "
                         f"the same length (they are zipped)")
    datasets = [build_dataset(args, name, split, "strong", augment=not args.no_augm, fraction=args.fraction)
                for name, split in zip(args.train_datasets, args.train_splits)]
    dataset = datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)
    sampler = None
    if context.distributed:
        sampler = DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank, shuffle=True,
                                     seed=args.manual_seed, drop_last=True)
    return DataLoader(dataset, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                      drop_last=True, num_workers=args.workers, collate_fn=collate_samples, generator=generator,
                      worker_init_fn=_worker_init(), pin_memory=context.device.type == "cuda",
                      persistent_workers=False)


def build_val_loader(args, context: DistContext, generator: Optional[torch.Generator] = None) -> DataLoader:
    """Validation loader (mode "full", fraction 1, no augmentation, fixed order). Runs on the main process only."""
    dataset = build_dataset(args, args.val_dataset, args.val_split, "full", augment=False, fraction=1.0)
    return DataLoader(dataset, batch_size=args.batch_size, shuffle=False, drop_last=False,
                      num_workers=args.workers, collate_fn=collate_samples, generator=generator,
                      worker_init_fn=_worker_init(), pin_memory=context.device.type == "cuda")


def _worker_init():
    try:
        from handobjectconsist.datasets.handobjset import seed_worker
    except ImportError:  # pragma: no cover - datasets package without the helper
        return None
    return seed_worker
