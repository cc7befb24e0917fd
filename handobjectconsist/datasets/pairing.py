"""Which annotated frames accompany a query frame in a consistency item (docs/differences-from-upstream.md, K5).

An item is [query, neighbour_1, ..., neighbour_{sample_nb-1}]. Neighbour k gets a signed distance whose sign
alone matters: > 0 -> the next annotated frame of the sequence, < 0 -> the previous one, 0 -> the closest one
(a tie goes to the previous). The distances alternate, starting from d = 0: odd k: d += spacing, then +d;
even k: -d, then d += spacing. So sample_nb=2, spacing=0 gives [t, closest]; sample_nb=3, spacing=1 gives
[t, next, previous]; sample_nb=3, spacing=0 gives [t, closest, closest].
"""

from typing import List

from .sparse import SparseMap


def neighbour_signed_distances(sample_nb: int, spacing: int) -> List[int]:
    """Signed distances of the sample_nb - 1 neighbours of a query frame (see module docstring)."""
    if sample_nb < 1:
        raise ValueError(f"sample_nb must be >= 1, got {sample_nb}")
    distances = []
    dist = 0
    for k in range(1, sample_nb):
        if k % 2 == 1:
            dist += spacing
            distances.append(dist)
        else:
            distances.append(-dist)
            dist += spacing
    return distances


def neighbour_index(sparse_map: SparseMap, idx: int, signed_distance: int) -> int:
    """Global index of the annotated frame paired with sample `idx` for one signed distance."""
    if signed_distance > 0:
        return int(sparse_map.next[idx])
    if signed_distance < 0:
        return int(sparse_map.previous[idx])
    return int(sparse_map.closest[idx])


def item_indices(sparse_map: SparseMap, idx: int, sample_nb: int, spacing: int) -> List[int]:
    """[idx, neighbour indices...] for a consistency item (an annotated query is paired with itself)."""
    return [idx] + [neighbour_index(sparse_map, idx, d) for d in neighbour_signed_distances(sample_nb, spacing)]
