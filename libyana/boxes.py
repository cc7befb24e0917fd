"""Axis-aligned boxes: the 8 corners in a fixed order and the 12 edges between them.

Corner k has the coordinates (x_{bit 2 of k}, y_{bit 1}, z_{bit 0}) with bit value 0 = the minimum, 1 = the maximum,
i.e. the order of ``[(x, y, z) for x in (lo, hi) for y in (lo, hi) for z in (lo, hi)]``. This is the order of HO3D's
``objCorners3DRest`` (its viewer joins 0-1-3-2-0, 4-5-7-6-4, 0-4, 1-5, 2-6, 3-7: exactly the pairs below).
Two corners share an edge when their indices differ in exactly one bit. Reflecting axes (e.g. the OpenGL -> OpenCV
flip of y and z) maps corner k to k XOR a constant, which keeps every such pair an edge, so BOX_EDGES holds for the
reflected corners too.
"""

from typing import Tuple

import numpy as np

BOX_EDGES: Tuple[Tuple[int, int], ...] = tuple(
    (k, k ^ bit) for k in range(8) for bit in (4, 2, 1) if k < k ^ bit
)  # 12 pairs of corner indices


def box_corners(lo, hi) -> np.ndarray:
    """(8, 3) float64 corners of the box [lo, hi] (each (3,)), in the order of the module docstring."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    bounds = np.stack([lo, hi])  # (2, 3)
    return np.array([[bounds[(k >> 2) & 1, 0], bounds[(k >> 1) & 1, 1], bounds[k & 1, 2]] for k in range(8)])


def box_edge_segments(corners) -> np.ndarray:
    """(12, 2, D) end points of the box edges, from corners (8, D) in the order of the module docstring."""
    corners = np.asarray(corners)
    if corners.shape[0] != 8:
        raise ValueError(f"box_edge_segments: expected 8 corners, got shape {corners.shape}")
    return corners[np.asarray(BOX_EDGES)]
