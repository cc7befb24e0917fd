"""Interface shared by the dataset readers (FPHAB, HO3D-v2), consumed by HandObjectDataset.

A reader ("pose dataset") lists its samples sequence after sequence and gives, per global index, the frame image
and the ground truth as a dict keyed by sample_keys (3D in camera-frame metres, 2D in original-frame pixels, i.e.
pixels of the frame as returned by get_image after any input_width resize).
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .frames import load_frames
from .sparse import SparseMap


class PoseDataset:
    """Base class of the dataset readers.

    Attributes set by subclasses:
        name: short dataset name ("fphab", "ho3dv2").
        seq_names: list[str] (N,) sequence name of each sample.
        frame_ids: np.ndarray (N,) int frame number of each sample within its sequence.
        sparse_map: SparseMap over the N samples.
        image_size: (W, H) of the frames returned by get_image.
        report_size: (W, H) of the dataset's reference frame, in which 2D errors are reported whatever the input
            width (the original's convention: FPHAB 480x270, HO3D-v2 640x480); None: the frames as returned.
        missing_count: number of samples dropped because their image was missing (skip_missing=True).
    """

    name: str = "base"
    seq_names: List[str]
    frame_ids: np.ndarray
    sparse_map: SparseMap
    image_size: Tuple[int, int]
    report_size: Optional[Tuple[int, int]] = None
    missing_count: int = 0

    def __len__(self) -> int:
        return len(self.seq_names)

    def report_scale(self) -> np.ndarray:
        """(2,) float32 (sx, sy) from the pixels of get_image to those of report_size (ones when it is None)."""
        if self.report_size is None:
            return np.ones(2, dtype=np.float32)
        return (np.asarray(self.report_size, dtype=np.float64) / np.asarray(self.image_size)).astype(np.float32)

    def get_image(self, idx: int, width: Optional[int] = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame of sample idx, of image_size; with `width`, resized to that width instead
        (keeping the stored aspect ratio, like the reader's input_width)."""
        raise NotImplementedError

    def get_images(self, idx: int, widths: Sequence[Optional[int]]) -> List[np.ndarray]:
        """get_image(idx, width) for each width (None: image_size); readers of image files decode the frame once."""
        return [self.get_image(idx, width) for width in widths]

    def get_annotation(self, idx: int) -> Dict[str, Any]:
        """Ground truth of sample idx, keyed by sample_keys (numpy arrays, float32 / int64, and strings)."""
        raise NotImplementedError


class FrameFileDataset(PoseDataset):
    """A reader whose frames are image files on disk (FPHAB, HO3D-v2).

    Attributes set by subclasses, besides PoseDataset's:
        input_width: width frames are resized to on load (None: as stored).
        stored_size: (W, H) of the image files.
    """

    input_width: Optional[int]
    stored_size: Tuple[int, int]

    def frame_path(self, idx: int) -> Path:
        """The image file of sample idx."""
        raise NotImplementedError

    def get_image(self, idx: int, width: Optional[int] = None) -> np.ndarray:
        """(H, W, 3) uint8 frame, resized to `width`, else to input_width if set."""
        return self.get_images(idx, (width,))[0]

    def get_images(self, idx: int, widths: Sequence[Optional[int]]) -> List[np.ndarray]:
        """The frame decoded once, resized to each width (None: input_width if set, else as stored)."""
        return load_frames(self.frame_path(idx), [self.input_width if width is None else width for width in widths],
                           expected_size=self.stored_size)


def sequence_lengths(seq_names: List[str]) -> List[int]:
    """Lengths of the runs of equal consecutive names (samples are stored sequence after sequence)."""
    lengths: List[int] = []
    previous = None
    seen = set()
    for name in seq_names:
        if name != previous:
            if name in seen:
                raise ValueError(f"sequence {name} is not stored contiguously")
            seen.add(name)
            lengths.append(0)
            previous = name
        lengths[-1] += 1
    return lengths
