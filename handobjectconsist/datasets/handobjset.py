"""HandObjectDataset: sample dicts (image + ground truth) from a reader, with augmentation and frame pairing.

Modes index the reader's samples: "strong" = annotated frames, "weak" = unannotated, "full" = strong then weak
(upstream order). With sample_nb = k an item is a list of k sample dicts: the query frame and k-1 annotated frames
of the same sequence chosen by pairing.item_indices (default sample_nb=2, spacing=0: the closest annotated frame);
an annotated query is paired with itself (zero flow, zero consistency loss), as upstream.
All frames of an item share the spatial augmentation and the colour factors; the blur sigma is drawn per frame, as
upstream (set shared_blur=True to share it as well).

Consistency options (trainmeshwarp --consist_width / --consist_max_gap): with consist_width W every frame of an item
also carries CONSIST_IMAGE / CONSIST_JITTER_MASK / CONSIST_CAM_INTR, the frame loaded again at width W with the
item's augmentation mapped to it (the same crop, the blur sigma scaled to W's pixels), for the photometric loss; with
max_gap K the items whose reference frames are more than K frames from the query are left out.

Randomness: every item draws from its own numpy Generator seeded by (base seed, item index). In a DataLoader worker
the base seed is the loader's per-epoch base seed (torch.utils.data.get_worker_info().seed - worker id, drawn from
the loader's torch generator), so augmentation is reproducible given that generator and does not depend on the
number of workers (>= 1). In the main process (num_workers=0) the base seed is drawn from torch's global RNG per
item, so torch.manual_seed makes it reproducible. Pass `seed_worker` as the DataLoader's worker_init_fn to also seed
python's `random` and numpy's global RNG in each worker for any other code.
"""

import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from libyana.camutils import scale_intrinsics

from . import sample_keys as K
from .augment import (
    ColorAugm,
    SpaceAugm,
    affine_matrix,
    augmented_image,
    sample_blur_sigma,
    sample_color_augm,
    sample_space_augm,
)
from .base import PoseDataset
from .pairing import item_indices

