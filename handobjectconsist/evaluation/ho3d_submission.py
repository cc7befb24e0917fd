"""HO3D-v2 CodaLab submission writer (docs/differences-from-upstream.md, K7).

The submission is `pred.json` = [xyz_list, verts_list]: per evaluation frame, in dataset order, the 21 hand joints
(HO3D/MANO order: 16 MANO joints then the 5 tips) and the hand mesh vertices, in metres, in HO3D's OpenGL camera
frame (x right, y up, z backwards), every coordinate rounded to 5 decimals. CodaLab takes `pred.zip` holding
`pred.json` at the archive root.

The project works in the OpenCV frame and the project joint order, so each frame is converted back here:
joints are reordered with PROJECT_TO_MANO (the inverse of the reading order MANO_TO_PROJECT) and (x, y, z) becomes
(x, -y, -z).
"""

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

from handobjectconsist.errors import UserError
from handobjectconsist.mano.joints import NUM_JOINTS, PROJECT_TO_MANO
from libyana.fileio import atomic_write_bytes

ArrayLike = Union[np.ndarray, torch.Tensor]

JSON_NAME = "pred.json"
ZIP_NAME = "pred.zip"
DECIMALS = 5
OPENCV_TO_OPENGL = np.array([1.0, -1.0, -1.0])


class HO3DFileError(UserError, ValueError):
    """A submission or reference file that cannot be read (the message names the file and what it should hold)."""


class MissingHO3DFileError(UserError, FileNotFoundError):
    """A submission or reference file that does not exist (the message names it)."""


@dataclass(frozen=True)
class SubmissionPaths:
    """Where a submission was written."""

    json: Path
    zip: Path


def _to_numpy(values: ArrayLike) -> np.ndarray:
    if torch.is_tensor(values):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def to_ho3d_frame(joints3d: ArrayLike, hand_verts3d: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Convert project-convention predictions to the HO3D submission convention.

    Args:
        joints3d: (B, 21, 3) joints in project order, OpenCV camera frame, metres.
        hand_verts3d: (B, V, 3) hand vertices, OpenCV camera frame, metres.
    Returns:
        joints (B, 21, 3) in HO3D (MANO + tips) order and verts (B, V, 3), both float64, OpenGL frame, metres.
    """
    joints, verts = _to_numpy(joints3d), _to_numpy(hand_verts3d)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"HO3D submission: joints3d must have shape (B, {NUM_JOINTS}, 3), got {joints.shape}")
    if verts.ndim != 3 or verts.shape[2] != 3 or verts.shape[0] != joints.shape[0]:
        raise ValueError(f"HO3D submission: hand_verts3d must have shape (B={joints.shape[0]}, V, 3), "
                         f"got {verts.shape}")
    return joints[:, list(PROJECT_TO_MANO)] * OPENCV_TO_OPENGL, verts * OPENCV_TO_OPENGL


def _rounded(points: np.ndarray) -> List[List[float]]:
    return [[round(float(c), DECIMALS) for c in point] for point in points]


class HO3DSubmissionWriter:
    """Accumulates per-batch predictions in dataset order, then writes pred.json and pred.zip.

    Usage (evaluation loop over the HO3D-v2 "test" split, shuffle=False):
        writer = HO3DSubmissionWriter()
        for batch in loader:
            results = model(batch)  # recov_joints3d (B, 21, 3), recov_handverts3d (B, 778, 3), OpenCV metres
            writer.add(results["recov_joints3d"], results["recov_handverts3d"])
        paths = writer.write(out_dir)   # out_dir/pred.json, out_dir/pred.zip
    """

    def __init__(self) -> None:
        self._joints: List[List[List[float]]] = []
        self._verts: List[List[List[float]]] = []
        self._num_verts: Optional[int] = None

    def __len__(self) -> int:
        """Number of frames added so far."""
        return len(self._joints)

    def add(self, joints3d: ArrayLike, hand_verts3d: ArrayLike, root_joints3d: Optional[ArrayLike] = None) -> None:
        """Append a batch of predictions (the next B frames in dataset order).

        Args:
            joints3d: (B, 21, 3) predicted joints, project order, OpenCV camera frame, metres.
            hand_verts3d: (B, V, 3) predicted hand vertices, OpenCV camera frame, metres.
            root_joints3d: optional (B, 3) wrist positions (OpenCV, metres) replacing the predicted wrist (joint 0),
                upstream's --true_root.
        """
        joints = _to_numpy(joints3d)
        if root_joints3d is not None:
            roots = _to_numpy(root_joints3d)
            if roots.shape != (joints.shape[0], 3):
                raise ValueError(f"HO3D submission: root_joints3d must have shape (B={joints.shape[0]}, 3), "
                                 f"got {roots.shape}")
            joints = joints.copy()
            joints[:, 0] = roots
        joints, verts = to_ho3d_frame(joints, hand_verts3d)
        if not (np.isfinite(joints).all() and np.isfinite(verts).all()):
            raise ValueError(f"HO3D submission: non-finite predicted coordinates in the batch starting at frame "
                             f"{len(self)}")
        if self._num_verts is None:
            self._num_verts = verts.shape[1]
        elif verts.shape[1] != self._num_verts:
            raise ValueError(f"HO3D submission: every frame needs the same number of hand vertices; frames so far "
                             f"had {self._num_verts}, this batch has {verts.shape[1]}")
        self._joints.extend(_rounded(frame) for frame in joints)
        self._verts.extend(_rounded(frame) for frame in verts)

    def to_json(self) -> str:
        """The submission JSON text: [xyz_list, verts_list]."""
        return json.dumps([self._joints, self._verts])

    def write(self, out_dir: Union[str, Path], expected_frames: Optional[int] = None) -> SubmissionPaths:
        """Write out_dir/pred.json and out_dir/pred.zip (pred.json at the archive root), each atomically.

        Args:
            out_dir: output folder (created if needed).
            expected_frames: if given, the number of frames the split has (11524 for the official HO3D-v2
                evaluation set); a mismatch raises instead of writing a submission CodaLab would reject.
        """
        if expected_frames is not None and len(self) != expected_frames:
            raise ValueError(f"HO3D submission: {len(self)} frames were added but the split has {expected_frames}; "
                             "run the model over the whole split in dataset order (shuffle=False, no drop_last)")
        out_dir = Path(out_dir)
        text = self.to_json().encode("utf-8")
        json_path, zip_path = out_dir / JSON_NAME, out_dir / ZIP_NAME
        atomic_write_bytes(json_path, text)
        atomic_write_bytes(zip_path, _zip_bytes(JSON_NAME, text))
        return SubmissionPaths(json=json_path, zip=zip_path)


def _zip_bytes(member_name: str, data: bytes) -> bytes:
    """A zip archive (deflate) holding one member, as bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member_name, data)
    return buffer.getvalue()


