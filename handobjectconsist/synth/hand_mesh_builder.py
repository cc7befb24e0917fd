"""Incremental triangle-mesh builder made of vertex loops: tubes, bridges between loops, caps.

Orientation convention: a loop is listed counter-clockwise when seen from the side its tube grows towards
(the tube axis pointing at the viewer). With that convention `bridge(proximal, distal)` and `cap(loop, apex)`
produce outward-facing triangles.
"""

from __future__ import annotations

import numpy as np


class MeshBuilder:
    """Collects vertices (N, 3) and triangles (F, 3) while a surface is assembled loop by loop."""

    def __init__(self):
        self._verts: list[np.ndarray] = []
        self._faces: list[list[int]] = []
        self.num_verts = 0

    def add_vertices(self, points: np.ndarray) -> np.ndarray:
        """points (N, 3) -> their new vertex ids (N,)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        ids = np.arange(self.num_verts, self.num_verts + len(points))
        self._verts.append(points)
        self.num_verts += len(points)
        return ids

    def add_face(self, a: int, b: int, c: int) -> None:
        self._faces.append([int(a), int(b), int(c)])

    @property
    def vertices(self) -> np.ndarray:
        return np.concatenate(self._verts, axis=0)

    @property
    def faces(self) -> np.ndarray:
        return np.asarray(self._faces, dtype=np.int64)

    def bridge(self, proximal, distal) -> None:
        """Triangulate the band between two loops of any lengths (len(proximal) + len(distal) triangles).

        The distal loop is rolled so that it starts at the vertex closest to proximal[0]; then both loops are
        walked by arc-length fraction, always advancing the one that lags behind.
        """
        proximal = np.asarray(proximal)
        distal = np.asarray(distal)
        verts = self.vertices
        start = int(np.argmin(np.linalg.norm(verts[distal] - verts[proximal[0]], axis=1)))
        distal = np.roll(distal, -start)
        tp = _arc_fractions(verts[proximal])
        td = _arc_fractions(verts[distal])
        na, nb = len(proximal), len(distal)
        i = j = 0
        while i < na or j < nb:
            advance_proximal = j >= nb or (i < na and tp[i + 1] <= td[j + 1])
            if advance_proximal:
                self.add_face(proximal[i % na], proximal[(i + 1) % na], distal[j % nb])
                i += 1
            else:
                self.add_face(proximal[i % na], distal[(j + 1) % nb], distal[j % nb])
                j += 1

    def cap(self, loop, apex: int) -> None:
        """Close the distal end of a tube with a fan to the apex vertex."""
        loop = np.asarray(loop)
        n = len(loop)
        for k in range(n):
            self.add_face(loop[k], loop[(k + 1) % n], apex)

    def grid(self, rows: np.ndarray, skip=None) -> None:
        """Quads between consecutive loops of equal length; rows (R, M) ids, proximal first.

        skip(r, j) -> bool leaves out the quad between rows r, r+1 and columns j, j+1 (to cut holes).
        """
        num_rows, m = rows.shape
        for r in range(num_rows - 1):
            for j in range(m):
                if skip is not None and skip(r, j):
                    continue
                a, b = rows[r, j], rows[r, (j + 1) % m]
                c, d = rows[r + 1, j], rows[r + 1, (j + 1) % m]
                self.add_face(a, b, c)
                self.add_face(b, d, c)


def _arc_fractions(points: np.ndarray) -> np.ndarray:
    """Cumulative arc-length fraction along a closed loop (N, 3) -> (N + 1,), from 0 to 1."""
    seg = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
    return np.concatenate([[0.0], np.cumsum(seg) / seg.sum()])


def strip_fill(loop) -> list[tuple[int, int, int]]:
    """Zig-zag triangulation of a planar-ish loop (len(loop) - 2 triangles), facing opposite to the tube.

    The loop is the proximal (open) end of a tube, listed counter-clockwise seen from the tube's growth side, so
    the filling triangles are wound clockwise from that side, i.e. they face out of the closed surface.
    """
    loop = list(loop)
    n = len(loop)
    lo, hi = 0, n - 1
    tris = []
    take_low = True
    while hi - lo >= 2:
        if take_low:
            tris.append((loop[lo], loop[hi], loop[lo + 1]))
            lo += 1
        else:
            tris.append((loop[lo], loop[hi], loop[hi - 1]))
            hi -= 1
        take_low = not take_low
    return tris
