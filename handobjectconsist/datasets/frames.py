"""Reading frame images, optionally resized to a given width (intrinsics must be scaled accordingly)."""

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import CorruptFileError, MissingDataError

# What PIL raises for a file that is not a readable image: garbage (UnidentifiedImageError, an OSError), a
# truncated JPEG ("image file is truncated", OSError), a broken header (ValueError, SyntaxError).
DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError)


def image_size(path) -> Tuple[int, int]:
    """(W, H) of an image file, reading only its header."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(path, "a frame image")
    try:
        with Image.open(path) as img:
            return img.size
    except DECODE_ERRORS as err:
        raise CorruptFileError(path, "a frame image", f"not a readable image ({err})") from None


def resized_size(size: Tuple[int, int], width: Optional[int]) -> Tuple[int, int]:
    """(W, H) after resizing a (W0, H0) frame to `width` keeping the aspect ratio (None: unchanged)."""
    if width is None or width == size[0]:
        return tuple(size)
    return int(width), int(round(size[1] * width / size[0]))


def load_frame(path, width: Optional[int] = None, expected_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Load an RGB frame as (H, W, 3) uint8, resized (PIL bilinear, antialiased) to `width` if given.

    expected_size: (W, H) every frame of the dataset has on disk; a frame of another size raises CorruptFileError
    naming it (it would otherwise get intrinsics made for another size, or break the batch)."""
    return load_frames(path, (width,), expected_size)[0]


def load_frames(path, widths: Sequence[Optional[int]], expected_size: Optional[Tuple[int, int]] = None
                ) -> List[np.ndarray]:
    """The frame decoded once and resized to each of `widths` (None: as stored): what load_frame gives for each
    width, pixel for pixel, at the cost of one decode."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(path, "a frame image", "Pass skip_missing=True to drop frames without images")
    try:
        with Image.open(path) as img:
            if expected_size is not None and tuple(img.size) != tuple(expected_size):
                raise CorruptFileError(path, f"a {expected_size[0]}x{expected_size[1]} frame like the other frames "
                                             "of the dataset", f"the frame is {img.size[0]}x{img.size[1]}")
            if img.mode != "RGB":
                img = img.convert("RGB")
            frames = []
            for width in widths:
                target = resized_size(img.size, width)
                resized = img.resize(target, Image.BILINEAR) if target != img.size else img
                frames.append(np.array(resized, dtype=np.uint8))  # one writable copy
            return frames
    except DECODE_ERRORS as err:
        raise CorruptFileError(path, "a frame image", f"not a readable image ({err})") from None
