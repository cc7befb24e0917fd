"""HO3D-v2 reader for the release layout (docs/differences-from-upstream.md, K4).

    <data_root>/train/<SEQ>/rgb/{idx:04d}.png      <data_root>/train/<SEQ>/meta/{idx:04d}.pkl
    <data_root>/evaluation/<SEQ>/rgb/...            <data_root>/evaluation/<SEQ>/meta/...
    <data_root>/train.txt, evaluation.txt           lines "SEQ/FRAME" (split_mode "paper")
    <data_root>/modelsprocess/<objName>/textured_simple_2000.obj   simplified YCB meshes in metres (not part of the
        release; make them with `python -m handobjectconsist.datasets.prepare_ho3d_models --ycb DIR --out DIR`)

HO3D annotations are in OpenGL camera coordinates; every 3D quantity is flipped once, at load, with (1, -1, -1)
(OpenCV: z forward). Joints are reordered from the file (MANO + tips) order to the project order. The per-frame
camMat is the intrinsic matrix. Hand GT meshes: ManoLayer(flat_hand_mean=True, use_pca=False)(handPose, handBeta,
handTrans), then flipped (needs mano_root). Object vertices: flip(R(objRot) v + objTrans); canonical vertices:
flip(v) minus its bounding-box centre. Object corners (objCorners3DRest, the model's bounding box): posed and flipped
like the vertices (OBJ_CORNERS3D), projected (OBJ_CORNERS2D), and canonical, flipped minus the same centre
(OBJ_CAN_CORNERS).

split_mode "objects": sequence-level split of train/ (lists below, `like_v1` selects the v1 lists); fraction < 1
annotates frame 0, every k-th and the last frame of each sequence with the global k = int(total / int(f * total)).
split_mode "paper": train.txt (trainval = its first 60000 lines, val = the rest, train = all) or evaluation.txt for
"test"; every frame is annotated. Evaluation metas hold only the root joint: joints3d is that root repeated 21 times
and no hand mesh/pose is returned (the official evaluation split has no public hand GT).
"""

import pickle
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from libyana.camutils import project_points_np, scale_intrinsics

from . import sample_keys as K
from .base import FrameFileDataset, sequence_lengths
from .errors import AnnotationFormatError, MissingDataError, require_dir, require_file
from .frames import image_size, resized_size
from .hand_gt import mano_mesh
from .meshes import load_mesh
from .sparse import build_sparse_map, ho3d_spacing

HO3D_TO_PROJECT = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
OPENGL_TO_OPENCV = np.array([1.0, -1.0, -1.0])
MODELS_DIR = "modelsprocess"
MODEL_FILE = "textured_simple_2000.obj"
TRAINVAL_LINES = 60000


def _seqs(prefix: str, numbers) -> List[str]:
    return [f"{prefix}{n}" for n in numbers]


OBJECTS_SPLITS_V1 = {
    "train": ["SM5", "MC6", "MC4", "SM3", "SM4", "SS3", "SS2", "SM2", "SS1", "MC5", "MC1"],
    "test": ["MC2"],
}
OBJECTS_SPLITS = {
    "train": _seqs("ABF", range(11, 15)) + ["BB10"] + _seqs("BB", (12, 13, 14)) + _seqs("GPMF", (10, 11, 13, 14))
    + _seqs("GSF", (10, 11, 12, 14)) + ["MC2", "MC4", "MC5", "MC6"] + _seqs("MDF", range(10, 14)) + ["SB10", "SB12"]
    + _seqs("ShSu", (12, 13, 14)) + _seqs("SiBF", (10, 12, 13, 14)) + ["SM2", "SM4", "SM5"]
    + _seqs("SMu", (40, 41, 42)) + ["SS1", "SS3"],
    "trainval": _seqs("ABF", (12, 13, 14)) + ["BB10", "BB13", "BB14"] + _seqs("GPMF", (10, 11, 14))
    + _seqs("GSF", (10, 11, 12)) + ["MC2", "MC4", "MC5", "MC6"] + _seqs("MDF", range(10, 14)) + ["SB10", "SB12"]
    + _seqs("ShSu", (12, 13, 14)) + _seqs("SiBF", (10, 12, 13, 14)) + ["SM2", "SM4", "SM5"]
    + _seqs("SMu", (40, 41, 42)) + ["SS1", "SS3"],
    "val": ["ABF11", "BB12", "GPMF13", "GSF14"],
    "test": ["ABF10", "MC1", "MDF14", "BB11", "GPMF12", "GSF13", "SB14", "ShSu10", "SM3", "SMu1", "SiBF11", "SS2"],
}


