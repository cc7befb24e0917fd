"""Video input and animation output of the predict command, with OpenCV (opencv-python-headless) and PIL.

OpenCV decodes the common containers and codecs through the FFmpeg build bundled in its wheels and encodes MP4
("mp4v", MPEG-4 Part 2: plays in VLC, mpv, QuickTime and most desktop players; browsers may want H.264, which
the pip wheels cannot encode). GIFs are written with PIL.
OpenCV works in BGR order; everything here takes and returns RGB (H, W, 3) uint8 arrays.
"""

from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image

from handobjectconsist.predict.errors import PredictError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
ANIMATION_FORMATS = ("mp4", "gif")


class VideoReader:
    """Decode a video file frame by frame.

        with VideoReader(path) as reader:
            reader.size, reader.fps, reader.frame_count
            for rgb in reader: ...            # (H, W, 3) uint8

    Raises PredictError (naming --images and the file) when OpenCV cannot open or decode it.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._capture.release()
            raise PredictError(f"--images {self.path}: OpenCV cannot open this video; convert it to MP4 (H.264) or "
                               f"extract its frames to a folder of images")
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise PredictError(f"--images {self.path}: no frame could be decoded from this video; convert it to "
                               f"MP4 (H.264) or extract its frames to a folder of images")
        self._first: Optional[np.ndarray] = first
        self.size: Tuple[int, int] = (int(first.shape[1]), int(first.shape[0]))
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float = fps if 0 < fps < 1000 else 25.0
        self.frame_count = max(1, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._first is not None:
            first, self._first = self._first, None
            yield np.ascontiguousarray(first[..., ::-1])
        while True:
            ok, frame = self._capture.read()
            if not ok or frame is None:
                return
            yield np.ascontiguousarray(frame[..., ::-1])

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AnimationWriter:
    """Collect frames into an MP4 (streamed to disk with cv2.VideoWriter) or a GIF (written by PIL on close).

    Args:
        path: output file; its format is `fmt`.
        fmt: "mp4" or "gif".
        fps: frames per second.
        size: (W, H) of every frame.
        gif_width: GIF frames are downscaled to at most this width (GIFs of full-size frames are huge).
    MPEG-4 needs even frame sides: an odd width or height is padded with one repeated column or row.
    """

    def __init__(self, path, fmt: str, fps: float, size: Tuple[int, int], gif_width: int = 480):
        if fmt not in ANIMATION_FORMATS:
            raise PredictError(f"--video_format {fmt!r}: expected one of {ANIMATION_FORMATS}")
        self.path, self.fmt, self.fps, self.size = Path(path), fmt, float(fps), tuple(size)
        self.gif_width = gif_width
        self._gif_frames: List[Image.Image] = []
        self._writer = None
        if fmt == "mp4":
            even = (self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, even)
            if not self._writer.isOpened():
                raise PredictError(f"--video_format mp4: OpenCV cannot write {self.path}; use --video_format gif")

    def add(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of size `size`."""
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise ValueError(f"AnimationWriter: frame is {rgb.shape[1]}x{rgb.shape[0]}, expected "
                             f"{self.size[0]}x{self.size[1]}")
        if self._writer is not None:
            pad = ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0))
            self._writer.write(np.ascontiguousarray(np.pad(rgb, pad, mode="edge")[..., ::-1]))
            return
        image = Image.fromarray(rgb)
        if image.width > self.gif_width:
            image = image.resize((self.gif_width, max(1, round(image.height * self.gif_width / image.width))),
                                 Image.BILINEAR)
        self._gif_frames.append(image)

    def close(self) -> Path:
        """Finish the file; returns its path."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        elif self._gif_frames:
            first, *rest = self._gif_frames
            first.save(self.path, save_all=True, append_images=rest, duration=round(1000.0 / self.fps), loop=0)
            self._gif_frames = []
        return self.path


def read_animation(path) -> List[np.ndarray]:
    """All frames of an MP4 or GIF as (H, W, 3) uint8 RGB arrays (for checks and tests)."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        frames = []
        with Image.open(path) as gif:
            for index in range(getattr(gif, "n_frames", 1)):
                gif.seek(index)
                frames.append(np.asarray(gif.convert("RGB"), dtype=np.uint8).copy())
        return frames
    with VideoReader(path) as reader:
        return list(reader)
