"""Procedural household objects (metres, real-world sizes) with a signed distance and a printed-label texture.

Every object is a stack of rings: ring k sits at height z_k and has a superellipse cross-section with half-widths
(a_k, b_k) and exponent p (2 = ellipse, large = rounded rectangle). That covers bottles, a soap dispenser, a milk
carton with a gable top, a salt shaker, boxes, cans and a mug, each with a few hundred to ~1000 faces.
Model frame: height along +z, the origin at the centre of the part the hand grips; the hand's palm faces +x.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

# FPHAB folder name -> object used by its actions (upstream key "juice" -> juice_bottle).
FPHAB_OBJECTS = ("juice", "liquid_soap", "milk", "salt")
# HO3D-v2 (YCB) objects this generator models.
HO3D_OBJECTS = (
    "003_cracker_box",
    "004_sugar_box",
    "006_mustard_bottle",
    "010_potted_meat_can",
    "021_bleach_cleanser",
    "025_mug",
)


@dataclass
class ObjectModel:
    """A procedural object.

    verts (V, 3) float64 metres and faces (F, 3) int64 (outward, counter-clockwise seen from outside);
    rings (R, 3) rows (z, a, b) and exponent define the analytic shape used by `sdf`; style drives `texture`.
    """

    name: str
    verts: np.ndarray
    faces: np.ndarray
    rings: np.ndarray
    exponent: float
    style: dict = field(default_factory=dict)

    def grip_half_width(self) -> float:
        """Distance (m) from the z axis to the surface along +x at z = 0 (where the palm touches)."""
        return float(np.interp(0.0, self.rings[:, 0], self.rings[:, 1]))

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Approximate signed distance (N,) in metres (negative inside) of model-frame points (N, 3).

        Exact in sign; the magnitude under-estimates the distance to the side walls by at most the ratio of the
        half-widths, which is enough to detect and limit interpenetration.
        """
        rings = torch.as_tensor(self.rings, dtype=points.dtype, device=points.device)
        z = points[:, 2]
        zc = z.clamp(rings[0, 0], rings[-1, 0])
        idx = torch.searchsorted(rings[:, 0].contiguous(), zc.contiguous()).clamp(1, len(rings) - 1)
        z0, z1 = rings[idx - 1, 0], rings[idx, 0]
        t = ((zc - z0) / (z1 - z0).clamp(min=1e-9)).clamp(0, 1)
        a = rings[idx - 1, 1] * (1 - t) + rings[idx, 1] * t
        b = rings[idx - 1, 2] * (1 - t) + rings[idx, 2] * t
        p = self.exponent
        rho = ((points[:, 0].abs() / a) ** p + (points[:, 1].abs() / b) ** p) ** (1.0 / p)
        side = (rho - 1.0) * torch.minimum(a, b)
        cap = torch.maximum(rings[0, 0] - z, z - rings[-1, 0])
        return torch.maximum(side, cap)

    def texture(self, points: torch.Tensor) -> torch.Tensor:
        """Albedo (N, 3) in [0, 1] at model-frame points (N, 3)."""
        from handobjectconsist.synth.textures import object_texture

        return object_texture(points, self.style)

    def bbox_corners(self) -> np.ndarray:
        """(8, 3) corners of the axis-aligned bounding box of the vertices (metres, model frame)."""
        lo, hi = self.verts.min(0), self.verts.max(0)
        return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def ring_mesh(rings: np.ndarray, exponent: float, segments: int) -> tuple:
    """Closed mesh of a ring stack.

    Args:
        rings: (R, 3) rows (z, a, b), z increasing; a ring with a or b ~0 is allowed (ridge).
        exponent: superellipse exponent of the cross-section.
        segments: vertices per ring.
    Returns:
        verts (R * segments + 2, 3) float64 and faces (2 * segments * R, 3) int64, outward-facing.
    """
    theta = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    e = 2.0 / exponent
    ux = np.sign(c) * np.abs(c) ** e
    uy = np.sign(s) * np.abs(s) ** e
    verts = [np.stack([a * ux, b * uy, np.full(segments, z)], axis=1) for z, a, b in rings]
    verts.append(np.array([[0.0, 0.0, rings[0, 0]], [0.0, 0.0, rings[-1, 0]]]))
    verts = np.concatenate(verts, axis=0)
    bottom, top = len(rings) * segments, len(rings) * segments + 1
    faces = []
    j = np.arange(segments)
    jn = (j + 1) % segments
    for r in range(len(rings) - 1):
        lo, hi = r * segments, (r + 1) * segments
        faces.append(np.stack([lo + j, lo + jn, hi + jn], axis=1))
        faces.append(np.stack([lo + j, hi + jn, hi + j], axis=1))
    faces.append(np.stack([np.full(segments, bottom), jn, j], axis=1))
    last = (len(rings) - 1) * segments
    faces.append(np.stack([np.full(segments, top), last + j, last + jn], axis=1))
    return verts, np.concatenate(faces, axis=0).astype(np.int64)