def flip_gl_to_cv(points: np.ndarray) -> np.ndarray:
    """OpenGL camera coordinates (..., 3) -> OpenCV camera coordinates (y and z negated)."""
    return np.asarray(points, dtype=np.float64) * OPENGL_TO_OPENCV


def read_meta(path) -> dict:
    """Load one HO3D meta pickle (Python-2 pickles need latin1)."""
    path = require_file(path, "an HO3D per-frame annotation pickle")
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except Exception as exc:
        raise AnnotationFormatError(path, None, f"cannot unpickle ({exc})") from None


META_KEYS = ("camMat", "handJoints3D", "objRot", "objTrans", "objName")
HAND_MESH_KEYS = ("handPose", "handBeta", "handTrans")
# Number of values of each numeric array of a meta pickle (any shape holding that many is read), and its shape as
# HO3D-v2 writes it. handJoints3D: 63 (21 joints) or 3 (the root joint only, evaluation frames).
META_SIZES = {"camMat": ((9,), "(3, 3)"), "handJoints3D": ((63, 3), "(21, 3) or (3,)"), "objRot": ((3,), "(3,)"),
              "objTrans": ((3,), "(3,)"), "objCorners3DRest": ((24,), "(8, 3)"), "handPose": ((48,), "(48,)"),
              "handBeta": ((10,), "(10,)"), "handTrans": ((3,), "(3,)")}


def check_meta(path, meta, hand_mesh: bool) -> None:
    """Raise AnnotationFormatError naming the file if an HO3D meta dict lacks keys, holds an array of the wrong size
    (META_SIZES) or non-finite numbers.

    hand_mesh: also require the MANO parameters of a full hand annotation (handJoints3D of shape (21, 3)).
    """
    if not isinstance(meta, dict):
        raise AnnotationFormatError(path, None, f"expected a dict of annotations, got {type(meta).__name__}")
    missing = [k for k in META_KEYS if meta.get(k) is None]
    full_hand = meta.get("handJoints3D") is not None and np.size(meta["handJoints3D"]) == 63
    if hand_mesh and full_hand:
        missing += [k for k in HAND_MESH_KEYS if meta.get(k) is None]
    if missing:
        raise AnnotationFormatError(path, None, f"missing keys {missing} (an HO3D-v2 meta pickle holds "
                                                f"{list(META_KEYS + HAND_MESH_KEYS)})")
    for key, value in meta.items():
        if key == "objName" or value is None or (isinstance(value, str) and key not in META_SIZES):
            continue
        try:
            numbers = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            if key in META_SIZES:
                raise AnnotationFormatError(path, None, f"{key!r} is not an array of numbers, expected "
                                                        f"{META_SIZES[key][1]}") from None
            continue
        if key in META_SIZES and numbers.size not in META_SIZES[key][0]:
            raise AnnotationFormatError(path, None, f"{key!r} has shape {numbers.shape}, expected "
                                                    f"{META_SIZES[key][1]}")
        if not np.all(np.isfinite(numbers)):
            raise AnnotationFormatError(path, None, f"non-finite value (nan or inf) in {key!r}")


def read_frame_list(path) -> List[Tuple[str, str]]:
    """train.txt / evaluation.txt -> [(SEQ, FRAME)], names as written (FRAME like '0000')."""
    path = require_file(path, "the HO3D-v2 frame list with lines 'SEQ/FRAME'")
    entries = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.split("/")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise AnnotationFormatError(path, number, f"expected 'SEQ/FRAME', got {line!r}")
            entries.append((parts[0], parts[1]))
    return entries


