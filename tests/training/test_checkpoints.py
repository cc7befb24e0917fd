import random

import numpy as np
import pytest
import torch

from handobjectconsist.training.checkpoints import (
    CheckpointError,
    atomic_torch_save,
    capture_rng_states,
    load_checkpoint,
    restore_rng_states,
)


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle")


def test_failed_save_keeps_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "checkpoint.pth"
    atomic_torch_save({"a": torch.ones(3)}, path)
    with pytest.raises(RuntimeError):
        atomic_torch_save({"a": _Unpicklable()}, path)
    assert torch.equal(torch.load(path)["a"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pth"]


def test_rng_round_trip():
    generator = torch.Generator().manual_seed(5)
    states = capture_rng_states(generator)
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    restore_rng_states(states, generator)
    second = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and torch.equal(first[3], second[3])


def test_foreign_files_are_rejected_with_path(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a handobjectconsist"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pth")
