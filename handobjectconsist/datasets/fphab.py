"""First-Person Hand Action Benchmark (FPHAB) reader for the real on-disk layout.

See docs/differences-from-upstream.md, K4.

    <data_root>/Video_files_480/Subject_k/<action>/<seq>/color/color_{frame:04d}.jpeg   (or Video_files, 1920x1080)
    <data_root>/Hand_pose_annotation_v1/Subject_k/<action>/<seq>/skeleton.txt
    <data_root>/Object_6D_pose_annotation_v1_1/Subject_k/<action>/<seq>/object_pose.txt
    <data_root>/Object_models/{juice,liquid_soap,milk,salt}_model/<name>_model.ply      (metres)
    <data_root>/data_split_action_recognition.txt
    <data_root>/fhbhands_fits/Subject_k/<action>/<seq>/pkls.pkl                       (MANO fits, optional)

Only the 10 actions with a modelled object are used. Skeletons (world = depth-camera frame, mm, file joint order)
are reordered to the project order, mapped to the colour camera and converted to metres. Object vertices: model
metres -> mm -> 4x4 object pose -> extrinsic -> metres. The colour intrinsics are scaled to the frames in use
(fphab_camera.intrinsics_for_width). Frames without an object-pose line are dropped (as upstream).

Splits (split_type): "actions" = the action-recognition split file (default); "subjects" = train S1, S3, S4 / test
S2, S5, S6 over the sequences listed in the split file; "objects" = sequences of `test_objects` (default
("juice_bottle",); upstream defined this split but never used it, so the choice is this project's) are the test
set, the others the train set. split "all" = train + test.

Hand meshes: with mano_root given, GT hand vertices come from the MANO fits:
ManoLayer(flat_hand_mean=True, use_pca=False, center_idx=None)(fullpose, shape, trans), colour-camera metres.
Without fits, make them with `python -m handobjectconsist.datasets.fit_fphab --data_root DIR --mano_root DIR`.
"""

import pickle
import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from libyana.camutils import project_points_np

from . import fphab_camera as cam
from . import sample_keys as K
from .base import FrameFileDataset, sequence_lengths
from .errors import AnnotationFormatError, MissingDataError, require_dir, require_file
from .frames import image_size
from .hand_gt import mano_meshes
from .meshes import load_mesh
from .sparse import build_sparse_map, fphab_spacing

# File joint order [W, TMCP, IMCP, MMCP, RMCP, PMCP, TPIP, TDIP, TTIP, IPIP, ...] -> project order.
FPHAB_TO_PROJECT = (0, 1, 6, 7, 8, 2, 9, 10, 11, 3, 12, 13, 14, 4, 15, 16, 17, 5, 18, 19, 20)

# The 10 actions with an object model, and the object each manipulates (action name minus its first word).
OBJECT_ACTIONS = {
    "open_juice_bottle": "juice_bottle", "close_juice_bottle": "juice_bottle", "pour_juice_bottle": "juice_bottle",
    "open_liquid_soap": "liquid_soap", "close_liquid_soap": "liquid_soap", "pour_liquid_soap": "liquid_soap",
    "open_milk": "milk", "close_milk": "milk", "pour_milk": "milk",
    "put_salt": "salt",
}
# Object name -> folder stem under Object_models ("juice_bottle" lives in juice_model/juice_model.ply).
OBJECT_MODEL_STEMS = {"juice_bottle": "juice", "liquid_soap": "liquid_soap", "milk": "milk", "salt": "salt"}
SUBJECT_SPLITS = {"train": (1, 3, 4), "test": (2, 5, 6)}

SPLIT_FILE = "data_split_action_recognition.txt"
SKELETON_DIR = "Hand_pose_annotation_v1"
OBJECT_POSE_DIR = "Object_6D_pose_annotation_v1_1"
OBJECT_MODEL_DIR = "Object_models"
FITS_DIR = "fhbhands_fits"
FIT_HOWTO = ("Make the MANO fits with `python -m handobjectconsist.datasets.fit_fphab --data_root {root} "
             "--mano_root DIR`, or pass mano_root=None to train without GT hand meshes")


