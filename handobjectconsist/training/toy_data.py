"""A tiny in-memory hand+object dataset that follows sample_keys, for tests, benchmarks and smoke runs.

Each sample is drawn deterministically from (seed, index): a MANO hand (random root rotation and finger pose,
GT layer flat_hand_mean=True with 48-D axis-angle, as the datasets) about 0.5 m in front of the camera, a random
object (a point cloud with `obj_verts` vertices, or 8..obj_verts when vary_obj_verts) next to it, an integer
translation jitter as AFFINE, and an image with Gaussian blobs at the projected joints and object vertices (so a
network can learn something from it).
"""

from typing import Dict, Optional, Tuple

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from handobjectconsist.datasets import sample_keys as K
from libyana.camutils import project_points_np


class ToyHandObjectDataset(Dataset):
    """Synthetic samples (dicts of numpy arrays / python values, see sample_keys) built from a MANO layer.

    Args:
        mano_root: folder with MANO_RIGHT.pkl.
        size: number of samples.
        image_size: (W, H) of the images.
        seed: base seed; sample i depends only on (seed, i).
        obj_verts: object vertex count (the upper bound when vary_obj_verts).
        vary_obj_verts: draw the count in [8, obj_verts] per sample (batches then need padding).
    """

    def __init__(self, mano_root, size: int = 8, image_size: Tuple[int, int] = (64, 36), seed: int = 0,
                 obj_verts: int = 16, vary_obj_verts: bool = False):
        from handobjectconsist.mano import ManoLayer

        self.size = size
        self.width, self.height = image_size
        self.seed = seed
        self.obj_verts = obj_verts
        self.vary_obj_verts = vary_obj_verts
        layer = ManoLayer(mano_root, side="right", use_pca=False, flat_hand_mean=True)
        rng = np.random.default_rng(seed)
        poses = np.concatenate(
            [rng.normal(0, 0.3, (size, 3)), rng.normal(0, 0.2, (size, 45))], axis=1
        ).astype(np.float32)
        shapes = rng.normal(0, 0.5, (size, 10)).astype(np.float32)
        trans = np.stack(
            [rng.uniform(-0.05, 0.05, size), rng.uniform(-0.03, 0.03, size), rng.uniform(0.45, 0.6, size)], axis=1
        ).astype(np.float32)
        with torch.no_grad():
            verts, joints = layer(torch.from_numpy(poses), torch.from_numpy(shapes), torch.from_numpy(trans))
        self.poses, self.shapes = poses, shapes
        self.hand_verts, self.joints = verts.numpy(), joints.numpy()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> Dict:
        rng = np.random.default_rng([self.seed, idx])
        W, H = self.width, self.height
        focal = 0.9 * W
        intr = np.array([[focal, 0, W / 2 - 0.5], [0, focal, H / 2 - 0.5], [0, 0, 1]], dtype=np.float32)
        shift = rng.integers(-2, 3, size=2).astype(np.float32)
        affine = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]], dtype=np.float32)
        joints3d = self.joints[idx]
        num_obj = int(rng.integers(8, self.obj_verts + 1)) if self.vary_obj_verts else self.obj_verts
        can = rng.normal(0, 1, (num_obj, 3)) * np.array([0.03, 0.05, 0.03])
        can = can - (can.max(0) + can.min(0)) / 2  # bounding-box centred
        rot = Rotation.from_rotvec(rng.normal(0, 1.0, 3)).as_matrix()
        obj_centre = joints3d[9] + np.array([0.06, 0.0, 0.02]) + rng.normal(0, 0.01, 3)
        obj3d = can @ rot.T + obj_centre
        faces = rng.integers(0, num_obj, (2 * num_obj, 3))
        joints2d = project_points_np(joints3d, intr)
        obj2d = project_points_np(obj3d, intr)
        image = self._draw(np.concatenate([joints2d, obj2d[:8]]) + shift, num_joints=21, rng=rng)
        return {
            K.IMAGE: image,
            K.JITTER_MASK: np.ones((1, H, W), dtype=np.float32),
            K.CAM_INTR: (affine @ intr).astype(np.float32),
            K.CAM_INTR_ORIG: intr,
            K.AFFINE: affine,
            K.REPORT_SCALE: np.ones(2, dtype=np.float32),
            K.JOINTS3D: joints3d.astype(np.float32),
            K.JOINTS2D: joints2d.astype(np.float32),
            K.HAND_VERTS3D: self.hand_verts[idx].astype(np.float32),
            K.HAND_POSE: self.poses[idx],
            K.HAND_SHAPE: self.shapes[idx],
            K.SIDE: "right",
            K.OBJ_VERTS3D: obj3d.astype(np.float32),
            K.OBJ_VERTS2D: obj2d.astype(np.float32),
            K.OBJ_CAN_VERTS: can.astype(np.float32),
            K.OBJ_FACES: faces.astype(np.int64),
            K.OBJ_NAME: "toy",
            K.SEQ_NAME: "toy/0",
            K.FRAME_IDX: idx,
            K.ANNOTATED: True,
        }

    def _draw(self, points2d: np.ndarray, num_joints: int, rng) -> np.ndarray:
        """(3, H, W) float32 image in [-0.5, 0.5]: red blobs at hand joints, green at object points, some noise."""
        W, H = self.width, self.height
        v, u = np.mgrid[0:H, 0:W].astype(np.float32)
        image = np.zeros((3, H, W), dtype=np.float32)
        sigma2 = (0.03 * W) ** 2
        for k, (pu, pv) in enumerate(points2d):
            blob = np.exp(-((u - pu) ** 2 + (v - pv) ** 2) / (2 * sigma2))
            image[0 if k < num_joints else 1] += blob
        image = np.clip(image, 0, 1) + rng.normal(0, 0.02, image.shape)
        return (np.clip(image, 0, 1) - 0.5).astype(np.float32)


