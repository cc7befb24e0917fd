"""Batching of sample dicts. Object meshes of different sizes are zero-padded with validity masks.

Upstream tiled smaller object meshes by repetition, so duplicated vertices counted twice in losses and metrics
(docs/differences-from-upstream.md, D8). Here the per-vertex keys are padded with zeros up to the largest
vertex count in the batch and OBJ_VERTS_MASK (B, N) marks the real ones; OBJ_FACES is padded with [0, 0, 0]
faces (degenerate, covering no pixel) and OBJ_FACES_MASK (B, F) marks the real ones. Losses and metrics must
weight per-vertex terms by the mask.
"""

from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from . import sample_keys as K

PADDED_VERTEX_KEYS = (K.OBJ_VERTS3D, K.OBJ_VERTS2D, K.OBJ_CAN_VERTS)
PADDED_FACE_KEYS = (K.OBJ_FACES,)


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    return torch.as_tensor(value)


def _pad_stack(values: Sequence[Any]):
    """Stack (N_b, ...) arrays into (B, max N, ...) with zeros, and the (B, max N) bool validity mask."""
    tensors = [_as_tensor(v) for v in values]
    max_len = max(t.shape[0] for t in tensors)
    out = tensors[0].new_zeros((len(tensors), max_len) + tuple(tensors[0].shape[1:]))
    mask = torch.zeros((len(tensors), max_len), dtype=torch.bool)
    for b, t in enumerate(tensors):
        out[b, : t.shape[0]] = t
        mask[b, : t.shape[0]] = True
    return out, mask


def collate_samples(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Collate single-frame sample dicts into one batch dict.

    Tensors/arrays/numbers get a leading batch dimension B; strings become lists of B strings; object vertex
    keys are padded (see module docstring) and OBJ_VERTS_MASK / OBJ_FACES_MASK are added when object keys exist.
    Every sample must have the same keys.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    keys = list(samples[0].keys())
    for sample in samples[1:]:
        if set(sample.keys()) != set(keys):
            diff = set(sample.keys()) ^ set(keys)
            raise KeyError(f"samples in one batch must have the same keys; these differ: {sorted(diff)}")
    batch: Dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in samples]
        if key in PADDED_VERTEX_KEYS:
            batch[key], mask = _pad_stack(values)
            if K.OBJ_VERTS_MASK in batch and not torch.equal(batch[K.OBJ_VERTS_MASK], mask):
                raise ValueError(f"{key} vertex counts differ from the other object vertex keys")
            batch[K.OBJ_VERTS_MASK] = mask
        elif key in PADDED_FACE_KEYS:
            batch[key], batch[K.OBJ_FACES_MASK] = _pad_stack(values)
        elif isinstance(values[0], str):
            batch[key] = list(values)
        elif isinstance(values[0], (bool, np.bool_)):
            batch[key] = torch.tensor([bool(v) for v in values], dtype=torch.bool)
        else:
            batch[key] = torch.stack([_as_tensor(v) for v in values])
    return batch


def collate_pairs(items: List[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """Collate consistency items (each a list of sample_nb sample dicts) into a list of sample_nb batch dicts.

    batch_list[0] holds the query frames, batch_list[k] the k-th neighbours; sample b of every slot comes from the
    same item. Each slot is padded independently.
    """
    if not items:
        raise ValueError("cannot collate an empty list of items")
    slots = len(items[0])
    if any(len(item) != slots for item in items):
        raise ValueError(f"all items must hold the same number of frames, got {[len(i) for i in items]}")
    return [collate_samples([item[slot] for item in items]) for slot in range(slots)]
