"""Hand-mesh topology facts: finger-tip vertices and the faces that close the wrist opening.

This is the only module that knows MANO vertex/face ids and counts. A model file may carry its own topology in the
keys "hoc_tip_vertex_ids" (5,) and "hoc_wrist_faces" (K, 3) (the synthetic hand does); otherwise the constants of
the official MANO mesh apply, and only to a mesh with the official vertex count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

OFFICIAL_NUM_VERTS = 778
OFFICIAL_NUM_FACES = 1538

# Tip vertices in finger order (thumb, index, middle, ring, pinky); the left mesh uses 445 for the middle tip.
OFFICIAL_TIP_VERTEX_IDS = {
    "right": (745, 317, 444, 556, 673),
    "left": (745, 317, 445, 556, 673),
}

# The 14 triangles that close the wrist opening of the official mesh (upstream manoutils.get_closed_faces).
OFFICIAL_WRIST_FACES = np.array(
    [
        [92, 38, 122], [234, 92, 122], [239, 234, 122], [279, 239, 122], [215, 279, 122], [215, 122, 118],
        [215, 118, 117], [215, 117, 119], [215, 119, 120], [215, 120, 108], [215, 108, 79], [215, 79, 78],
        [215, 78, 121], [214, 215, 121],
    ],
    dtype=np.int64,
)

TIP_KEY = "hoc_tip_vertex_ids"
WRIST_FACES_KEY = "hoc_wrist_faces"


@dataclass(frozen=True)
class HandTopology:
    """tip_vertex_ids: 5 vertex ids (thumb, index, middle, ring, pinky); wrist_faces (K, 3) int64."""

    tip_vertex_ids: tuple[int, ...]
    wrist_faces: np.ndarray


def orient_like_mesh(extra_faces: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Winding of `extra_faces` (K, 3) made consistent with the mesh `faces` (F, 3).

    In a consistently oriented mesh, a shared edge is traversed in opposite directions by its two faces. If most
    directed edges of `extra_faces` also occur, with the same direction, in `faces`, all of them are flipped.
    """
    mesh_edges = {(int(a), int(b)) for face in faces for a, b in zip(face, np.roll(face, -1))}
    same = opposite = 0
    for face in extra_faces:
        for a, b in zip(face, np.roll(face, -1)):
            same += (int(a), int(b)) in mesh_edges
            opposite += (int(b), int(a)) in mesh_edges
    return extra_faces[:, ::-1].copy() if same > opposite else extra_faces.copy()


def hand_topology(model: dict, side: str, path: Path | str = "<model>") -> HandTopology:
    """Tip vertices and wrist-closing faces of a loaded MANO model dict (see loader.load_mano_model).

    Raises ValueError naming `path` if the model carries no topology keys and is not the official mesh, or if the
    ids are out of range.
    """
    num_verts = int(np.asarray(model["v_template"]).shape[0])
    faces = np.asarray(model["f"], dtype=np.int64)
    has_tips, has_wrist = TIP_KEY in model, WRIST_FACES_KEY in model
    if has_tips != has_wrist:
        present, absent = (TIP_KEY, WRIST_FACES_KEY) if has_tips else (WRIST_FACES_KEY, TIP_KEY)
        raise ValueError(f"{path}: has key {present!r} but not {absent!r}; a custom hand needs both")
    if has_tips:
        tips = np.asarray(model[TIP_KEY], dtype=np.int64).reshape(-1)
        wrist_faces = np.asarray(model[WRIST_FACES_KEY], dtype=np.int64)
        if wrist_faces.ndim != 2 or wrist_faces.shape[1] != 3:
            raise ValueError(f"{path}: {WRIST_FACES_KEY!r} must have shape (K, 3), got {wrist_faces.shape}")
    else:
        if num_verts != OFFICIAL_NUM_VERTS:
            raise ValueError(
                f"{path}: the model has {num_verts} vertices and no {TIP_KEY!r}/{WRIST_FACES_KEY!r} keys; the "
                f"official MANO tip vertices and wrist faces only apply to the official {OFFICIAL_NUM_VERTS}-vertex "
                f"mesh. Use the official MANO files or regenerate the synthetic hand "
                f"(python -m handobjectconsist.synth mano --out assets/mano_synth)."
            )
        tips = np.asarray(OFFICIAL_TIP_VERTEX_IDS[side], dtype=np.int64)
        wrist_faces = orient_like_mesh(OFFICIAL_WRIST_FACES, faces)
    if tips.shape != (5,):
        raise ValueError(f"{path}: expected 5 tip vertex ids (thumb, index, middle, ring, pinky), got {tips.shape}")
    for name, ids in (("tip vertex ids", tips), ("wrist faces", wrist_faces)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_verts):
            raise ValueError(f"{path}: {name} out of range for a mesh with {num_verts} vertices")
    return HandTopology(tuple(int(i) for i in tips), wrist_faces)