def _profile(height_fractions, half_widths, height, z_grip):
    """Rings (R, 3) from fractions of the height and (a, b) half-widths, shifted so z_grip (fraction) is z = 0."""
    z = (np.asarray(height_fractions, dtype=np.float64) - z_grip) * height
    ab = np.asarray(half_widths, dtype=np.float64)
    return np.concatenate([z[:, None], ab], axis=1)


def _style(name: str, rings: np.ndarray, palette: dict) -> dict:
    """Label layout for an object: colours from the palette, text blocks from a name-seeded generator."""
    rng = np.random.default_rng(abs(hash_name(name)))
    height = rings[-1, 0] - rings[0, 0]
    radius = float(np.max(rings[:, 1:]))
    z_lo = rings[0, 0] + palette.get("label_lo", 0.2) * height
    z_hi = rings[0, 0] + palette.get("label_hi", 0.65) * height
    blocks = []
    for _ in range(palette.get("n_blocks", 7)):
        s0 = rng.uniform(-np.pi, np.pi - 0.5) * radius
        z0 = rng.uniform(z_lo, z_hi - 0.012)
        blocks.append([s0, s0 + rng.uniform(0.01, 0.04), z0, z0 + rng.uniform(0.004, 0.012)])
    return {
        "seed": int(rng.integers(1 << 20)),
        "base": palette["base"],
        "label": palette["label"],
        "stripe": palette["stripe"],
        "ink": palette.get("ink", [0.08, 0.08, 0.1]),
        "cap": palette["cap"],
        "label_z": (float(z_lo), float(z_hi)),
        "cap_z": float(rings[0, 0] + palette.get("cap_from", 0.9) * height),
        "stripe_freq": palette.get("stripe_freq", 60.0),
        "stripe_angle": palette.get("stripe_angle", 0.3),
        "blocks": np.asarray(blocks, dtype=np.float32),
        "radius": radius,
    }