def read_split_file(path) -> Dict[str, List[str]]:
    """Parse data_split_action_recognition.txt into {"train": [seq names], "test": [seq names]}.

    Format: a "Training N" header, then lines "Subject_k/<action>/<seq> <action_idx>"; a line starting with "Test"
    switches to the test list.
    """
    path = require_file(path, "the FPHAB split file (header 'Training 600', then '<Subject_k/action/seq> <label>')")
    splits: Dict[str, List[str]] = {"train": [], "test": []}
    current = None
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            words = line.split()
            if not words:
                continue
            if words[0].startswith("Training"):
                current = "train"
                continue
            if words[0].startswith("Test"):
                current = "test"
                continue
            if current is None:
                raise AnnotationFormatError(path, number, "expected a 'Training N' header before sequence lines")
            if len(words) != 2 or words[0].count("/") != 2 or not words[1].lstrip("-").isdigit():
                raise AnnotationFormatError(path, number, f"expected '<Subject_k/action/seq> <label>', got {line!r}")
            splits[current].append(words[0])
    return splits


def _parse_numeric_lines(path, values_per_line: int, what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Lines "frame v_1 ... v_n" -> frames (L,) int64 and values (L, n) float64; errors name file and line."""
    frames: List[int] = []
    rows: List[List[float]] = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            words = line.split()
            if not words:
                continue
            if len(words) != values_per_line + 1:
                raise AnnotationFormatError(
                    path, number, f"expected a frame number and {values_per_line} {what} values, got {len(words)} "
                                  "fields")
            try:
                frames.append(int(words[0]))
                rows.append([float(w) for w in words[1:]])
            except ValueError as exc:
                raise AnnotationFormatError(path, number, f"non-numeric value ({exc})") from None
            if not np.all(np.isfinite(rows[-1])):
                raise AnnotationFormatError(path, number, "non-finite value (nan or inf); every annotation value "
                                                          "must be a finite number")
    return np.asarray(frames, dtype=np.int64), np.asarray(rows, dtype=np.float64).reshape(-1, values_per_line)


def read_skeleton(path) -> np.ndarray:
    """skeleton.txt -> (T, 21, 3) float64 world-frame mm joints in FILE order; row t must be frame t."""
    frames, values = _parse_numeric_lines(path, 63, "joint coordinate")
    bad = np.flatnonzero(frames != np.arange(len(frames)))
    if len(bad):
        raise AnnotationFormatError(path, int(bad[0]) + 1, f"expected frame {bad[0]}, got {frames[bad[0]]} "
                                                           "(rows must list frames 0, 1, 2, ... in order)")
    return values.reshape(-1, 21, 3)


def read_object_poses(path) -> Dict[int, np.ndarray]:
    """object_pose.txt -> {frame: (4, 4) float64 model(mm) -> world(mm) transform}; the file is column-major."""
    frames, values = _parse_numeric_lines(path, 16, "pose matrix")
    return {int(f): v.reshape(4, 4).T for f, v in zip(frames, values)}


def check_sequence_annotations(skeleton_path, skeleton_frames: int, pose_path, obj_poses: Dict[int, np.ndarray]
                               ) -> None:
    """Raise AnnotationFormatError naming the file and line when a sequence's annotation files are empty, or when
    skeleton.txt ends before the last frame object_pose.txt annotates (a truncated file, which would silently drop
    those frames). Frames with a skeleton but no object pose are dropped, as upstream (the caller says so)."""
    if skeleton_frames == 0:
        raise AnnotationFormatError(skeleton_path, 1, "the file is empty: expected one line per frame "
                                                      "'frame x1 y1 z1 ... x21 y21 z21'")
    if not obj_poses:
        raise AnnotationFormatError(pose_path, 1, "the file is empty: expected one line per frame "
                                                  "'frame m11 ... m44' (the object pose)")
    last_pose = max(obj_poses)
    if last_pose >= skeleton_frames:
        raise AnnotationFormatError(skeleton_path, skeleton_frames + 1,
                                    f"the file ends after frame {skeleton_frames - 1}, but {pose_path} annotates "
                                    f"frames up to {last_pose}: the file looks truncated; restore it")


def camera_joints_m(skeleton_world_mm: np.ndarray) -> np.ndarray:
    """(..., 21, 3) file-order world mm -> (..., 21, 3) project-order colour-camera metres."""
    return cam.world_to_colour_mm(skeleton_world_mm[..., FPHAB_TO_PROJECT, :]) / 1000.0


def object_verts_camera_m(model_verts_m: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Object model vertices (N, 3) metres -> colour-camera metres (N, 3) with a (4, 4) model->world mm pose."""
    world_mm = model_verts_m * 1000.0 @ pose[:3, :3].T + pose[:3, 3]
    return cam.world_to_colour_mm(world_mm) / 1000.0


class FPHAB(FrameFileDataset):
    """FPHAB reader (see module docstring).

    Args:
        data_root: the FPHAB folder.
        split: "train", "test" or "all".
        split_type: "actions" (default), "subjects" or "objects".
        fraction: annotated fraction in (0, 1] (sparse supervision; sparse.fphab_spacing).
        mini_factor: keep a random 1/mini_factor of the frames (python Random(seed 1)); needs fraction 1.
        video_folder: "auto" (Video_files_480 if present, else Video_files), "Video_files_480" or "Video_files".
        input_width: resize frames to this width on load and scale the intrinsics (None: as stored).
        mano_root: folder with MANO_RIGHT.pkl; if given, GT hand meshes are computed from the fits (required).
        penultimate_quirk: reproduce upstream's sparse-annotation quirk (sparse.py).
        skip_missing: drop frames whose image is missing (count in `missing_count`) instead of raising.
        test_objects: objects held out by split_type "objects".
    """

    name = "fphab"
    report_size = (480, 270)  # Video_files_480, the frame of the original's 2D errors

    def __init__(self, data_root, split: str = "train", split_type: str = "actions", fraction: float = 1.0,
                 mini_factor: Optional[float] = None, video_folder: str = "auto", input_width: Optional[int] = None,
                 mano_root=None, penultimate_quirk: bool = False, skip_missing: bool = False,
                 test_objects: Sequence[str] = ("juice_bottle",)):
        self.root = require_dir(data_root, "the FPHAB dataset folder (Video_files_480/, Hand_pose_annotation_v1/, "
                                           "Object_6D_pose_annotation_v1_1/, Object_models/, split file)")
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if mini_factor not in (None, 0, 1) and fraction != 1:
            raise ValueError("mini_factor breaks sequences and cannot be combined with fraction != 1")
        self.split, self.split_type, self.fraction = split, split_type, fraction
        self.mano_root = None if mano_root is None else Path(mano_root)

        self.video_dir = self._video_dir(video_folder)
        sequences = self._split_sequences(split, split_type, test_objects)
        self.object_models = self._load_object_models(sorted({OBJECT_ACTIONS[s.split("/")[1]] for s in sequences}))

        seq_names, frame_ids, joints, poses = [], [], [], []
        no_pose = []  # (object_pose.txt, its line count, frames with a skeleton but no pose)
        for seq in sequences:
            skeleton_path = require_file(self.root / SKELETON_DIR / seq / "skeleton.txt",
                                         "the hand skeleton annotation of this sequence")
            pose_path = require_file(self.root / OBJECT_POSE_DIR / seq / "object_pose.txt",
                                     "the object 6D pose annotation of this sequence")
            skeleton, obj_poses = read_skeleton(skeleton_path), read_object_poses(pose_path)
            check_sequence_annotations(skeleton_path, len(skeleton), pose_path, obj_poses)
            dropped = [frame for frame in range(len(skeleton)) if frame not in obj_poses]
            if dropped:
                no_pose.append((pose_path, len(obj_poses), len(dropped)))
            for frame in range(len(skeleton)):
                if frame in obj_poses:
                    seq_names.append(seq)
                    frame_ids.append(frame)
                    joints.append(skeleton[frame])
                    poses.append(obj_poses[frame])
        if no_pose:
            print(f"FPHAB: {sum(n for _, _, n in no_pose)} frames of {len(no_pose)} sequences have a skeleton but no "
                  f"object pose and are dropped, as upstream (first: {no_pose[0][0]}, {no_pose[0][1]} lines)")
        if not seq_names:
            raise MissingDataError(self.root / SKELETON_DIR, f"annotated frames for split {split!r} ({split_type})")
        keep = np.arange(len(seq_names))
        if mini_factor not in (None, 0, 1):
            shuffled = list(keep)
            random.Random(1).shuffle(shuffled)
            keep = np.sort(np.asarray(shuffled[: int(len(shuffled) / mini_factor)], dtype=np.int64))
        keep = self._drop_missing_images(keep, seq_names, frame_ids, skip_missing)

        self.seq_names = [seq_names[i] for i in keep]
        self.frame_ids = np.asarray(frame_ids, dtype=np.int64)[keep]
        self.skeletons_world_mm = np.asarray(joints)[keep]  # (N, 21, 3), file order
        self.object_poses = np.asarray(poses)[keep]  # (N, 4, 4)
        self.fits = self._load_fits() if self.mano_root is not None else None
        # GT hand meshes of every frame, computed once in batches (9 KB a frame; about 7x cheaper than frame by
        # frame) and shared with the DataLoader workers, which fork after this.
        self.hand_verts = (None if self.fits is None else
                           mano_meshes(self.mano_root, self.fits["fullpose"], self.fits["shape"], self.fits["trans"]))

        self.stored_size = stored_size = image_size(self._image_path(self.seq_names[0], int(self.frame_ids[0])))
        if cam.height_for_width(stored_size[0]) != stored_size[1]:
            raise ValueError(f"frames in {self.video_dir} are {stored_size[0]}x{stored_size[1]}; FPHAB frames must "
                             "keep the 16:9 aspect of the 1920x1080 colour camera")
        self.input_width = input_width
        width = stored_size[0] if input_width is None else int(input_width)
        self.image_size = (width, cam.height_for_width(width))
        self.cam_intr = cam.intrinsics_for_width(width)
        self.sparse_map = build_sparse_map(sequence_lengths(self.seq_names), fphab_spacing(fraction),
                                           penultimate_quirk=penultimate_quirk, frame_ids=self.frame_ids)

    # ---- construction helpers
    def _video_dir(self, video_folder: str) -> Path:
        how = ("Make Video_files_480 from Video_files with `python reduce_fphab.py --data_root "
               f"{self.root}`, or pass video_folder='Video_files' to use the full-resolution frames")
        if video_folder == "auto":
            for name in ("Video_files_480", "Video_files"):
                if (self.root / name).is_dir():
                    return self.root / name
            raise MissingDataError(self.root / "Video_files_480", "the FPHAB frame folder (or Video_files)", how)
        if video_folder not in ("Video_files_480", "Video_files"):
            raise ValueError(f"video_folder must be 'auto', 'Video_files_480' or 'Video_files', got {video_folder!r}")
        return require_dir(self.root / video_folder, "the FPHAB frames Subject_k/<action>/<seq>/color/*.jpeg", how)

    def _split_sequences(self, split: str, split_type: str, test_objects: Sequence[str]) -> List[str]:
        lists = read_split_file(self.root / SPLIT_FILE)
        if split_type == "actions":
            chosen = lists["train"] + lists["test"] if split == "all" else lists[split]
            sequences = [s for s in chosen if s.split("/")[1] in OBJECT_ACTIONS]
        elif split_type in ("subjects", "objects"):
            everything = [s for s in lists["train"] + lists["test"] if s.split("/")[1] in OBJECT_ACTIONS]
            if split_type == "subjects":
                subjects = SUBJECT_SPLITS["train"] + SUBJECT_SPLITS["test"] if split == "all" \
                    else SUBJECT_SPLITS[split]
                sequences = [s for s in everything if int(s.split("/")[0].split("_")[1]) in subjects]
            else:
                unknown = set(test_objects) - set(OBJECT_MODEL_STEMS)
                if unknown:
                    raise ValueError(f"unknown test_objects {sorted(unknown)}; "
                                     f"choose from {sorted(OBJECT_MODEL_STEMS)}")
                is_test = [OBJECT_ACTIONS[s.split("/")[1]] in test_objects for s in everything]
                sequences = [s for s, t in zip(everything, is_test) if split == "all" or t == (split == "test")]
        else:
            raise ValueError(f"split_type must be 'actions', 'subjects' or 'objects', got {split_type!r}")
        if not sequences:
            raise MissingDataError(self.root / SPLIT_FILE, f"object-manipulation sequences in split {split!r} "
                                                           f"({split_type}); none are listed")
        return sequences

    def _load_object_models(self, names: List[str]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
        models = {}
        for name in names:
            stem = OBJECT_MODEL_STEMS[name]
            path = self.root / OBJECT_MODEL_DIR / f"{stem}_model" / f"{stem}_model.ply"
            require_file(path, f"the {name} object mesh in metres (unzip Object_models.zip into {self.root})")
            models[name] = load_mesh(path)
        return models

    def _image_path(self, seq: str, frame: int) -> Path:
        return self.video_dir / seq / "color" / f"color_{frame:04d}.jpeg"

    def _drop_missing_images(self, keep: np.ndarray, seq_names, frame_ids, skip_missing: bool) -> np.ndarray:
        exists = np.array([self._image_path(seq_names[i], frame_ids[i]).is_file() for i in keep], dtype=bool)
        self.missing_count = int((~exists).sum())
        if self.missing_count and not skip_missing:
            first = int(keep[np.flatnonzero(~exists)[0]])
            raise MissingDataError(self._image_path(seq_names[first], frame_ids[first]),
                                   f"a frame image ({self.missing_count} annotated frames have none)",
                                   "Pass skip_missing=True to drop them")
        if self.missing_count:
            print(f"FPHAB: dropped {self.missing_count} frames without an image under {self.video_dir}")
        return keep[exists]

    def _load_fits(self) -> Dict[str, np.ndarray]:
        fits = {"fullpose": [], "shape": [], "trans": []}
        loaded: Dict[str, dict] = {}
        for seq, frame in zip(self.seq_names, self.frame_ids):
            if seq not in loaded:
                path = self.root / FITS_DIR / seq / "pkls.pkl"
                require_file(path, "MANO fits of this sequence (dict '{frame:06d}.pkl' -> fullpose, shape, trans)",
                             FIT_HOWTO.format(root=self.root))
                try:
                    with open(path, "rb") as handle:
                        loaded = {seq: pickle.load(handle)}
                except Exception as exc:  # truncated or foreign file: any unpickling failure
                    raise AnnotationFormatError(path, None, f"cannot unpickle ({exc})") from None
            fits_path = self.root / FITS_DIR / seq / "pkls.pkl"
            entry = loaded[seq].get(f"{int(frame):06d}.pkl") if isinstance(loaded[seq], dict) else None
            if entry is None:
                raise AnnotationFormatError(fits_path, None,
                                            f"no fit for frame {int(frame)} (key '{int(frame):06d}.pkl')")
            absent = [key for key in fits if key not in entry]
            if absent:
                raise AnnotationFormatError(fits_path, None, f"the fit of frame {int(frame)} lacks {absent}")
            for key in fits:
                value = np.asarray(entry[key], dtype=np.float32).reshape(-1)
                if not np.all(np.isfinite(value)):
                    raise AnnotationFormatError(fits_path, None, f"non-finite {key} in the fit of frame {int(frame)}")
                fits[key].append(value)
        return {key: np.stack(values) for key, values in fits.items()}

    # ---- access
    def frame_path(self, idx: int) -> Path:
        return self._image_path(self.seq_names[idx], int(self.frame_ids[idx]))

    def get_annotation(self, idx: int) -> dict:
        """Ground truth of sample idx (sample_keys; camera-frame metres, original-frame pixels)."""
        seq = self.seq_names[idx]
        obj_name = OBJECT_ACTIONS[seq.split("/")[1]]
        model_verts, faces = self.object_models[obj_name]
        joints3d = camera_joints_m(self.skeletons_world_mm[idx])
        obj_verts = object_verts_camera_m(model_verts, self.object_poses[idx])
        bbox_centre = (model_verts.min(0) + model_verts.max(0)) / 2
        ann = {
            K.CAM_INTR_ORIG: self.cam_intr.astype(np.float32),
            K.JOINTS3D: joints3d.astype(np.float32),
            K.JOINTS2D: project_points_np(joints3d, self.cam_intr).astype(np.float32),
            K.OBJ_VERTS3D: obj_verts.astype(np.float32),
            K.OBJ_VERTS2D: project_points_np(obj_verts, self.cam_intr).astype(np.float32),
            K.OBJ_CAN_VERTS: (model_verts - bbox_centre).astype(np.float32),
            K.OBJ_FACES: faces.astype(np.int64),
            K.OBJ_NAME: obj_name,
            K.SIDE: "right",
            K.SEQ_NAME: seq,
            K.FRAME_IDX: int(self.frame_ids[idx]),
        }
        if self.fits is not None:
            ann[K.HAND_VERTS3D] = self.hand_verts[idx].copy()
            ann[K.HAND_POSE] = self.fits["fullpose"][idx]
            ann[K.HAND_SHAPE] = self.fits["shape"][idx]
        return ann
