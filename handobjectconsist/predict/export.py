"""Per-frame files of the predict command: overlay PNG, hand and object meshes, joints JSON.

Layout under the output folder, for a frame named NAME (image stem, or frame_000123 for a video):
    overlays/NAME.png            the frame with the predicted meshes rendered over it
    meshes/NAME_hand.obj         hand mesh, camera frame, metres (MANO vertex order; faces: MANO's, then the
                                 faces closing the wrist)
    meshes/NAME_object.obj       object mesh, camera frame, metres (the --object file's vertex order and faces)
    joints/NAME.json             21 joints: 3D camera frame (metres) and 2D pixels of the user's frame
(.ply instead of .obj with --mesh_format ply). Camera frame: OpenCV (x right, y down, z forward), the camera of
the user's frames and --intrinsics.
"""

import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import trimesh
from PIL import Image

from handobjectconsist.mano.joints import JOINT_NAMES

MESH_FORMATS = ("obj", "ply")


def write_mesh(path: Path, verts: np.ndarray, faces: np.ndarray) -> Path:
    """Write a triangle mesh (verts (V, 3) metres, faces (F, 3)) with trimesh; vertex order kept (no processing)."""
    mesh = trimesh.Trimesh(vertices=np.asarray(verts, dtype=np.float64), faces=np.asarray(faces, dtype=np.int64),
                           process=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(str(path))
    return path


def joints_record(name: str, joints3d: np.ndarray, joints2d: np.ndarray, intrinsics: np.ndarray,
                  image_size, side: str) -> Dict:
    """JSON-ready dict of one frame's joints.

    Args:
        joints3d: (21, 3) camera-frame metres; joints2d: (21, 2) pixels of the user's frame.
        intrinsics: (3, 3) the user's intrinsics; image_size (W, H) of the user's frame.
    """
    return {
        "frame": name,
        "side": side,
        "joint_names": list(JOINT_NAMES),
        "joints3d_m": np.asarray(joints3d, dtype=np.float64).round(6).tolist(),
        "joints2d_px": np.asarray(joints2d, dtype=np.float64).round(3).tolist(),
        "intrinsics": np.asarray(intrinsics, dtype=np.float64).tolist(),
        "image_size": [int(image_size[0]), int(image_size[1])],
        "units": {"joints3d_m": "metres, OpenCV camera frame (x right, y down, z forward)",
                  "joints2d_px": "pixels of the input frame; pixel (row i, col j) is centred at (u=j, v=i)"},
    }


def write_frame_outputs(out_dir: Path, name: str, overlay: np.ndarray, hand_verts: np.ndarray,
                        hand_faces: np.ndarray, obj_verts: Optional[np.ndarray], obj_faces: Optional[np.ndarray],
                        joints: Dict, mesh_format: str = "obj") -> None:
    """Write overlays/NAME.png, meshes/NAME_hand.<fmt>, meshes/NAME_object.<fmt> (if any), joints/NAME.json."""
    out_dir = Path(out_dir)
    (out_dir / "overlays").mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay).save(out_dir / "overlays" / f"{name}.png")
    write_mesh(out_dir / "meshes" / f"{name}_hand.{mesh_format}", hand_verts, hand_faces)
    if obj_verts is not None:
        write_mesh(out_dir / "meshes" / f"{name}_object.{mesh_format}", obj_verts, obj_faces)
    (out_dir / "joints").mkdir(parents=True, exist_ok=True)
    (out_dir / "joints" / f"{name}.json").write_text(json.dumps(joints, indent=1))
