"""Running a trained MeshRegNet on frames of the user's camera.

The network sees each frame resized to its input width (PIL bilinear, as the dataset readers do for
--input_width) with the intrinsics scaled to match (libyana.camutils.scale_intrinsics, pixel-centre
convention). Resizing changes pixels, not the camera, so the predicted 3D points are already in the user's camera
frame (metres); the 2D joints of the user's frame are their projection with the user's intrinsics.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.datasets.frames import resized_size
from handobjectconsist.models.trained import LoadedModel
from handobjectconsist.predict.errors import PredictError
from handobjectconsist.predict.frames import resize_to_width
from handobjectconsist.predict.objects import ObjectModel
from libyana.camutils import project_points, scale_intrinsics

# Width of the frames a checkpoint trained without --input_width saw: FPHAB's Video_files_480 (the reader's
# default folder), HO3D-v2's 640x480 frames.
NATIVE_WIDTHS = {"fhbhands": 480, "ho3dv2": 640}


def parse_intrinsics(values: Sequence[float]) -> np.ndarray:
    """--intrinsics fx fy cx cy (pixels) -> (3, 3) float64 matrix; PredictError for a wrong count or focal."""
    values = list(values or [])
    if len(values) != 4:
        raise PredictError(f"--intrinsics: expected 4 numbers 'fx fy cx cy' (pixels of your frames), got "
                           f"{len(values)}: {' '.join(str(v) for v in values) or '(none)'}")
    fx, fy, cx, cy = (float(v) for v in values)
    if not all(np.isfinite([fx, fy, cx, cy])) or fx <= 0 or fy <= 0:
        raise PredictError(f"--intrinsics {fx} {fy} {cx} {cy}: fx and fy must be positive focal lengths in pixels "
                           f"and all four values finite")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def network_width(loaded: LoadedModel, frame_width: int, override: Optional[int] = None) -> int:
    """Frame width fed to the network: --input_width if given, else the checkpoint's training --input_width, else
    the stored width of its training set (NATIVE_WIDTHS), else the frames' own width (e.g. the 'toy' set)."""
    if override is not None:
        if override <= 0:
            raise PredictError(f"--input_width {override}: must be a positive number of pixels")
        return int(override)
    if loaded.input_width is not None:
        return loaded.input_width
    for dataset in loaded.opts.get("train_datasets", []):
        if dataset in NATIVE_WIDTHS:
            return NATIVE_WIDTHS[dataset]
    return int(frame_width)


@dataclass
class FramePredictions:
    """Predictions for a batch of B frames, numpy, camera frame of the user's camera.

    Attributes:
        hand_verts: (B, V, 3) metres.
        joints3d: (B, 21, 3) metres, project joint order (mano.joints.JOINT_NAMES).
        joints2d: (B, 21, 2) pixels of the user's frames.
        obj_verts: (B, N, 3) metres, or None without an object.
    """

    hand_verts: np.ndarray
    joints3d: np.ndarray
    joints2d: np.ndarray
    obj_verts: Optional[np.ndarray]


class FramePredictor:
    """Batched inference of one model on frames of one camera.

    Args:
        loaded: the model (load_trained_model), in eval mode on `device`.
        intrinsics: (3, 3) intrinsics of the user's frames (pixels).
        frame_size: (W, H) of the user's frames.
        net_width: frame width fed to the network (network_width).
        obj: canonical object (None: hand only).
        side: "right" or "left" (MANO layer used for the hand).
        device: torch device of the model.
    """

    def __init__(self, loaded: LoadedModel, intrinsics: np.ndarray, frame_size: Tuple[int, int], net_width: int,
                 obj: Optional[ObjectModel], side: str, device: torch.device):
        self.model = loaded.model
        self.device = torch.device(device)
        self.intrinsics = np.asarray(intrinsics, dtype=np.float64)
        self.frame_size = tuple(int(v) for v in frame_size)
        self.net_size = resized_size(self.frame_size, net_width)
        self.net_intrinsics = scale_intrinsics(self.intrinsics, self.net_size[0] / self.frame_size[0],
                                               self.net_size[1] / self.frame_size[1])
        self.obj = obj
        self.side = side
        layer = self.model.mano_branch.mano_layer_left if side == "left" else self.model.mano_branch.mano_layer_right
        self.hand_faces = layer.closed_faces.detach().cpu()  # (F + K, 3): MANO faces, then the wrist-closing ones
        self._can = None if obj is None else torch.as_tensor(obj.can_verts, dtype=torch.float32, device=self.device)

    def network_batch(self, frames: List[np.ndarray]) -> Dict:
        """Sample dict (sample_keys) of B user frames (H, W, 3) uint8, as the network takes them."""
        if not frames:
            raise ValueError("network_batch: no frames")
        images = []
        for frame in frames:
            if (frame.shape[1], frame.shape[0]) != self.frame_size:
                raise PredictError(f"frame of size {frame.shape[1]}x{frame.shape[0]}, expected "
                                   f"{self.frame_size[0]}x{self.frame_size[1]}")
            images.append(resize_to_width(frame, self.net_size[0]))
        image = torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2).float() / 255.0 - 0.5
        batch_size = len(frames)
        batch = {
            SK.IMAGE: image,
            SK.CAM_INTR: torch.as_tensor(self.net_intrinsics, dtype=torch.float32, device=self.device)
            .expand(batch_size, 3, 3).contiguous(),
            SK.SIDE: [self.side] * batch_size,
        }
        if self._can is not None:
            batch[SK.OBJ_CAN_VERTS] = self._can.expand(batch_size, -1, -1).contiguous()
        return batch

    @torch.no_grad()
    def raw_results(self, frames: List[np.ndarray]) -> Dict:
        """MeshRegNet's results dict on the frames (network-input pixels for its 2D entries)."""
        _, results, _ = self.model(self.network_batch(frames))
        return results

    @torch.no_grad()
    def __call__(self, frames: List[np.ndarray]) -> FramePredictions:
        results = self.raw_results(frames)
        joints3d = results["recov_joints3d"].double()
        K = torch.as_tensor(self.intrinsics, device=joints3d.device).expand(joints3d.shape[0], 3, 3)
        joints2d = project_points(joints3d, K)
        obj_verts = results.get("recov_objverts3d") if self.obj is not None else None
        return FramePredictions(
            hand_verts=results["recov_handverts3d"].cpu().numpy(),
            joints3d=results["recov_joints3d"].cpu().numpy(),
            joints2d=joints2d.cpu().numpy(),
            obj_verts=None if obj_verts is None else obj_verts.cpu().numpy(),
        )
