"""Sparse annotation maps: which frames of each sequence carry usable ground truth ("strong" frames).

Samples are stored sequence after sequence (global index = position in the dataset's frame list). For an
annotation spacing k, in every sequence the frames at positions 0, k, 2k, ... and the last frame are annotated;
all other frames are "weak". Every frame knows the annotated frames before and after it in its own sequence
(`previous`, `next`) and the closest of the two (`closest`; a tie goes to the earlier one). Annotated frames map
to themselves.

Upstream's FPHAB rule has a quirk (docs/differences-from-upstream.md, D11): when a sequence's last frame already
lies on the grid, the *penultimate* frame is annotated instead of nothing. It is off by default (it annotates a
frame the rule does not ask for); `penultimate_quirk=True` reproduces it for comparisons with upstream. Upstream
never applied it to the dataset's final sequence, and neither does this code; unlike upstream it never promotes a
frame of a different sequence (upstream popped the last weak entry globally, which could be in an earlier one).
"""

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


def fphab_spacing(fraction: float) -> int:
    """FPHAB annotation spacing for an annotated fraction in (0, 1]: int(1 / fraction) (0.00625 -> 160)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    # The epsilon only protects against float noise just below an integer (e.g. 4.9999999999); otherwise int(1/f).
    return max(1, int(1.0 / fraction + 1e-9))


def ho3d_spacing(fraction: float, total_frames: int) -> int:
    """HO3D annotation spacing: int(total / int(fraction * total)), one global value for all sequences."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    annotated = int(fraction * total_frames)
    if annotated == 0:
        # Fewer than one annotated frame asked for: only the first and last frame of each sequence.
        return max(1, total_frames)
    return max(1, total_frames // annotated)


@dataclass
class SparseMap:
    """Annotation map over N samples (global indices).

    Attributes:
        annotated: (N,) bool.
        previous, next, closest: (N,) int64 global indices of annotated frames of the same sequence.
        dist2strong: (N,) int64 frame distance to `closest` (0 for annotated frames).
        seq_id: (N,) int64 sequence number of each sample.
    """

    annotated: np.ndarray
    previous: np.ndarray
    next: np.ndarray
    closest: np.ndarray
    dist2strong: np.ndarray
    seq_id: np.ndarray

    @property
    def strong_idxs(self) -> np.ndarray:
        """Global indices of annotated frames, increasing."""
        return np.flatnonzero(self.annotated)

    @property
    def weak_idxs(self) -> np.ndarray:
        """Global indices of unannotated frames, increasing."""
        return np.flatnonzero(~self.annotated)

    def __len__(self) -> int:
        return len(self.annotated)


def annotated_positions(length: int, spacing: int, penultimate_quirk: bool = False,
                        is_final_sequence: bool = False) -> np.ndarray:
    """Positions (0..length-1) annotated in one sequence: 0, spacing, 2*spacing, ..., and the last one."""
    if length <= 0:
        raise ValueError(f"sequence length must be positive, got {length}")
    if spacing < 1:
        raise ValueError(f"spacing must be >= 1, got {spacing}")
    mask = np.zeros(length, dtype=bool)
    mask[::spacing] = True
    last = length - 1
    if not mask[last]:
        mask[last] = True
    elif penultimate_quirk and not is_final_sequence and length >= 2:
        mask[last - 1] = True
    return np.flatnonzero(mask)


def build_sparse_map(seq_lengths: Sequence[int], spacing: int, penultimate_quirk: bool = False,
                     frame_ids: Optional[Sequence[int]] = None) -> SparseMap:
    """Annotation map for samples laid out sequence after sequence.

    Args:
        seq_lengths: number of samples in each sequence, in storage order.
        spacing: annotation step (1 = every frame annotated), see fphab_spacing / ho3d_spacing.
        penultimate_quirk: reproduce upstream's FPHAB quirk (see module docstring).
        frame_ids: (N,) frame number of each sample inside its sequence, used for distances (frames may have been
            dropped); defaults to the position in the sequence.
    Returns:
        SparseMap over sum(seq_lengths) samples.
    """
    total = int(sum(seq_lengths))
    frame_ids = np.arange(total) if frame_ids is None else np.asarray(frame_ids, dtype=np.int64)
    if len(frame_ids) != total:
        raise ValueError(f"got {len(frame_ids)} frame ids for {total} samples")
    annotated = np.zeros(total, dtype=bool)
    previous = np.zeros(total, dtype=np.int64)
    nxt = np.zeros(total, dtype=np.int64)
    seq_id = np.zeros(total, dtype=np.int64)
    start = 0
    for seq_num, length in enumerate(seq_lengths):
        positions = annotated_positions(length, spacing, penultimate_quirk,
                                        is_final_sequence=seq_num == len(seq_lengths) - 1)
        strong = start + positions
        annotated[strong] = True
        local = np.arange(start, start + length)
        # For each sample, the last annotated index <= it and the first annotated index >= it.
        previous[local] = strong[np.searchsorted(strong, local, side="right") - 1]
        nxt[local] = strong[np.searchsorted(strong, local, side="left")]
        seq_id[local] = seq_num
        start += length
    dist_prev = np.abs(frame_ids - frame_ids[previous])
    dist_next = np.abs(frame_ids[nxt] - frame_ids)
    closest = np.where(dist_next < dist_prev, nxt, previous)  # a tie goes to the previous annotated frame
    dist2strong = np.minimum(dist_prev, dist_next)
    return SparseMap(annotated, previous, nxt, closest, dist2strong, seq_id)
