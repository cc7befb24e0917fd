"""A hand-made in-memory reader (base.PoseDataset interface) for testing HandObjectDataset without files."""

import numpy as np

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.base import PoseDataset, sequence_lengths
from handobjectconsist.datasets.sparse import build_sparse_map

WIDTH, HEIGHT = 64, 48
FAKE_K = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.5], [0.0, 0.0, 1.0]])


class FakeReader(PoseDataset):
    """Sequences of random-texture frames; frame content depends only on (sequence, frame) unless `same_image`."""

    name = "fake"

    def __init__(self, seq_lengths=(10, 7, 9), spacing=4, same_image=False, obj_sizes=(4, 6)):
        self.seq_names = [f"seq{s}" for s, n in enumerate(seq_lengths) for _ in range(n)]
        self.frame_ids = np.concatenate([np.arange(n) for n in seq_lengths])
        self.sparse_map = build_sparse_map(sequence_lengths(self.seq_names), spacing, frame_ids=self.frame_ids)
        self.image_size = (WIDTH, HEIGHT)
        self.same_image = same_image
        self.obj_sizes = obj_sizes

    def get_image(self, idx):
        seed = 0 if self.same_image else idx + 1
        return np.random.default_rng(seed).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)

    def get_annotation(self, idx):
        rng = np.random.default_rng(1000 + idx)
        joints = np.column_stack([rng.uniform(-0.1, 0.1, 21), rng.uniform(-0.08, 0.08, 21), rng.uniform(0.4, 0.6, 21)])
        n_obj = self.obj_sizes[idx % len(self.obj_sizes)]
        obj = np.column_stack([rng.uniform(-0.1, 0.1, n_obj), rng.uniform(-0.1, 0.1, n_obj), np.full(n_obj, 0.5)])
        return {
            K.CAM_INTR_ORIG: FAKE_K.astype(np.float32),
            K.JOINTS3D: joints.astype(np.float32),
            K.JOINTS2D: ((joints @ FAKE_K.T)[:, :2] / joints[:, 2:]).astype(np.float32),
            K.OBJ_VERTS3D: obj.astype(np.float32),
            K.OBJ_FACES: np.zeros((n_obj - 2, 3), dtype=np.int64),
            K.OBJ_NAME: "thing",
            K.SIDE: "right",
            K.SEQ_NAME: self.seq_names[idx],
            K.FRAME_IDX: int(self.frame_ids[idx]),
        }
