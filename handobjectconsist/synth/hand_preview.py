"""Matplotlib preview of hand meshes (Lambert-shaded triangles), so a person can check the synthetic hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Named views in MANO's frame: (direction towards the viewer, screen-up direction).
VIEWS = {
    "back": ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)),
    "palm": ((0.0, -1.0, 0.0), (-1.0, 0.0, 0.0)),
    "thumb side": ((0.0, 0.0, 1.0), (-1.0, 0.0, 0.0)),
    "oblique": ((0.45, -0.55, 0.7), (-1.0, 0.0, 0.0)),
}


def view_rotation(towards_viewer, up) -> np.ndarray:
    """Rotation (3, 3) taking MANO-frame points to a view frame (x right, y up, z towards the viewer)."""
    z = np.asarray(towards_viewer, dtype=np.float64)
    z = z / np.linalg.norm(z)
    y = np.asarray(up, dtype=np.float64) - z * np.dot(up, z)
    y = y / np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z])


def draw_mesh(ax, verts: np.ndarray, faces: np.ndarray, rotation: np.ndarray, color=(0.85, 0.68, 0.58)):
    """Painter's-algorithm drawing of verts (V, 3) / faces (F, 3) seen along -z after `rotation`, on a 2D axis."""
    from matplotlib.collections import PolyCollection

    v = verts @ rotation.T
    tri = v[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = np.array([0.3, 0.5, 0.8])
    light /= np.linalg.norm(light)
    lambert = np.clip(normals @ light, 0, 1)
    facing = normals[:, 2] > 0
    order = np.argsort(tri[:, :, 2].mean(axis=1))
    order = order[facing[order]]
    shade = 0.3 + 0.7 * lambert[order]
    colors = np.clip(np.asarray(color)[None] * shade[:, None], 0, 1)
    polys = tri[order][:, :, :2]
    ax.add_collection(PolyCollection(polys, facecolors=colors, edgecolors=colors * 0.85, linewidths=0.2))
    ax.set_xlim(v[:, 0].min() - 0.01, v[:, 0].max() + 0.01)
    ax.set_ylim(v[:, 1].min() - 0.01, v[:, 1].max() + 0.01)
    ax.set_aspect("equal")
    ax.axis("off")


def save_preview(path, meshes: list, titles: list, views=("back", "palm", "thumb side", "oblique")) -> Path:
    """Grid figure: one row per mesh (verts (V,3), faces (F,3)), one column per named view. Returns path."""
    import matplotlib.pyplot as plt

    rows, cols = len(meshes), len(views)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for r, ((verts, faces), title) in enumerate(zip(meshes, titles)):
        for c, view in enumerate(views):
            draw_mesh(axes[r, c], verts, faces, view_rotation(*VIEWS[view]))
            axes[r, c].set_title(f"{title}: {view}", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