MODES = ("strong", "weak", "full")


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: seed python `random` and numpy's global RNG from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class HandObjectDataset(Dataset):
    """Torch dataset of sample dicts (keys: sample_keys) or, with sample_nb, lists of sample dicts.

    Args:
        pose_dataset: a reader (FPHAB, HO3DV2) following base.PoseDataset.
        mode: "strong", "weak" or "full".
        sample_nb: None for single frames, k >= 2 for consistency items [query, k-1 annotated frames].
        spacing: neighbour spacing of pairing.neighbour_signed_distances (0: closest annotated frame).
        augment: enable random augmentation (centre/scale jitter, colour jitter, blur).
        center_jittering: max centre shift as a fraction of the frame width (0.1 -> +-48 px at width 480).
        scale_jittering: scale drawn in [1 - sj, 1 + sj], mean 1 (0 disables).
        max_rot: must be 0 (rotation augmentation is not implemented; upstream kept it off).
        brightness, contrast, saturation, hue, blur_radius: colour / blur jitter amplitudes (upstream defaults).
        shared_blur: share the blur sigma across the frames of an item (upstream: independent).
        return_orig_image: also return IMAGE_ORIG (uint8 original frame) for visualisation.
        consist_width: with sample_nb, also load every frame at this width (CONSIST_* keys; module docstring).
        max_gap: with sample_nb, keep only the items whose reference frames are at most this many frames from the
            query (annotated queries, paired with themselves, are always kept).
    """

    def __init__(self, pose_dataset: PoseDataset, mode: str = "full", sample_nb: Optional[int] = None,
                 spacing: int = 0, augment: bool = False, center_jittering: float = 0.1,
                 scale_jittering: float = 0.0, max_rot: float = 0.0, brightness: float = 0.5,
                 contrast: float = 0.5, saturation: float = 0.5, hue: float = 0.15, blur_radius: float = 0.5,
                 shared_blur: bool = False, return_orig_image: bool = False, consist_width: Optional[int] = None,
                 max_gap: Optional[int] = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if sample_nb is not None and sample_nb < 1:
            raise ValueError(f"sample_nb must be None or >= 1, got {sample_nb}")
        if max_rot != 0:
            raise NotImplementedError("rotation augmentation is not implemented (max_rot must be 0): it would "
                                      "need rotated 3D ground truth and is off upstream")
        if not 0 <= scale_jittering < 1:
            raise ValueError(f"scale_jittering must be in [0, 1), got {scale_jittering}")
        if sample_nb is None and (consist_width is not None or max_gap is not None):
            raise ValueError("consist_width and max_gap apply to consistency items: give sample_nb")
        self.pose_dataset = pose_dataset
        self.mode = mode
        self.sample_nb = sample_nb
        self.spacing = spacing
        self.augment = augment
        self.center_jittering = center_jittering
        self.scale_jittering = scale_jittering
        self.color_amplitudes = dict(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)
        self.blur_radius = blur_radius
        self.shared_blur = shared_blur
        self.return_orig_image = return_orig_image
        sparse = pose_dataset.sparse_map
        if mode == "strong":
            self.indices = sparse.strong_idxs
        elif mode == "weak":
            self.indices = sparse.weak_idxs
        else:
            self.indices = np.concatenate([sparse.strong_idxs, sparse.weak_idxs])
        if len(self.indices) == 0:
            raise ValueError(f"mode {mode!r} selects no frames of {pose_dataset.name} (fraction 1 has no weak frames)")
        self.consist_width = None if consist_width is None else int(consist_width)
        self.max_gap = max_gap
        self.unannotated_before_gap = int((~sparse.annotated[self.indices]).sum())
        if max_gap is not None:
            frame_ids = pose_dataset.frame_ids
            keep = [all(abs(int(frame_ids[ref]) - int(frame_ids[idx])) <= max_gap
                        for ref in item_indices(sparse, int(idx), sample_nb, spacing)[1:]) for idx in self.indices]
            self.indices = self.indices[np.asarray(keep, dtype=bool)]

    def gap_summary(self) -> str:
        """One line: how many unannotated query frames the max_gap bound keeps."""
        kept = int((~self.pose_dataset.sparse_map.annotated[self.indices]).sum())
        share = 100.0 * kept / max(self.unannotated_before_gap, 1)
        bound = "no bound" if self.max_gap is None else f"at most {self.max_gap} frames from their reference"
        return (f"consist pairs ({bound}): {kept} of {self.unannotated_before_gap} unannotated frames kept "
                f"({share:.1f} %), {len(self)} items")

    def __len__(self) -> int:
        return len(self.indices)

    def _item_rng(self, item: int) -> np.random.Generator:
        info = get_worker_info()
        if info is not None:
            base = info.seed - info.id
        else:
            base = int(torch.randint(0, 2**62, (1,)).item())
        return np.random.default_rng([base % 2**63, int(item)])

    def __getitem__(self, item: int):
        idx = int(self.indices[item])
        rng = self._item_rng(item)
        space, color = SpaceAugm(), None
        if self.augment:
            space = sample_space_augm(rng, self.pose_dataset.image_size, self.center_jittering, self.scale_jittering)
            color = sample_color_augm(rng, **self.color_amplitudes)
        sigma = sample_blur_sigma(rng, self.blur_radius) if self.augment else 0.0
        if self.sample_nb is None:
            return self.get_sample(idx, space, color, sigma)
        samples = []
        sparse = self.pose_dataset.sparse_map
        frame_ids = self.pose_dataset.frame_ids
        for slot, frame_idx in enumerate(item_indices(sparse, idx, self.sample_nb, self.spacing)):
            if slot > 0 and self.augment and not self.shared_blur:
                sigma = sample_blur_sigma(rng, self.blur_radius)
            if self.consist_width is None:
                sample = self.get_sample(frame_idx, space, color, sigma)
            else:  # the frame decoded once, at both widths
                frame, consist = self.pose_dataset.get_images(frame_idx, (None, self.consist_width))
                sample = self.get_sample(frame_idx, space, color, sigma, frame)
                sample.update(self.consist_frame(consist, space, color, sigma, sample[K.CAM_INTR]))
            sample[K.DIST2QUERY] = int(abs(frame_ids[frame_idx] - frame_ids[idx]))
            samples.append(sample)
        return samples

    def get_sample(self, idx: int, space: SpaceAugm, color: Optional[ColorAugm], blur_sigma: float,
                   frame: Optional[np.ndarray] = None) -> Dict[str, Any]:
        """Sample dict of reader sample `idx` with the given augmentation (color None: no colour jitter); frame:
        its (H, W, 3) uint8 image if already read (else it is read here)."""
        ann = self.pose_dataset.get_annotation(idx)
        if frame is None:
            frame = self.pose_dataset.get_image(idx)
        height, width = frame.shape[:2]
        affine = affine_matrix(space, (width, height), (width, height))
        image, mask = augmented_image(frame, affine, color, blur_sigma)
        cam_intr_orig = np.asarray(ann.pop(K.CAM_INTR_ORIG), dtype=np.float64)
        sample: Dict[str, Any] = {
            K.IMAGE: image,
            K.JITTER_MASK: mask,
            K.AFFINE: torch.as_tensor(affine, dtype=torch.float32),
            K.CAM_INTR: torch.as_tensor(affine @ cam_intr_orig, dtype=torch.float32),
            K.CAM_INTR_ORIG: torch.as_tensor(cam_intr_orig, dtype=torch.float32),
            K.REPORT_SCALE: torch.from_numpy(self.pose_dataset.report_scale()),
        }
        if self.return_orig_image:
            sample[K.IMAGE_ORIG] = torch.from_numpy(frame)
        for key, value in ann.items():
            sample[key] = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        sparse = self.pose_dataset.sparse_map
        sample[K.ANNOTATED] = bool(sparse.annotated[idx])
        sample[K.DIST2STRONG] = int(sparse.dist2strong[idx])
        sample[K.DIST2QUERY] = 0
        return sample

    def consist_frame(self, frame: np.ndarray, space: SpaceAugm, color: Optional[ColorAugm], blur_sigma: float,
                      cam_intr: torch.Tensor) -> Dict[str, torch.Tensor]:
        """CONSIST_* keys of a sample from its frame loaded at consist_width ((H', W', 3) uint8), with the
        augmentation of its network input (get_sample with the same space, color and blur_sigma, whose intrinsics
        are cam_intr (3, 3)) mapped to that width: the crop's affine map and the intrinsics conjugated by the
        pixel-centre resize map, the blur sigma scaled by the width ratio."""
        width, height = self.pose_dataset.image_size
        scale_x, scale_y = frame.shape[1] / width, frame.shape[0] / height
        resize = scale_intrinsics(np.eye(3), scale_x, scale_y)  # input-width pixels -> consist-width pixels
        affine = resize @ affine_matrix(space, (width, height), (width, height)) @ np.linalg.inv(resize)
        image, mask = augmented_image(frame, affine, color, blur_sigma * scale_x)
        intr = scale_intrinsics(cam_intr.double().numpy(), scale_x, scale_y)
        return {K.CONSIST_IMAGE: image, K.CONSIST_JITTER_MASK: mask,
                K.CONSIST_CAM_INTR: torch.as_tensor(intr, dtype=torch.float32)}