def frames_array(values, source: Union[str, Path], what: str, num_points: Optional[int] = None) -> np.ndarray:
    """A JSON list of frames, each a list of [x, y, z] points, as a (N, K, 3) float64 array.

    Args:
        values: the decoded JSON value; source: the file it came from (named in errors); what: what the list holds
            (e.g. "xyz_list"); num_points: the number of points every frame must have (None: any, but the same).
    Raises:
        HO3DFileError (a ValueError) naming the file and the first offending frame.
    """
    expected = f"a list of frames, each a list of {num_points if num_points else 'K'} [x, y, z] points"
    if not isinstance(values, list):
        raise HO3DFileError(f"{source}: {what} must be {expected}, got {type(values).__name__}")
    if not values:
        return np.zeros((0, num_points or 0, 3))
    try:
        array = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != 3 or array.shape[2] != 3 or (num_points and array.shape[1] != num_points):
        wanted = num_points
        for idx, frame in enumerate(values):  # find the first frame that does not fit, to name it
            try:
                shape = np.asarray(frame, dtype=np.float64).shape
            except (ValueError, TypeError):
                shape = "not a list of [x, y, z] numbers"
            wanted = shape[0] if wanted is None and isinstance(shape, tuple) and len(shape) == 2 else wanted
            if shape != (wanted, 3):
                raise HO3DFileError(f"{source}: {what} must be {expected}; frame {idx} has shape {shape} instead of "
                                 f"({wanted}, 3)")
        raise HO3DFileError(f"{source}: {what} must be {expected}; got shape {getattr(array, 'shape', None)}")
    if not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array))[0][0])
        raise HO3DFileError(f"{source}: {what} has non-finite coordinates (first in frame {bad})")
    return array


def read_submission(path: Union[str, Path]) -> Tuple[np.ndarray, np.ndarray]:
    """Read a submission back from pred.json or pred.zip.

    Returns:
        joints (N, 21, 3) and verts (N, V, 3) float64, as stored (HO3D order, OpenGL frame, metres).
    Raises:
        MissingHO3DFileError (a FileNotFoundError) for a missing file; HO3DFileError (a ValueError, naming the file)
        for anything that is not a submission.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingHO3DFileError(f"{path}: no such submission file (expected pred.json or pred.zip written by "
                                "HO3DSubmissionWriter.write)")
    hint = "expected pred.json or pred.zip as written by evalho3dv2.py: [xyz_list, verts_list]"
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                if JSON_NAME not in archive.namelist():
                    raise HO3DFileError(f"{path}: the archive must hold {JSON_NAME} at its root, "
                                     f"found {archive.namelist()}")
                content = json.loads(archive.read(JSON_NAME).decode("utf-8"))
        else:
            content = json.loads(path.read_text(encoding="utf-8"))
    except zipfile.BadZipFile as err:
        raise HO3DFileError(f"{path}: not a zip archive ({err}); {hint}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HO3DFileError(f"{path}: not valid JSON ({err}); {hint}") from None
    if not (isinstance(content, list) and len(content) == 2):
        raise HO3DFileError(f"{path}: {hint}, got something else")
    try:
        joints = frames_array(content[0], path, "xyz_list", NUM_JOINTS)
        verts = frames_array(content[1], path, "verts_list")
    except HO3DFileError as err:
        raise HO3DFileError(f"{err} ({hint})") from None
    if len(joints) != len(verts):
        raise HO3DFileError(f"{path}: xyz_list has {len(joints)} frames but verts_list has {len(verts)}; both need one "
                         "entry per frame")
    return joints, verts
