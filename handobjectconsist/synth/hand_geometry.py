"""Parametric right-hand surface with MANO's vertex/face counts (778 / 1538) and one 16-vertex wrist opening.

Built in the local hand frame (u, w, n) of hand_dimensions, whose counts and template dimensions it uses;
`to_mano_frame` maps it to MANO's canonical right-hand frame.

Surface layout (all counts fixed, so every shape parameter gives the same topology):
  wrist ring (16, the open boundary) -> transition ring (28) -> 5 palm rings (34) -> knuckle loop C (34 vertices
  shared with the four finger base loops, adjacent fingers share a 2-vertex web edge) -> finger tubes of 10-vertex
  rings ending in a fan to a tip apex. The thumb tube (12-vertex rings) grows out of a 12-vertex hole cut in the
  radial-palmar side of the palm rings.
Euler: a genus-0 surface with one b-vertex boundary has F = 2V - 2 - b = 2*778 - 2 - 16 = 1538 faces.
"""

from __future__ import annotations

import numpy as np

from handobjectconsist.synth.hand_dimensions import (
    BASE_OFFSET,
    FINGER_FIRST_JOINT,
    FINGER_FLATTEN,
    FINGER_RADIUS,
    FINGER_RING,
    FINGER_RINGS,
    FINGERS,
    FOREARM_STUB,
    KNUCKLE_GAP,
    MCP_U,
    MCP_W,
    NUM_PALM_RINGS,
    PALM_LENGTH,
    PALM_RING,
    PHALANGES,
    SPLAY_DEG,
    THUMB_BONES,
    THUMB_CMC,
    THUMB_DIRS,
    THUMB_HOLE,
    THUMB_RADIUS,
    THUMB_RING,
    THUMB_RINGS,
    TIP_TAPER,
    TRANSITION_RING,
    WRIST_HALF_THICK,
    WRIST_HALF_WIDTH,
    WRIST_RING,
    HandGeometry,
    HandShape,
    ring_angles,
    smoothstep,
    to_mano_frame,
    unit,
)
from handobjectconsist.synth.hand_mesh_builder import MeshBuilder, strip_fill


