"""training/data.py: datasets and loaders from the trainers' flags (toy set, flags passed to datasets.build, the
one-batch check, loader settings)."""

import os

import pytest
import torch

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.datasets.handobjset import HandObjectDataset
from handobjectconsist.errors import UsageError
from handobjectconsist.training.data import build_dataset, build_train_loader, make_loader, require_one_batch
from handobjectconsist.training.distributed import DistContext
from handobjectconsist.training.options import trainmeshreg_parser


def _args(*argv):
    return trainmeshreg_parser().parse_args(list(argv))


def test_toy_dataset_follows_input_width_toy_size_and_split_seed(mano_root):
    args = _args("--mano_root", str(mano_root), "--input_width", "32", "--toy_size", "3")
    train = build_dataset(args, "toy", "train", "strong", augment=False, fraction=1.0)
    test = build_dataset(args, "toy", "test", "full", augment=False, fraction=1.0)
    assert len(train) == 3 and train[0][SK.IMAGE].shape == (3, 18, 32)
    assert not torch.equal(torch.as_tensor(train[0][SK.IMAGE]), torch.as_tensor(test[0][SK.IMAGE]))
    pairs = build_dataset(args, "toy", "train", "full", augment=False, fraction=1.0, sample_nb=2)
    assert len(pairs[0]) == 2


def test_fphab_flags_reach_the_reader_and_the_dataset(fphab_tiny_root, mano_root):
    args = _args("--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--input_width", "64",
                 "--scale_jittering", "0.1", "--fraction", "0.25")
    data = build_dataset(args, "fhbhands", "train", "strong", augment=True, fraction=args.fraction)
    assert isinstance(data, HandObjectDataset) and data.mode == "strong" and data.augment
    assert data.scale_jittering == 0.1 and data.pose_dataset.image_size[0] == 64
    assert 0 < len(data) < len(build_dataset(args, "fhbhands", "train", "full", augment=False, fraction=1.0))


def test_mini_factor_is_refused_for_ho3d_before_reading_anything(tmp_path):
    args = _args("--data_root", str(tmp_path / "absent"), "--mini_factor", "2")
    with pytest.raises(UsageError, match="--mini_factor"):
        build_dataset(args, "ho3dv2", "train", "strong", augment=False, fraction=1.0)


def test_fewer_items_than_one_batch_name_the_flags():
    args = _args("--batch_size", "4")
    require_one_batch(list(range(4)), args, DistContext(), "frames", "raise --fraction")
    with pytest.raises(UsageError, match=r"--batch_size 4 on each of 2 processes.*raise --fraction"):
        require_one_batch(list(range(7)), args, DistContext(world_size=2), "frames", "raise --fraction")


def test_train_loader_shuffles_and_drops_the_last_partial_batch(mano_root):
    args = _args("--train_datasets", "toy", "--train_splits", "train", "--mano_root", str(mano_root),
                 "--toy_size", "5", "--batch_size", "2", "--workers", "0")
    loader = build_train_loader(args, DistContext(), torch.Generator().manual_seed(0))
    assert loader.drop_last and len(loader) == 2 and loader.batch_size == 2
    with pytest.raises(UsageError, match="--train_datasets"):
        build_train_loader(_args("--train_datasets", "toy", "--train_splits", "train", "test"), DistContext(),
                           torch.Generator())


def test_split_workers_never_turns_a_positive_count_into_zero():
    from handobjectconsist.training.data import split_workers

    assert split_workers(0) == (0, 0)
    assert split_workers(1) == (1, 1)
    assert split_workers(2) == (1, 1)
    assert split_workers(5) == (2, 3)
    assert split_workers(8) == (4, 4)


def test_default_workers_is_zero_on_cpu_and_bounded_on_cuda():
    from handobjectconsist.training.data import MAX_DEFAULT_WORKERS, default_workers

    assert default_workers(torch.device("cpu")) == 0
    cpus = len(os.sched_getaffinity(0))
    assert default_workers(torch.device("cuda")) == max(1, min(MAX_DEFAULT_WORKERS, cpus))
    assert default_workers(torch.device("cuda"), local_processes=10 * cpus) == 1


def test_only_loaders_without_augmentation_keep_their_workers(fphab_tiny_root, mano_root):
    # A persistent worker keeps its base seed, and every item's augmentation derives from that seed and the item
    # index: an augmenting loader must restart its workers each epoch, or every epoch repeats the same draws.
    args = _args("--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--input_width", "64")
    cuda = DistContext(device=torch.device("cuda"))  # only read for the loader settings; nothing runs on it
    for augment, persistent in ((True, False), (False, True)):
        data = build_dataset(args, "fhbhands", "train", "full", augment=augment, fraction=1.0)
        loader = make_loader(data, args, cuda, torch.Generator(), collate_samples, workers=2, train=augment)
        assert loader.pin_memory and loader.persistent_workers == persistent
    # The draws an augmenting loader's (restarted) workers make do change between epochs.
    data = build_dataset(args, "fhbhands", "train", "full", augment=True, fraction=1.0)
    loader = make_loader(data, args, DistContext(), torch.Generator().manual_seed(0), collate_samples, workers=1,
                         train=False)
    first, second = (next(iter(loader))[SK.AFFINE] for _ in range(2))
    assert not torch.equal(first, second)
