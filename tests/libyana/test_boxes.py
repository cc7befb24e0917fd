"""Box corners in HO3D's order and the 12 edges between them."""

import numpy as np
import pytest

from libyana.boxes import BOX_EDGES, box_corners, box_edge_segments


def test_box_corner_order_and_edges():
    corners = box_corners([0, 0, 0], [1, 2, 3])
    np.testing.assert_array_equal(corners[0], [0, 0, 0])
    np.testing.assert_array_equal(corners[1], [0, 0, 3])  # bit 0: z
    np.testing.assert_array_equal(corners[2], [0, 2, 0])  # bit 1: y
    np.testing.assert_array_equal(corners[4], [1, 0, 0])  # bit 2: x
    np.testing.assert_array_equal(corners[7], [1, 2, 3])
    # HO3D's viewer joins 0-1-3-2-0, 4-5-7-6-4, 0-4, 1-5, 2-6, 3-7.
    ho3d = {(0, 1), (1, 3), (2, 3), (0, 2), (4, 5), (5, 7), (6, 7), (4, 6), (0, 4), (1, 5), (2, 6), (3, 7)}
    assert set(BOX_EDGES) == ho3d
    lengths = sorted(np.linalg.norm(box_edge_segments(corners)[:, 1] - box_edge_segments(corners)[:, 0], axis=1))
    np.testing.assert_allclose(lengths, [1] * 4 + [2] * 4 + [3] * 4)


def test_edge_segments_need_eight_corners():
    with pytest.raises(ValueError, match="8 corners"):
        box_edge_segments(np.zeros((7, 2)))
