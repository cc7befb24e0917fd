"""Sparse annotation maps against hand-computed examples."""

import numpy as np
import pytest

from handobjectconsist.datasets.sparse import build_sparse_map, fphab_spacing, ho3d_spacing


def test_issue_acceptance_example_fraction_quarter():
    smap = build_sparse_map([10, 7, 9], fphab_spacing(0.25))
    assert set(smap.strong_idxs.tolist()) == {0, 4, 8, 9, 10, 14, 16, 17, 21, 25}
    assert len(smap.strong_idxs) + len(smap.weak_idxs) == 26


def test_upstream_quirk_promotes_penultimate_except_in_final_sequence():
    # Sequence lengths 9, 9: the first sequence's last frame (8) lies on the grid -> quirk annotates 7 as well;
    # the final sequence never gets the quirk.
    plain = build_sparse_map([9, 9], 4)
    quirk = build_sparse_map([9, 9], 4, penultimate_quirk=True)
    assert plain.strong_idxs.tolist() == [0, 4, 8, 9, 13, 17]
    assert quirk.strong_idxs.tolist() == [0, 4, 7, 8, 9, 13, 17]
    # The acceptance example is the same with and without the quirk.
    assert build_sparse_map([10, 7, 9], 4, penultimate_quirk=True).strong_idxs.tolist() == [0, 4, 8, 9, 10, 14, 16,
                                                                                            17, 21, 25]


def test_quirk_neighbour_maps_follow_the_annotated_set():
    # The quirk mode reproduces which frames are annotated; the neighbour maps are derived from that set, so frames
    # before the promoted penultimate frame (7) pair with it (differences-from-upstream.md, D11).
    plain = build_sparse_map([9, 9], 4)
    quirk = build_sparse_map([9, 9], 4, penultimate_quirk=True)
    assert (plain.previous[6], plain.next[6], plain.closest[6]) == (4, 8, 4)
    assert (quirk.previous[6], quirk.next[6], quirk.closest[6]) == (4, 7, 7)
    assert quirk.previous[7] == quirk.next[7] == quirk.closest[7] == 7 and quirk.dist2strong[7] == 0
    assert quirk.dist2strong[6] == 1


def test_previous_next_closest_with_tie_to_previous():
    smap = build_sparse_map([10, 7, 9], 4)
    # Sequence 1: strong 0,4,8,9. Frame 2 is equidistant from 0 and 4 -> previous (0); frame 3 -> 4.
    assert (smap.previous[2], smap.next[2], smap.closest[2]) == (0, 4, 0)
    assert (smap.previous[3], smap.next[3], smap.closest[3]) == (0, 4, 4)
    assert smap.dist2strong[2] == 2 and smap.dist2strong[3] == 1
    # Sequence 2 (10..16): strong 10,14,16; frame 15 is between 14 and 16 -> tie -> 14.
    assert (smap.previous[15], smap.next[15], smap.closest[15]) == (14, 16, 14)
    # Annotated frames map to themselves.
    for idx in smap.strong_idxs:
        assert smap.previous[idx] == smap.next[idx] == smap.closest[idx] == idx
        assert smap.dist2strong[idx] == 0
    # Neighbours never cross a sequence boundary.
    assert np.all(smap.seq_id[smap.previous] == smap.seq_id) and np.all(smap.seq_id[smap.next] == smap.seq_id)


def test_distances_use_frame_ids_when_frames_were_dropped():
    # One sequence whose stored frames are 0, 1, 2, 10 (frames 3-9 had no annotation line): spacing 2 -> positions
    # 0, 2, 3 annotated; position 1 (frame 1) is 1 frame from both 0 and 2 -> tie -> previous.
    smap = build_sparse_map([4], 2, frame_ids=[0, 1, 2, 10])
    assert smap.strong_idxs.tolist() == [0, 2, 3]
    assert smap.closest[1] == 0 and smap.dist2strong[1] == 1


def test_fraction_one_annotates_everything_and_spacings():
    assert build_sparse_map([5, 3], fphab_spacing(1.0)).annotated.all()
    assert fphab_spacing(0.00625) == 160 and fphab_spacing(0.1) == 10 and fphab_spacing(0.5) == 2
    # HO3D: global spacing int(total / int(fraction * total)): 100 frames at 0.1 -> 10 annotated -> spacing 10.
    assert ho3d_spacing(0.1, 100) == 10 and ho3d_spacing(0.3, 10) == 3 and ho3d_spacing(0.01, 50) == 50
    with pytest.raises(ValueError):
        fphab_spacing(0.0)