def hash_name(name: str) -> int:
    """Stable (process-independent) 31-bit hash of a string."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0x7FFFFFFF
    return h


# name -> (height_fractions, half widths (a, b) in metres, height m, grip fraction, exponent, segments, palette)
_SPECS = {
    "juice": (
        [0.0, 0.01, 0.55, 0.68, 0.78, 0.86, 0.87, 0.97, 1.0],
        [[0.030, 0.030], [0.033, 0.033], [0.033, 0.033], [0.030, 0.030], [0.016, 0.016], [0.014, 0.014],
         [0.016, 0.016], [0.016, 0.016], [0.012, 0.012]],
        0.20, 0.35, 2.0, 32,
        {"base": [0.95, 0.55, 0.1], "label": [0.98, 0.9, 0.3], "stripe": [0.9, 0.25, 0.1], "cap": [0.1, 0.5, 0.15],
         "cap_from": 0.86, "label_lo": 0.15, "label_hi": 0.6},
    ),
    "liquid_soap": (
        [0.0, 0.02, 0.75, 0.8, 0.81, 0.88, 0.9, 0.97, 1.0],
        [[0.036, 0.022], [0.038, 0.024], [0.038, 0.024], [0.03, 0.02], [0.013, 0.013], [0.013, 0.013],
         [0.006, 0.006], [0.006, 0.006], [0.005, 0.005]],
        0.20, 0.4, 2.5, 32,
        {"base": [0.55, 0.3, 0.7], "label": [0.95, 0.95, 0.95], "stripe": [0.4, 0.6, 0.9], "cap": [0.95, 0.95, 0.92],
         "cap_from": 0.8, "label_lo": 0.2, "label_hi": 0.6, "stripe_angle": 1.2},
    ),
    "milk": (
        [0.0, 0.01, 0.76, 0.93, 1.0],
        [[0.034, 0.034], [0.035, 0.035], [0.035, 0.035], [0.035, 0.004], [0.035, 0.004]],
        0.20, 0.4, 10.0, 40,
        {"base": [0.95, 0.95, 0.97], "label": [0.2, 0.45, 0.85], "stripe": [0.95, 0.95, 0.97], "cap": [0.2, 0.45, 0.85],
         "cap_from": 0.9, "label_lo": 0.1, "label_hi": 0.7, "stripe_freq": 30.0, "stripe_angle": 0.0},
    ),
    "salt": (
        [0.0, 0.02, 0.7, 0.72, 0.9, 0.97, 1.0],
        [[0.022, 0.022], [0.024, 0.024], [0.024, 0.024], [0.025, 0.025], [0.025, 0.025], [0.018, 0.018],
         [0.008, 0.008]],
        0.10, 0.4, 2.0, 28,
        {"base": [0.9, 0.9, 0.92], "label": [0.85, 0.1, 0.1], "stripe": [0.98, 0.98, 0.98], "cap": [0.75, 0.75, 0.78],
         "cap_from": 0.72, "label_lo": 0.15, "label_hi": 0.6, "stripe_freq": 90.0},
    ),
    "003_cracker_box": (
        [0.0, 0.005, 0.995, 1.0],
        [[0.078, 0.028], [0.08, 0.03], [0.08, 0.03], [0.078, 0.028]],
        0.21, 0.5, 12.0, 40,
        {"base": [0.85, 0.1, 0.1], "label": [0.98, 0.85, 0.3], "stripe": [0.85, 0.1, 0.1], "cap": [0.85, 0.1, 0.1],
         "cap_from": 0.95, "label_lo": 0.3, "label_hi": 0.85, "n_blocks": 10},
    ),
    "004_sugar_box": (
        [0.0, 0.005, 0.995, 1.0],
        [[0.043, 0.018], [0.045, 0.02], [0.045, 0.02], [0.043, 0.018]],
        0.175, 0.5, 12.0, 40,
        {"base": [0.95, 0.92, 0.7], "label": [0.95, 0.92, 0.7], "stripe": [0.2, 0.3, 0.75], "cap": [0.95, 0.92, 0.7],
         "cap_from": 0.96, "label_lo": 0.1, "label_hi": 0.8, "stripe_freq": 25.0, "stripe_angle": 0.8},
    ),
    "006_mustard_bottle": (
        [0.0, 0.02, 0.7, 0.78, 0.8, 0.92, 0.94, 1.0],
        [[0.045, 0.027], [0.048, 0.029], [0.048, 0.029], [0.04, 0.025], [0.018, 0.018], [0.016, 0.016],
         [0.008, 0.008], [0.004, 0.004]],
        0.19, 0.4, 2.4, 32,
        {"base": [0.95, 0.82, 0.1], "label": [0.95, 0.82, 0.1], "stripe": [0.9, 0.3, 0.05], "cap": [0.95, 0.82, 0.1],
         "cap_from": 0.99, "label_lo": 0.15, "label_hi": 0.6, "stripe_freq": 40.0},
    ),
    "010_potted_meat_can": (
        [0.0, 0.03, 0.97, 1.0],
        [[0.046, 0.024], [0.05, 0.028], [0.05, 0.028], [0.046, 0.024]],
        0.083, 0.5, 5.0, 36,
        {"base": [0.25, 0.35, 0.75], "label": [0.95, 0.95, 0.9], "stripe": [0.9, 0.75, 0.2], "cap": [0.7, 0.7, 0.72],
         "cap_from": 0.97, "label_lo": 0.2, "label_hi": 0.8, "stripe_freq": 70.0},
    ),
    "021_bleach_cleanser": (
        [0.0, 0.02, 0.72, 0.82, 0.85, 0.95, 1.0],
        [[0.048, 0.031], [0.05, 0.033], [0.05, 0.033], [0.035, 0.025], [0.016, 0.016], [0.016, 0.016],
         [0.012, 0.012]],
        0.25, 0.35, 3.0, 32,
        {"base": [0.95, 0.95, 0.95], "label": [0.2, 0.5, 0.9], "stripe": [0.95, 0.95, 0.95], "cap": [0.9, 0.1, 0.15],
         "cap_from": 0.85, "label_lo": 0.2, "label_hi": 0.65},
    ),
    "025_mug": (
        [0.0, 0.01, 0.98, 1.0],
        [[0.036, 0.036], [0.04, 0.04], [0.041, 0.041], [0.039, 0.039]],
        0.082, 0.5, 2.0, 36,
        {"base": [0.15, 0.45, 0.3], "label": [0.9, 0.9, 0.85], "stripe": [0.15, 0.45, 0.3], "cap": [0.1, 0.1, 0.1],
         "cap_from": 0.995, "label_lo": 0.3, "label_hi": 0.7, "stripe_freq": 80.0, "stripe_angle": 1.57},
    ),
}


def make_object(name: str) -> ObjectModel:
    """The procedural object called `name` (one of FPHAB_OBJECTS or HO3D_OBJECTS)."""
    if name not in _SPECS:
        raise KeyError(f"unknown synthetic object {name!r}; expected one of {sorted(_SPECS)}")
    fractions, half_widths, height, grip, exponent, segments, palette = _SPECS[name]
    rings = _profile(fractions, half_widths, height, grip)
    verts, faces = ring_mesh(rings, exponent, segments)
    return ObjectModel(name, verts, faces, rings, exponent, _style(name, rings, palette))
