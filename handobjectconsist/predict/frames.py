"""The user's frames: a folder of images, a single image, or a video file, as RGB uint8 arrays of one size.

    source = open_frames("my_frames/")        # or "clip.mp4", or "photo.jpg"
    source.size, len(source), source.is_sequence
    for name, rgb in source.frames(): ...     # rgb (H, W, 3) uint8, name = output file stem

Images are read with the dataset readers' functions (datasets.frames: PIL; a corrupt file is a one-line
CorruptFileError naming it), videos decoded with OpenCV (cv2.VideoCapture, see predict.videoio). Images of a folder
are taken in natural name order (frame_2 before frame_10) and must all have the same size, because one set of
intrinsics describes them.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np
from PIL import Image

from handobjectconsist.datasets.frames import image_size, load_frame, resized_size
from handobjectconsist.predict.errors import PredictError
from handobjectconsist.predict.videoio import VIDEO_SUFFIXES, VideoReader

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value ("f2" < "f10")."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def resize_to_width(frame: np.ndarray, width: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 frame to `width`, keeping the aspect ratio (height rounded), with PIL bilinear
    (antialiased), as the dataset readers resize frames for --input_width. Returns the frame itself if W == width."""
    target = resized_size((frame.shape[1], frame.shape[0]), width)
    if target == (frame.shape[1], frame.shape[0]):
        return frame
    return np.asarray(Image.fromarray(frame).resize(target, Image.BILINEAR), dtype=np.uint8)


@dataclass
class FrameSource:
    """Frames of one camera, all of size `size` = (W, H) pixels.

    Attributes:
        kind: "images" (a folder or one image file) or "video".
        path: the --images argument.
        size: (W, H) of every frame.
        image_paths: the image files in order (kind "images").
        video_frames: frame count reported by the container (kind "video"; may be approximate, used for the
            progress bar only).
        fps: frame rate of the video (None for images).
    """

    kind: str
    path: Path
    size: Tuple[int, int]
    image_paths: List[Path] = field(default_factory=list)
    video_frames: int = 0
    fps: Optional[float] = None

    def __len__(self) -> int:
        return len(self.image_paths) if self.kind == "images" else self.video_frames

    @property
    def is_sequence(self) -> bool:
        """True for a video or several images (an animation of the overlays is written)."""
        return self.kind == "video" or len(self.image_paths) > 1

    def frames(self) -> Iterator[Tuple[str, np.ndarray]]:
        """Yield (name, (H, W, 3) uint8 RGB): the image file stem, or frame_{index:06d} for a video."""
        if self.kind == "images":
            for path in self.image_paths:
                frame = load_frame(path)
                if (frame.shape[1], frame.shape[0]) != self.size:
                    raise PredictError(f"--images: {path} is {frame.shape[1]}x{frame.shape[0]}, the other frames "
                                       f"{self.size[0]}x{self.size[1]}")
                yield path.stem, frame
            return
        with VideoReader(self.path) as reader:
            for index, frame in enumerate(reader):
                if (frame.shape[1], frame.shape[0]) != self.size:
                    raise PredictError(f"--images {self.path}: frame {index} changes size to "
                                       f"{frame.shape[1]}x{frame.shape[0]}")
                yield f"frame_{index:06d}", frame


def _image_files(folder: Path) -> List[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
             and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def open_frames(path) -> FrameSource:
    """Inspect --images (folder of images, one image, or a video) without decoding every frame.

    Raises:
        PredictError: the path does not exist, holds no image, mixes frame sizes, or cannot be decoded.
    """
    path = Path(path)
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise PredictError(f"--images {path}: no frames found (expected image files with one of the suffixes "
                               f"{', '.join(IMAGE_SUFFIXES)}, or pass a video file)")
        sizes = [image_size(p) for p in files]
        for p, size in zip(files, sizes):
            if size != sizes[0]:
                raise PredictError(f"--images: {p} is {size[0]}x{size[1]} but {files[0]} is "
                                   f"{sizes[0][0]}x{sizes[0][1]}; all frames must come from one camera at one size "
                                   f"(one set of --intrinsics describes them)")
        return FrameSource("images", path, sizes[0], image_paths=files)
    if not path.is_file():
        raise PredictError(f"--images {path}: no such folder or file (give a folder of images, an image or a video)")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return FrameSource("images", path, image_size(path), image_paths=[path])
    if suffix in VIDEO_SUFFIXES:
        with VideoReader(path) as reader:
            return FrameSource("video", path, reader.size, video_frames=reader.frame_count, fps=reader.fps)
    raise PredictError(f"--images {path}: unknown file type {path.suffix!r}; expected an image "
                       f"({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) or a folder of images")