class HO3DV2(FrameFileDataset):
    """HO3D-v2 reader (see module docstring).

    Args:
        data_root: the HO3D-v2 folder.
        split: "train", "trainval", "val" or "test".
        split_mode: "objects" (default, as upstream) or "paper".
        fraction: annotated fraction in (0, 1] ("objects" only).
        like_v1: use the v1 sequence lists of split_mode "objects".
        sequences: explicit list of train/ sequences overriding the split lists (objects mode).
        input_width: resize frames to this width on load and scale the intrinsics.
        mano_root: folder with MANO_RIGHT.pkl; if given, GT hand meshes are returned.
        skip_missing: drop frames whose image is missing instead of raising.
        missing_sequences: "error" (default: a listed sequence absent from train/ means an incomplete download) or
            "skip" (use the listed sequences that exist, e.g. on the small synthetic sets; the count is printed).
    """

    name = "ho3dv2"
    report_size = (640, 480)  # the native HO3D-v2 frame

    def __init__(self, data_root, split: str = "train", split_mode: str = "objects", fraction: float = 1.0,
                 like_v1: bool = False, sequences: Optional[Sequence[str]] = None,
                 input_width: Optional[int] = None, mano_root=None, penultimate_quirk: bool = False,
                 skip_missing: bool = False, missing_sequences: str = "error"):
        if missing_sequences not in ("error", "skip"):
            raise ValueError(f"missing_sequences must be 'error' or 'skip', got {missing_sequences!r}")
        self.missing_sequences = missing_sequences
        self.root = require_dir(data_root, "the HO3D-v2 dataset folder (train/, evaluation/, train.txt, "
                                           "evaluation.txt, modelsprocess/)")
        self.mano_root = None if mano_root is None else Path(mano_root)
        self.split, self.split_mode = split, split_mode
        if split_mode == "objects":
            entries, seq_lengths = self._objects_entries(split, like_v1, sequences)
            spacing = ho3d_spacing(fraction, len(entries))
        elif split_mode == "paper":
            if fraction != 1:
                raise ValueError("split_mode 'paper' annotates every frame; fraction must be 1")
            entries = self._paper_entries(split)
            spacing = 1
        else:
            raise ValueError(f"split_mode must be 'objects' or 'paper', got {split_mode!r}")
        entries = self._drop_missing_images(entries, skip_missing)
        self.entries = entries  # [(subfolder, SEQ, FRAME string)]
        self.seq_names = [seq for _, seq, _ in entries]
        self.frame_ids = np.asarray([int(frame) for _, _, frame in entries], dtype=np.int64)
        self.sparse_map = build_sparse_map(sequence_lengths(self.seq_names), spacing,
                                           penultimate_quirk=penultimate_quirk, frame_ids=self.frame_ids)
        self.input_width = input_width
        self.stored_size = image_size(self._image_path(0))
        self.image_size = resized_size(self.stored_size, input_width)
        self._object_models: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}

    # ---- construction helpers
    def _objects_entries(self, split, like_v1, sequences):
        lists = {**OBJECTS_SPLITS, **OBJECTS_SPLITS_V1} if like_v1 else OBJECTS_SPLITS
        if sequences is None:
            if split not in lists:
                raise ValueError(f"split must be one of {sorted(lists)} for split_mode 'objects', got {split!r}")
            sequences = lists[split]
        train_dir = require_dir(self.root / "train", "the HO3D-v2 training sequences train/<SEQ>/{rgb,meta}")
        entries, lengths = [], []
        if self.missing_sequences == "skip":
            absent = [seq for seq in sequences if not (train_dir / seq / "meta").is_dir()]
            sequences = [seq for seq in sequences if seq not in absent]
            if absent:
                print(f"HO3D-v2: {len(absent)} sequences of split {split!r} are absent from {train_dir}; skipped")
            if not sequences:
                raise MissingDataError(train_dir, f"at least one sequence of split {split!r} ({sorted(absent)})")
        for seq in sorted(sequences):
            meta_dir = require_dir(train_dir / seq / "meta", f"the per-frame annotations of sequence {seq}")
            frames = sorted(p.stem for p in meta_dir.glob("*.pkl"))
            if not frames:
                raise MissingDataError(meta_dir / "0000.pkl", f"annotation pickles of sequence {seq}")
            entries += [("train", seq, frame) for frame in frames]
            lengths.append(len(frames))
        return entries, lengths

    def _paper_entries(self, split):
        if split in ("train", "trainval", "val"):
            lines = read_frame_list(self.root / "train.txt")
            if split == "trainval":
                lines = lines[:TRAINVAL_LINES]
            elif split == "val":
                lines = lines[TRAINVAL_LINES:]
            folder = "train"
        elif split == "test":
            lines = read_frame_list(self.root / "evaluation.txt")
            folder = "evaluation"
        else:
            raise ValueError(f"split must be 'train', 'trainval', 'val' or 'test', got {split!r}")
        if not lines:
            raise MissingDataError(self.root / f"{folder}.txt", f"frames for split {split!r}")
        return [(folder, seq, frame) for seq, frame in lines]

    def _image_path(self, idx_or_entry) -> Path:
        folder, seq, frame = self.entries[idx_or_entry] if isinstance(idx_or_entry, int) else idx_or_entry
        png = self.root / folder / seq / "rgb" / f"{frame}.png"
        if png.is_file():
            return png
        jpg = png.with_suffix(".jpg")
        return jpg if jpg.is_file() else png

    def _drop_missing_images(self, entries, skip_missing):
        exists = [self._image_path(e).is_file() for e in entries]
        self.missing_count = len(entries) - sum(exists)
        if self.missing_count and not skip_missing:
            first = entries[exists.index(False)]
            raise MissingDataError(self._image_path(first), f"a frame image ({self.missing_count} frames have none)",
                                   "Pass skip_missing=True to drop them")
        if self.missing_count:
            print(f"HO3D-v2: dropped {self.missing_count} frames without an image")
        return [e for e, ok in zip(entries, exists) if ok]

    def object_model(self, name: str) -> Tuple[np.ndarray, np.ndarray]:
        """(verts (N, 3) metres in the OpenGL model frame, faces (F, 3)) of an object, loaded once per process."""
        if name not in self._object_models:
            path = self.root / MODELS_DIR / name / MODEL_FILE
            require_file(path, f"the simplified mesh of object {name}",
                         "Make it with `python -m handobjectconsist.datasets.prepare_ho3d_models --ycb "
                         f"YCB_MODELS_DIR --out {self.root / MODELS_DIR}`")
            self._object_models[name] = load_mesh(path)
        return self._object_models[name]

    # ---- access
    def meta(self, idx: int) -> dict:
        folder, seq, frame = self.entries[idx]
        return read_meta(self.root / folder / seq / "meta" / f"{frame}.pkl")

    def frame_path(self, idx: int) -> Path:
        return self._image_path(idx)

    def get_annotation(self, idx: int) -> dict:
        folder, seq, frame = self.entries[idx]
        meta_path = self.root / folder / seq / "meta" / f"{frame}.pkl"
        meta = self.meta(idx)
        check_meta(meta_path, meta, hand_mesh=self.mano_root is not None)
        cam_intr = scale_intrinsics(np.asarray(meta["camMat"], dtype=np.float64),
                                    self.image_size[0] / self.stored_size[0], self.image_size[1] / self.stored_size[1])
        raw_joints = np.asarray(meta["handJoints3D"], dtype=np.float64)
        full_hand = raw_joints.shape == (21, 3)
        if full_hand:
            joints3d = flip_gl_to_cv(raw_joints[list(HO3D_TO_PROJECT)])
        elif raw_joints.size == 3:
            joints3d = np.repeat(flip_gl_to_cv(raw_joints.reshape(1, 3)), 21, axis=0)
        else:
            raise AnnotationFormatError(meta_path, None, f"handJoints3D has shape {raw_joints.shape}, expected "
                                                         "(21, 3) or (3,)")
        obj_name = str(meta["objName"])
        model_verts, faces = self.object_model(obj_name)
        rot = Rotation.from_rotvec(np.asarray(meta["objRot"], dtype=np.float64).reshape(3)).as_matrix()
        trans = np.asarray(meta["objTrans"], dtype=np.float64).reshape(3)
        obj_verts = flip_gl_to_cv(model_verts @ rot.T + trans)
        can = flip_gl_to_cv(model_verts)
        can_offset = (can.min(0) + can.max(0)) / 2
        can -= can_offset
        ann = {
            K.CAM_INTR_ORIG: cam_intr.astype(np.float32),
            K.JOINTS3D: joints3d.astype(np.float32),
            K.JOINTS2D: project_points_np(joints3d, cam_intr).astype(np.float32),
            K.OBJ_VERTS3D: obj_verts.astype(np.float32),
            K.OBJ_VERTS2D: project_points_np(obj_verts, cam_intr).astype(np.float32),
            K.OBJ_CAN_VERTS: can.astype(np.float32),
            K.OBJ_FACES: faces.astype(np.int64),
            K.OBJ_NAME: obj_name,
            K.SIDE: "right",
            K.SEQ_NAME: seq,
            K.FRAME_IDX: int(frame),
        }
        if meta.get("objCorners3DRest") is not None:
            corners = np.asarray(meta["objCorners3DRest"], dtype=np.float64).reshape(8, 3)
            corners3d = flip_gl_to_cv(corners @ rot.T + trans)
            ann[K.OBJ_CORNERS3D] = corners3d.astype(np.float32)
            ann[K.OBJ_CORNERS2D] = project_points_np(corners3d, cam_intr).astype(np.float32)
            # The same shift as the canonical vertices, so posing both with one transform keeps them together.
            ann[K.OBJ_CAN_CORNERS] = (flip_gl_to_cv(corners) - can_offset).astype(np.float32)
        if full_hand and self.mano_root is not None:
            pose = np.asarray(meta["handPose"], dtype=np.float32).reshape(48)
            shape = np.asarray(meta["handBeta"], dtype=np.float32).reshape(10)
            verts, _ = mano_mesh(self.mano_root, pose, shape, np.asarray(meta["handTrans"]).reshape(3))
            ann[K.HAND_VERTS3D] = flip_gl_to_cv(verts).astype(np.float32)
            ann[K.HAND_POSE] = pose
            ann[K.HAND_SHAPE] = shape
        return ann