class _HandBuilder:
    def __init__(self, shape: HandShape):
        self.s = shape
        self.mb = MeshBuilder()
        self.chain: list[np.ndarray] = []
        self.chain_s: list[np.ndarray] = []

    # ---- bookkeeping ----
    def add(self, points_uwn, chain_id: int, s_values) -> np.ndarray:
        ids = self.mb.add_vertices(points_uwn)
        self.chain.append(np.full(len(ids), chain_id, dtype=np.int64))
        self.chain_s.append(np.broadcast_to(np.asarray(s_values, dtype=np.float64), (len(ids),)).copy())
        return ids

    # ---- dimensions with shape factors applied ----
    def finger_frame(self, name):
        s = self.s
        u0 = MCP_U[name] * s.palm_width + PALM_LENGTH * s.palm_length
        mcp = np.array([u0, MCP_W[name] * s.palm_width, -0.001]) * s.size
        ang = np.deg2rad(SPLAY_DEG[name] * s.finger_spread)
        d = np.array([np.cos(ang), np.sin(ang), 0.0])
        lateral = np.array([-np.sin(ang), np.cos(ang), 0.0])
        normal = np.array([0.0, 0.0, 1.0])
        bones = np.array(PHALANGES[name]) * s.finger_length * s.size
        radius = FINGER_RADIUS[name] * s.finger_thickness * s.size
        return mcp, d, lateral, normal, bones, radius

    def finger_radius_at(self, name, s_arc, bones, radius):
        total = bones.sum()
        t = np.clip(s_arc / total, 0.0, 1.0)
        taper = 1.0 - (1.0 - TIP_TAPER ** self.s.tip_taper) * t
        knots = np.cumsum(bones)[:2]
        bulge = sum(0.05 * np.exp(-(((s_arc - k) / (0.18 * bones[0])) ** 2)) for k in knots)
        waist = -0.03 * np.sin(np.pi * np.clip(s_arc / bones[0], 0, 1)) * (s_arc < bones[0])
        return radius * (taper + bulge + waist)

    # ---- finger base loops (the knuckle loop C) ----
    def finger_base_points(self, name, half_left, half_right):
        """Base loop (10, 3) of a finger; half_left/right: w extent of its -w / +w side from its axis."""
        mcp, d, lat, nrm, bones, radius = self.finger_frame(name)
        centre = mcp + d * BASE_OFFSET[name] * self.s.size
        th = ring_angles(FINGER_RING)
        c, sn = np.cos(th), np.sin(th)
        half = np.where(c > 0, half_right, half_left)
        # corners sit on the web midpoint; interior points follow a rounded profile of the finger width
        wcoord = np.where(np.abs(c) > 0.9, np.sign(c) * half, c * radius * 1.02)
        rn = radius * FINGER_FLATTEN * 1.05
        ncoord = sn * rn * np.where(sn < 0, 1.08, 1.0)
        return centre[None] + wcoord[:, None] * lat[None] + ncoord[:, None] * nrm[None]

    def build(self) -> HandGeometry:
        s = self.s
        mb = self.mb
        order_w = ["pinky", "ring", "middle", "index"]  # from -w to +w
        frames = {n: self.finger_frame(n) for n in FINGERS}
        base_centres = {n: frames[n][0] + frames[n][1] * BASE_OFFSET[n] * s.size for n in FINGERS}
        halves = {}
        for k, name in enumerate(order_w):
            lat = frames[name][2]
            r = frames[name][5]
            left = (
                abs(np.dot(base_centres[order_w[k - 1]] - base_centres[name], lat)) / 2 if k > 0 else r * 1.02
            )
            right = (
                abs(np.dot(base_centres[order_w[k + 1]] - base_centres[name], lat)) / 2
                if k < 3
                else r * 1.02
            )
            halves[name] = (left, right)
        base_pts = {n: self.finger_base_points(n, *halves[n]) for n in FINGERS}

        # Knuckle loop C (34 vertices): the four base rings, a web vertex shared by neighbouring fingers.
        base_ids = {}
        c_pts = []
        c_owner = []
        plan = [("index", j) for j in range(4)]  # dorsal side, from the index (+w) to the pinky (-w)
        for a, b in (("index", "middle"), ("middle", "ring"), ("ring", "pinky")):
            plan.append(("web", (a, 4, b, 0)))
            plan += [(b, j) for j in range(1, 4)]
        plan += [("pinky", j) for j in range(4, 9)]  # around the pinky's ulnar side
        for a, b in (("pinky", "ring"), ("ring", "middle"), ("middle", "index")):  # palmar side, back to +w
            plan.append(("web", (a, 9, b, 5)))
            plan += [(b, j) for j in range(6, 9)]
        plan.append(("index", 9))
        assert len(plan) == PALM_RING, len(plan)
        for item in plan:
            if item[0] == "web":
                a, ja, b, jb = item[1]
                p = 0.5 * (base_pts[a][ja] + base_pts[b][jb])
                owner = (a, ja, b, jb)
            else:
                p = base_pts[item[0]][item[1]]
                owner = (item[0], item[1])
            c_pts.append(p)
            c_owner.append(owner)
        c_pts = np.array(c_pts)
        for n in FINGERS:
            base_ids[n] = np.full(FINGER_RING, -1, dtype=np.int64)

        # ---- wrist, transition and palm rings ----
        u_wrist = -FOREARM_STUB * s.size
        palm_end_u = c_pts[:, 0] - KNUCKLE_GAP * s.size
        c_centre = np.array([c_pts[:, 1].mean(), 0.5 * (c_pts[:, 2].max() + c_pts[:, 2].min())])
        c_half = np.array([np.ptp(c_pts[:, 1]) / 2, np.ptp(c_pts[:, 2]) / 2])
        phi = np.arctan2((c_pts[:, 2] - c_centre[1]) / c_half[1], (c_pts[:, 1] - c_centre[0]) / c_half[0])
        wrist_half = np.array([WRIST_HALF_WIDTH * s.palm_width, WRIST_HALF_THICK * s.palm_thickness]) * s.size

        def superellipse(angles, half, p=3.0, centre=(0.0, 0.0)):
            c, sn = np.cos(angles), np.sin(angles)
            w = half[0] * np.sign(c) * np.abs(c) ** (2 / p) + centre[0]
            n = half[1] * np.sign(sn) * np.abs(sn) ** (2 / p) + centre[1]
            return w, n

        # knuckle-level cross-section: C outline pushed slightly outwards (the knuckle bulge)
        kn_w = c_centre[0] + (c_pts[:, 1] - c_centre[0]) * 1.04
        kn_n = c_centre[1] + ((c_pts[:, 2] - c_centre[1]) * np.where(c_pts[:, 2] > c_centre[1], 1.18, 1.25)
                              * s.palm_thickness)
        # wrist-level section: the superellipse sampled at the same arc-length fractions as the loop C, so
        # that consecutive palm rings correspond point by point and stay monotone around the palm
        c_closed = np.concatenate([c_pts[:, 1:], c_pts[:1, 1:]])
        c_frac = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(c_closed, axis=0), axis=1))])
        c_frac = c_frac[:-1] / c_frac[-1]
        dense_phi = phi[0] + np.linspace(0.0, 2 * np.pi, 2001)
        dw, dn = superellipse(dense_phi, wrist_half, p=2.6, centre=(0.002 * s.size, -0.001 * s.size))
        d_frac = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(dw), np.diff(dn)))])
        d_frac /= d_frac[-1]
        wr_w, wr_n = np.interp(c_frac, d_frac, dw), np.interp(c_frac, d_frac, dn)

        def palm_section(t):
            """Palm cross-section (34 points, local uwn) at fraction t in [0, 1] from wrist joint to knuckles."""
            b = smoothstep(t)
            w = (1 - b) * wr_w + b * kn_w
            n = (1 - b) * wr_n + b * kn_n
            # palmar fullness (thenar / hypothenar pads) peaks mid-palm on the palmar side
            palmar = np.clip(-np.sin(phi), 0, None)
            pad = 0.0045 * s.size * s.palm_thickness * np.sin(np.pi * np.clip(t, 0, 1)) ** 0.8
            thenar = 0.004 * s.size * s.thenar * np.exp(-(((w - 0.018 * s.size) / (0.018 * s.size)) ** 2))
            n = n - palmar * (pad + thenar * np.sin(np.pi * np.clip(t * 1.3, 0, 1)))
            # dorsal side slightly domed
            n = n + np.clip(np.sin(phi), 0, None) * 0.0015 * s.size * np.sin(np.pi * np.clip(t, 0, 1))
            u = (1 - t) * 0.0 + t * palm_end_u
            return np.stack([u, w, n], axis=1)

        # wrist ring and transition ring: superellipses at the forearm stub
        phi_w = 2 * np.pi * np.arange(WRIST_RING) / WRIST_RING + phi[0]
        ww, wn = superellipse(phi_w, wrist_half * 0.97, p=2.4, centre=(0.002 * s.size, -0.001 * s.size))
        wrist_pts = np.stack([np.full(WRIST_RING, u_wrist), ww, wn], axis=1)
        wrist_ids = self.add(wrist_pts, -1, u_wrist)
        phi_t = 2 * np.pi * np.arange(TRANSITION_RING) / TRANSITION_RING + phi[0]
        tw, tn = superellipse(phi_t, wrist_half, p=2.5, centre=(0.002 * s.size, -0.001 * s.size))
        trans_pts = np.stack([np.full(TRANSITION_RING, u_wrist * 0.45), tw, tn], axis=1)
        trans_ids = self.add(trans_pts, -1, u_wrist * 0.45)

        r0, r1, j0, span = THUMB_HOLE
        hole_cols = [(j0 + k) % PALM_RING for k in range(span + 1)]
        interior_cols = set(hole_cols[1:-1])
        palm_rows = np.full((NUM_PALM_RINGS, PALM_RING), -1, dtype=np.int64)
        ts = np.linspace(0.0, 1.0, NUM_PALM_RINGS)
        for r, t in enumerate(ts):
            pts = palm_section(t)
            keep = np.ones(PALM_RING, dtype=bool)
            if r0 < r < r1:
                keep[list(interior_cols)] = False
            ids = self.add(pts[keep], -1, pts[keep, 0])
            palm_rows[r, keep] = ids

        # knuckle loop vertices (finger base rings)
        c_ids = self.add(c_pts, -1, c_pts[:, 0])
        for cid, owner in zip(c_ids, c_owner):
            if len(owner) == 4:
                a, ja, b, jb = owner
                base_ids[a][ja] = cid
                base_ids[b][jb] = cid
            else:
                base_ids[owner[0]][owner[1]] = cid
        for n in FINGERS:
            assert (base_ids[n] >= 0).all(), n

        # ---- faces: wrist -> transition -> palm grid (with thumb hole) -> knuckle loop ----
        mb.bridge(wrist_ids, trans_ids)
        mb.bridge(trans_ids, palm_rows[0])

        def skip(r, j):
            return r0 <= r < r1 and j in hole_cols[:-1]

        mb.grid(palm_rows, skip=skip)
        mb.bridge(palm_rows[-1], c_ids)

        # ---- finger tubes ----
        tips = {}
        joints = np.zeros((16, 3))
        bone_ends = np.zeros((16, 3))
        flex_axes = np.zeros((16, 3))
        spread_axes = np.zeros((16, 3))
        for name in FINGERS:
            mcp, d, lat, nrm, bones, radius = frames[name]
            first = FINGER_FIRST_JOINT[name]
            knots = np.concatenate([[0.0], np.cumsum(bones)])
            for k in range(3):
                joints[first + k] = mcp + d * knots[k]
                bone_ends[first + k] = mcp + d * knots[k + 1]
                flex_axes[first + k] = np.cross(nrm, d)
                spread_axes[first + k] = nrm
            n_prox, n_mid, n_dist, n_cap = FINGER_RINGS[name]
            s_base = BASE_OFFSET[name] * s.size
            tip_r = self.finger_radius_at(name, knots[3], bones, radius)
            cap_start = knots[3] - tip_r
            stations = list(np.linspace(s_base, knots[1], n_prox + 1)[1:])
            stations += list(np.linspace(knots[1], knots[2], n_mid + 1)[1:])
            stations += list(np.linspace(knots[2], cap_start, n_dist + 1)[1:])
            prev = base_ids[name]
            for sa in stations:
                prev = self._finger_ring(name, mcp, d, lat, nrm, sa, self.finger_radius_at(name, sa, bones, radius),
                                         first, prev)
            for k in range(1, n_cap + 1):
                beta = np.pi / 2 * k / (n_cap + 1)
                sa = cap_start + tip_r * np.sin(beta)
                rad = tip_r * np.cos(beta)
                prev = self._finger_ring(name, mcp, d, lat, nrm, sa, rad, first, prev)
            # apex sits slightly palmar, like a finger pad
            apex_pt = mcp + d * knots[3] - nrm * 0.15 * tip_r
            apex = self.add(apex_pt[None], first, knots[3])[0]
            mb.cap(prev, apex)
            tips[name] = apex

        # ---- thumb ----
        t_dirs = [unit(v) for v in THUMB_DIRS]
        t_bones = np.array(THUMB_BONES) * s.thumb_length * s.size
        cmc = THUMB_CMC * s.size * np.array([s.palm_length, s.palm_width, 1.0])
        t_joints = [cmc]
        for k in range(3):
            t_joints.append(t_joints[-1] + t_dirs[k] * t_bones[k])
        # thumb nail (dorsal) direction: between the hand's dorsal normal and the radial side
        for k in range(3):
            d = t_dirs[k]
            back = unit(np.array([0.0, 0.62, 0.78]) - d * np.dot(np.array([0.0, 0.62, 0.78]), d))
            joints[13 + k] = t_joints[k]
            bone_ends[13 + k] = t_joints[k + 1]
            flex_axes[13 + k] = unit(np.cross(back, d))
            spread_axes[13 + k] = back
        hole_loop = [palm_rows[r0, c] for c in hole_cols]
        hole_loop += [palm_rows[r, hole_cols[-1]] for r in range(r0 + 1, r1 + 1)]
        hole_loop += [palm_rows[r1, c] for c in reversed(hole_cols[:-1])]
        hole_loop += [palm_rows[r, hole_cols[0]] for r in range(r1 - 1, r0, -1)]
        assert len(hole_loop) == THUMB_RING, len(hole_loop)

        knots = np.concatenate([[0.0], np.cumsum(t_bones)])
        t_rad = np.array(THUMB_RADIUS) * s.finger_thickness * s.size
        t_rad[0] *= s.thenar

        def thumb_point(sa):
            seg = min(int(np.searchsorted(knots, sa, side="right") - 1), 2)
            seg = max(seg, 0)
            return t_joints[seg] + t_dirs[seg] * (sa - knots[seg]), seg

        def thumb_radius(sa):
            return np.interp(sa, [0.012 * s.size, knots[1], knots[2], knots[3]], t_rad)

        def thumb_frame(sa):
            # smooth frame: blend directions near the joints
            d = unit(sum(t_dirs[k] * np.exp(-(((sa - (knots[k] + knots[k + 1]) / 2) / 0.02) ** 2)) for k in range(3)))
            back = unit(np.array([0.0, 0.62, 0.78]) - d * np.dot(np.array([0.0, 0.62, 0.78]), d))
            lat_ = np.cross(back, d)
            return d, lat_, back

        s0 = 0.014 * s.size
        stations = [s0]
        stations += list(np.linspace(s0, knots[1], THUMB_RINGS[0] + 1)[1:])
        stations += list(np.linspace(knots[1], knots[2], THUMB_RINGS[1] + 1)[1:])
        t_tip_r = thumb_radius(knots[3])
        t_cap_start = knots[3] - t_tip_r
        stations += list(np.linspace(knots[2], t_cap_start, THUMB_RINGS[2] + 1)[1:])
        prev = np.asarray(hole_loop)
        th = ring_angles(THUMB_RING)
        for idx, sa in enumerate(stations):
            centre, _ = thumb_point(sa)
            d, lat_, back = thumb_frame(sa)
            rad = thumb_radius(sa)
            rw, rn = rad, rad * 0.86
            if idx == 0:
                rw, rn = rad * 1.35, rad * 1.0
            pts = centre[None] + (np.cos(th) * rw)[:, None] * lat_[None] + (np.sin(th) * rn)[:, None] * back[None]
            ring = self.add(pts, 13, sa)
            mb.bridge(prev, ring)
            prev = ring
        for k in range(1, THUMB_RINGS[3] + 1):
            beta = np.pi / 2 * k / (THUMB_RINGS[3] + 1)
            sa = t_cap_start + t_tip_r * np.sin(beta)
            centre, _ = thumb_point(sa)
            d, lat_, back = thumb_frame(sa)
            rad = t_tip_r * np.cos(beta)
            pts = (centre[None] + (np.cos(th) * rad)[:, None] * lat_[None]
                   + (np.sin(th) * rad * 0.86)[:, None] * back[None])
            ring = self.add(pts, 13, sa)
            mb.bridge(prev, ring)
            prev = ring
        d, lat_, back = thumb_frame(knots[3])
        apex_pt, _ = thumb_point(knots[3])
        apex_pt = apex_pt - back * 0.15 * t_tip_r
        tips["thumb"] = self.add(apex_pt[None], 13, knots[3])[0]
        mb.cap(prev, tips["thumb"])

        # ---- wrist joint, palm landmarks ----
        joints[0] = np.array([0.0, 0.002, -0.001]) * s.size
        bone_ends[0] = joints[FINGER_FIRST_JOINT["middle"]]
        flex_axes[0] = np.array([0.0, 1.0, 0.0])
        spread_axes[0] = np.array([0.0, 0.0, 1.0])

        wrist_faces = np.array(strip_fill(wrist_ids), dtype=np.int64)
        verts = mb.vertices
        origin = joints[FINGER_FIRST_JOINT["middle"]] * np.array([1.0, 0.0, 0.0])
        tips_arr = np.array([tips[n] for n in ("thumb", "index", "middle", "ring", "pinky")], dtype=np.int64)
        return HandGeometry(
            verts=to_mano_frame(verts - origin),
            faces=mb.faces,
            wrist_faces=wrist_faces,
            wrist_loop=np.asarray(wrist_ids, dtype=np.int64),
            tips=tips_arr,
            joints=to_mano_frame(joints - origin),
            bone_ends=to_mano_frame(bone_ends - origin),
            chain=np.concatenate(self.chain),
            chain_s=np.concatenate(self.chain_s),
            flex_axes=to_mano_frame(flex_axes),
            spread_axes=to_mano_frame(spread_axes),
        )

    def _finger_ring(self, name, mcp, d, lat, nrm, sa, rad, first, prev):
        th = ring_angles(FINGER_RING)
        c, sn = np.cos(th), np.sin(th)
        rn = rad * FINGER_FLATTEN
        ncoord = sn * rn * np.where(sn < 0, 1.08, 1.0)
        centre = mcp + d * sa
        pts = centre[None] + (c * rad)[:, None] * lat[None] + ncoord[:, None] * nrm[None]
        ring = self.add(pts, first, sa)
        self.mb.bridge(prev, ring)
        return ring


def build_hand_geometry(shape: HandShape | None = None) -> HandGeometry:
    """The hand surface for the given shape factors (template when None)."""
    return _HandBuilder(shape or HandShape()).build()

