"""Collate: zero-padding with validity masks, pair collate."""

import numpy as np
import pytest
import torch

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_pairs, collate_samples


def _sample(n_verts, n_faces, value, name="a"):
    return {
        K.OBJ_VERTS3D: np.full((n_verts, 3), value, dtype=np.float32),
        K.OBJ_CAN_VERTS: np.full((n_verts, 3), -value, dtype=np.float32),
        K.OBJ_FACES: np.arange(n_faces * 3, dtype=np.int64).reshape(n_faces, 3) % n_verts,
        K.JOINTS3D: torch.full((21, 3), value),
        K.OBJ_NAME: name,
        K.ANNOTATED: value > 1,
        K.FRAME_IDX: int(value),
    }


def test_padding_masks_and_no_duplicates():
    batch = collate_samples([_sample(3, 2, 1.0), _sample(5, 4, 2.0, "b")])
    assert batch[K.OBJ_VERTS3D].shape == (2, 5, 3) and batch[K.OBJ_FACES].shape == (2, 4, 3)
    assert batch[K.OBJ_VERTS_MASK].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch[K.OBJ_FACES_MASK].tolist() == [[True, True, False, False], [True] * 4]
    # Padding is zeros (not tiled copies): a masked mean equals the mean over real vertices only.
    verts, mask = batch[K.OBJ_VERTS3D], batch[K.OBJ_VERTS_MASK]
    assert torch.all(verts[0, 3:] == 0) and torch.all(batch[K.OBJ_FACES][0, 2:] == 0)
    masked_mean = (verts * mask[..., None]).sum((1, 2)) / (mask.sum(1) * 3)
    assert masked_mean.tolist() == [1.0, 2.0]
    assert batch[K.OBJ_NAME] == ["a", "b"]
    assert batch[K.ANNOTATED].dtype == torch.bool and batch[K.ANNOTATED].tolist() == [False, True]
    assert batch[K.FRAME_IDX].tolist() == [1, 2] and batch[K.JOINTS3D].shape == (2, 21, 3)


def test_pair_collate_slots():
    items = [[_sample(3, 1, 1.0), _sample(3, 1, 10.0)], [_sample(4, 2, 2.0), _sample(6, 2, 20.0)]]
    slots = collate_pairs(items)
    assert len(slots) == 2
    assert slots[0][K.FRAME_IDX].tolist() == [1, 2] and slots[1][K.FRAME_IDX].tolist() == [10, 20]
    assert slots[0][K.OBJ_VERTS3D].shape == (2, 4, 3) and slots[1][K.OBJ_VERTS3D].shape == (2, 6, 3)


def test_mismatched_keys_are_an_error():
    a, b = _sample(3, 1, 1.0), _sample(3, 1, 2.0)
    del b[K.OBJ_NAME]
    with pytest.raises(KeyError, match="obj_name"):
        collate_samples([a, b])
