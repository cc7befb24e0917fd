"""FPHAB camera constants (the canonical copy; the synthetic FPHAB generator imports them from here).

Colour camera: 1920x1080 RGB, intrinsics in pixels with the project's pixel convention (the centre of pixel
(row i, col j) is at (u=j, v=i)). Annotations (skeletons, object poses) are in the depth/world frame in
millimetres; `world_to_colour_mm` maps them to the colour-camera frame (OpenCV axes), still in millimetres.

Resized frame folders (Video_files_480 = 480x270) need scaled intrinsics: `intrinsics_for_width(480)`.
The scaling follows the pixel-centre convention of an area-preserving resize (PIL `Image.resize`): a source pixel
centre u maps to (u + 0.5) * s - 0.5. Upstream multiplied cx, cy by 1/4 directly, which is 0.375 px off at 480.
"""

import numpy as np

from libyana.camutils import scale_intrinsics

FULL_WIDTH = 1920
FULL_HEIGHT = 1080

# Colour intrinsics at 1920x1080 (pixels).
COLOR_FX = 1395.749023
COLOR_FY = 1395.749268
COLOR_CX = 935.732544
COLOR_CY = 540.681030
COLOR_INTRINSICS_FULL = np.array(
    [[COLOR_FX, 0.0, COLOR_CX], [0.0, COLOR_FY, COLOR_CY], [0.0, 0.0, 1.0]], dtype=np.float64
)

# World (= depth camera) -> colour camera, millimetres: X_colour = R @ X_world + t.
EXTRINSIC_R = np.array(
    [
        [0.999988496304, -0.00468848412856, 0.000982563360594],
        [0.00469115935266, 0.999985218048, -0.00273845880292],
        [-0.000969709653873, 0.00274303671904, 0.99999576807],
    ],
    dtype=np.float64,
)
EXTRINSIC_T_MM = np.array([25.7, 1.22, 3.902], dtype=np.float64)

# Depth intrinsics (not used by the pipeline; kept for completeness).
DEPTH_FX = 475.065948
DEPTH_FY = 475.065857
DEPTH_CX = 315.944855
DEPTH_CY = 245.287079


def height_for_width(width: int) -> int:
    """Image height (pixels) of a frame resized to `width` with the 16:9 aspect of the colour camera."""
    return int(round(FULL_HEIGHT * width / FULL_WIDTH))


def intrinsics_for_width(width: int) -> np.ndarray:
    """(3, 3) float64 colour intrinsics of a frame resized from 1920x1080 to (width, height_for_width(width))."""
    height = height_for_width(width)
    return scale_intrinsics(COLOR_INTRINSICS_FULL, width / FULL_WIDTH, height / FULL_HEIGHT)


def world_to_colour_mm(points_mm: np.ndarray) -> np.ndarray:
    """Map world (depth-camera) points (..., 3) in mm to the colour-camera frame (..., 3) in mm."""
    points_mm = np.asarray(points_mm, dtype=np.float64)
    return points_mm @ EXTRINSIC_R.T + EXTRINSIC_T_MM


def colour_to_world_mm(points_mm: np.ndarray) -> np.ndarray:
    """Inverse of `world_to_colour_mm`: colour-camera points (..., 3) mm -> world (depth-camera) mm."""
    points_mm = np.asarray(points_mm, dtype=np.float64)
    # The published R is orthonormal only to ~1e-6: use its true inverse, not R.T.
    return (points_mm - EXTRINSIC_T_MM) @ np.linalg.inv(EXTRINSIC_R).T
