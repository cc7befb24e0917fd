"""Building a HandObjectDataset from a dataset name and a --data_root: the one place that picks the reader, finds its
folder and wraps it (training, validation, figures and the HO3D-v2 submission all come through here).

    data = hand_object_dataset("fhbhands", "data", "train", mano_root, mode="strong", fraction=0.1, augment=True)
    data = build_eval_dataset("ho3dv2", "data", "test", mano_root, split_mode="paper")   # every frame, in order
"""

from pathlib import Path
from typing import Optional, Union

from .fphab import FPHAB
from .handobjset import HandObjectDataset
from .ho3dv2 import HO3DV2
from .locate import dataset_folder

PathLike = Union[str, Path]


def hand_object_dataset(name: str, data_root: PathLike, split: str, mano_root: Optional[PathLike], *,
                        mode: str = "full", fraction: float = 1.0, input_width: Optional[int] = None,
                        split_mode: str = "objects", like_v1: bool = False, mini_factor: Optional[int] = None,
                        sample_nb: Optional[int] = None, spacing: int = 0, augment: bool = False,
                        center_jittering: float = 0.1, scale_jittering: float = 0.0, max_rot: float = 0.0,
                        return_orig_image: bool = False, consist_width: Optional[int] = None,
                        max_gap: Optional[int] = None) -> HandObjectDataset:
    """The reader of `name` under `data_root` (datasets.locate.dataset_folder) wrapped in a HandObjectDataset.

    Args:
        name: fhbhands | ho3dv2.
        data_root: the --data_root folder, or the dataset's own folder.
        split: reader split (FPHAB: train | test | all; HO3D-v2: depends on split_mode).
        mano_root: MANO folder for the ground-truth hand meshes.
        mode: "strong" (annotated frames), "weak" (unannotated) or "full" (all, annotated first).
        fraction: annotated fraction in (0, 1] (sparse supervision).
        input_width: resize frames to this width on load and scale the intrinsics (None: as stored).
        split_mode, like_v1: HO3D-v2 split family ("objects" or "paper") and the v1-like object split.
        mini_factor: FPHAB only: keep a random 1/mini_factor of the frames (None: all).
        sample_nb, spacing, augment, center_jittering, scale_jittering, max_rot, return_orig_image, consist_width,
            max_gap: as HandObjectDataset.
    """
    root = dataset_folder(data_root, name)
    if name == "fhbhands":
        reader = FPHAB(root, split=split, fraction=fraction, input_width=input_width, mano_root=mano_root,
                       mini_factor=mini_factor)
    else:
        reader = HO3DV2(root, split=split, split_mode=split_mode, fraction=fraction, like_v1=like_v1,
                        input_width=input_width, mano_root=mano_root)
    return HandObjectDataset(reader, mode=mode, sample_nb=sample_nb, spacing=spacing, augment=augment,
                             center_jittering=center_jittering, scale_jittering=scale_jittering, max_rot=max_rot,
                             return_orig_image=return_orig_image, consist_width=consist_width, max_gap=max_gap)


def build_eval_dataset(dataset: str, data_root: PathLike, split: str, mano_root: Optional[PathLike],
                       input_width: Optional[int] = None, split_mode: str = "objects",
                       return_orig_image: bool = False) -> HandObjectDataset:
    """All frames of a split, in order, without augmentation (mode "full", fraction 1).

    Args:
        dataset: fhbhands | ho3dv2.
        split: train | test (| val for ho3dv2 split_mode objects; train | trainval | val | test for "paper").
        input_width: frame width (None: as stored).
        split_mode: HO3D split family ("objects" or "paper").
        return_orig_image: include IMAGE_ORIG (uint8 frame) in the samples.
    """
    return hand_object_dataset(dataset, data_root, split, mano_root, input_width=input_width, split_mode=split_mode,
                               return_orig_image=return_orig_image)
