"""Pairing of query frames with annotated frames (docs/differences-from-upstream.md, K5)."""

from handobjectconsist.datasets.pairing import item_indices, neighbour_signed_distances
from handobjectconsist.datasets.sparse import build_sparse_map


def test_signed_distance_pattern():
    assert neighbour_signed_distances(2, 0) == [0]
    assert neighbour_signed_distances(3, 1) == [1, -1]
    # By the documented rule: d=2 -> +2; -2 then d=4; d=6 -> +6; -6 (only signs matter).
    assert neighbour_signed_distances(5, 2) == [2, -2, 6, -6]
    assert neighbour_signed_distances(1, 3) == []


def test_item_indices_default_next_previous_and_self_pairing():
    smap = build_sparse_map([10, 7, 9], 4)  # strong 0,4,8,9 | 10,14,16 | 17,21,25
    assert item_indices(smap, 3, 2, 0) == [3, 4]  # closest
    assert item_indices(smap, 2, 2, 0) == [2, 0]  # tie -> previous
    assert item_indices(smap, 22, 3, 1) == [22, 25, 21]  # [t, next, previous]
    assert item_indices(smap, 22, 3, 0) == [22, 21, 21]  # closest twice
    assert item_indices(smap, 14, 2, 0) == [14, 14]  # annotated query pairs with itself