class ToyPairs(Dataset):
    """Consist items from a toy frame set: [sample i, sample i xor 1] (different hands; smoke runs only).

    consist_frames: the same toy set drawn at another width; its IMAGE / JITTER_MASK / CAM_INTR become the frames'
    CONSIST_* keys (as HandObjectDataset's consist_width). max_gap: keep the items whose reference is at most this
    many samples away (the toy "distance" is |i - (i xor 1)|).
    """

    def __init__(self, frames: Dataset, consist_frames: Optional[Dataset] = None, max_gap: Optional[int] = None):
        self.frames = frames
        self.consist_frames = consist_frames
        self.max_gap = max_gap
        self.items = [i for i in range(len(frames)) if max_gap is None or abs(self._other(i) - i) <= max_gap]

    def _other(self, idx: int) -> int:
        return min(idx ^ 1, len(self.frames) - 1)

    def __len__(self) -> int:
        return len(self.items)

    def gap_summary(self) -> str:
        bound = "no bound" if self.max_gap is None else f"at most {self.max_gap} samples from their reference"
        return f"toy consist pairs ({bound}): {len(self.items)} of {len(self.frames)} items kept"

    def _frame(self, idx: int) -> Dict:
        frame = dict(self.frames[idx])
        if self.consist_frames is not None:
            other = self.consist_frames[idx]
            frame.update({K.CONSIST_IMAGE: other[K.IMAGE], K.CONSIST_JITTER_MASK: other[K.JITTER_MASK],
                          K.CONSIST_CAM_INTR: other[K.CAM_INTR]})
        return frame

    def __getitem__(self, item: int):
        idx = self.items[item]
        other = self._other(idx)
        query, ref = self._frame(idx), self._frame(other)
        query[K.DIST2QUERY], ref[K.DIST2QUERY] = 0, abs(other - idx)
        return [query, ref]
