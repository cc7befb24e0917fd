"""Qualitative comparison figure of hand-object reconstructions.

The visualize.py demo; docs/differences-from-upstream.md, K7.

One figure per image: a "Ground Truth" row, then one row per model. Columns:
  1. the image on a white square canvas (side max(H, W), image at the top-left so pixel coordinates are unchanged)
     with the contours of the rendered hand mask (cyan) and object mask (red), and, when corners are given (HO3D),
     the 12 edges of the object's bounding box (yellow: the row's own corners, ground truth or prediction);
  2. the image with the rendered meshes overlaid: flat colours for the ground truth, for a model the jet colour of
     each vertex's 3D error |pred - gt| / max_error, interpolated over the faces, with shading;
  3. the same coloured meshes, rotated about their centroid by the axis-angle (0, 1, 1), on white.
Columns 1-2 share one square crop (the union over rows of the rendered pixels' square box, enlarged 1.2x); column 3
has its own. A colour bar "3D mesh error (cm)" sits at the bottom.

Rendering uses the project's rasteriser (OpenCV camera, pixel (row i, col j) centred at (u=j, v=i)) at the image
resolution for columns 1-2, and on a square canvas of side max(H, W) with the same K for column 3.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import Normalize
from scipy.spatial.transform import Rotation

from handobjectconsist.render import shade_mesh
from libyana.boxes import box_edge_segments
from libyana.camutils import project_points
from libyana.fileio import atomic_path
from libyana.meshutils import concat_meshes

ArrayLike = Union[np.ndarray, torch.Tensor]

GT_HAND_COLOR = (0.3, 0.3, 1.0)
GT_OBJ_COLOR = (1.0, 0.3, 0.3)
HAND_CONTOUR_COLOR = (0, 210, 255)
OBJ_CONTOUR_COLOR = (255, 50, 50)
BOX_COLOR = (1.0, 0.85, 0.0)
ROTATION_AXIS_ANGLE = (0.0, 1.0, 1.0)  # |theta| = sqrt(2) rad, as upstream
CROP_SCALE = 1.2
ERROR_CMAP = "jet"


@dataclass(frozen=True)
class Lighting:
    """Shading of the rendered meshes: colour * (ambient + diffuse * max(0, n . l)), l = light_dir (OpenCV camera
    axes, direction towards the light). Lighting(ambient=1.0, diffuse=0.0) gives the unshaded vertex colours."""

    ambient: float = 0.7
    diffuse: float = 0.4
    light_dir: Tuple[float, float, float] = (0.2, -1.0, -0.8)  # from above the camera, slightly right


@dataclass
class RowPanels:
    """The three panels of one row, before cropping.

    Attributes:
        image_with_contours: (H, W, 3) uint8, the image with the hand/object mask contours drawn in.
        overlay: (H, W, 3) uint8, the image with the shaded coloured meshes over it.
        rotated: (S, S, 3) uint8, S = max(H, W), the rotated meshes on white.
        hand_mask, obj_mask: (H, W) bool, visible hand / object pixels of the overlay render.
        rotated_mask: (S, S) bool, pixels covered by the rotated render.
        box2d: (8, 2) image pixels of the object's bounding-box corners, or None (no corners given).
    """

    image_with_contours: np.ndarray
    overlay: np.ndarray
    rotated: np.ndarray
    hand_mask: np.ndarray
    obj_mask: np.ndarray
    rotated_mask: np.ndarray
    box2d: Optional[np.ndarray] = None


def _as_tensor(values: ArrayLike, name: str, shape_tail: Tuple[int, ...], device, dtype=torch.float32) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(values) if not torch.is_tensor(values) else values.detach())
    if tensor.dim() != len(shape_tail) + 1 or tuple(tensor.shape[1:]) != shape_tail:
        expected = ", ".join(["N"] + [str(s) for s in shape_tail])
        raise ValueError(f"comparison_figure: {name} must have shape ({expected}), got {tuple(tensor.shape)}")
    return tensor.to(device=device, dtype=dtype)


def _corners(values: ArrayLike, name: str, device) -> torch.Tensor:
    corners = _as_tensor(values, name, (3,), device)
    if corners.shape[0] != 8:
        raise ValueError(f"comparison_figure: {name} must have shape (8, 3), got {tuple(corners.shape)}")
    return corners


def vertex_error_colors(pred_verts: ArrayLike, gt_verts: ArrayLike, max_error: float = 0.1,
                        cmap: str = ERROR_CMAP) -> np.ndarray:
    """Per-vertex colour of the 3D error: cmap(clip(|pred - gt| / max_error, 0, 1)).

    Args:
        pred_verts, gt_verts: (..., V, 3) corresponding vertices in metres.
        max_error: error (metres) mapped to the top of the colour map.
        cmap: a matplotlib colour map name.
    Returns:
        (..., V, 3) float64 RGB in [0, 1].
    """
    pred = pred_verts.detach().cpu().double().numpy() if torch.is_tensor(pred_verts) else np.asarray(pred_verts)
    gt = gt_verts.detach().cpu().double().numpy() if torch.is_tensor(gt_verts) else np.asarray(gt_verts)
    if pred.shape != gt.shape or pred.shape[-1] != 3:
        raise ValueError(f"vertex_error_colors: pred and gt must both be (..., V, 3), got {pred.shape}, {gt.shape}")
    if max_error <= 0:
        raise ValueError(f"vertex_error_colors: max_error must be > 0 (metres), got {max_error}")
    errors = np.linalg.norm(pred - gt, axis=-1) / max_error
    return matplotlib.colormaps[cmap](np.clip(errors, 0.0, 1.0))[..., :3]


def rotate_about_centroid(verts: torch.Tensor, axis_angle: Sequence[float] = ROTATION_AXIS_ANGLE) -> torch.Tensor:
    """Rotate vertices (V, 3) about their mean by an axis-angle vector (radians); returns (V, 3)."""
    rotation = torch.as_tensor(Rotation.from_rotvec(np.asarray(axis_angle, dtype=np.float64)).as_matrix(),
                               dtype=verts.dtype, device=verts.device)
    centroid = verts.mean(0, keepdim=True)
    return (verts - centroid) @ rotation.T + centroid


def silhouette_contour(mask: ArrayLike, width: int = 3) -> np.ndarray:
    """Contour of a binary silhouette as a pixel mask.

    The boundary is the set of mask pixels with a non-mask pixel among their 8 neighbours (outside the image counts
    as non-mask); for width > 1 it is thickened by a (width x width) square, centred (odd widths) on the boundary.

    Args:
        mask: (H, W) bool.
        width: line width in pixels (>= 1).
    Returns:
        (H, W) bool.
    """
    mask_t = torch.as_tensor(np.asarray(mask, dtype=bool) if not torch.is_tensor(mask) else mask.cpu()).bool()
    if mask_t.dim() != 2:
        raise ValueError(f"silhouette_contour: mask must be (H, W), got {tuple(mask_t.shape)}")
    if width < 1:
        raise ValueError(f"silhouette_contour: width must be >= 1, got {width}")
    as_float = mask_t.float()[None, None]
    # Erosion = NOT dilation of the complement; padding with 1 in the complement makes the outside background.
    complement = F.pad(1.0 - as_float, (1, 1, 1, 1), value=1.0)
    eroded = F.max_pool2d(complement, 3, stride=1) < 0.5
    boundary = as_float.bool() & ~eroded
    if width > 1:
        lo, hi = (width - 1) // 2, width // 2
        padded = F.pad(boundary.float(), (lo, hi, lo, hi), value=0.0)
        boundary = F.max_pool2d(padded, width, stride=1) > 0.5
    return boundary[0, 0].numpy()


def square_box(mask: np.ndarray, scale: float = CROP_SCALE) -> Optional[Tuple[float, float, float, float]]:
    """Square box (x0, y0, x1, y1) in pixel-edge coordinates around the True pixels of mask (H, W), its side the
    larger extent times `scale`, centred on the pixels' bounding box; None if the mask is empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    x0, x1 = cols.min() - 0.5, cols.max() + 0.5
    y0, y1 = rows.min() - 0.5, rows.max() + 0.5
    half = 0.5 * scale * max(x1 - x0, y1 - y0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    return (cx - half, cy - half, cx + half, cy + half)


def union_box(boxes: Sequence[Optional[Tuple[float, float, float, float]]], fallback_side: int):
    """Smallest square containing all non-None boxes (centred on their union); the square canvas
    (0, 0, side, side) shifted by -0.5 if there is none."""
    boxes = [box for box in boxes if box is not None]
    if not boxes:
        return (-0.5, -0.5, fallback_side - 0.5, fallback_side - 0.5)
    arr = np.asarray(boxes)
    x0, y0 = arr[:, 0].min(), arr[:, 1].min()
    x1, y1 = arr[:, 2].max(), arr[:, 3].max()
    half = 0.5 * max(x1 - x0, y1 - y0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    return (cx - half, cy - half, cx + half, cy + half)


def _paint(image: np.ndarray, mask: np.ndarray, color: Sequence[int]) -> None:
    image[mask] = np.asarray(color, dtype=np.uint8)


def render_row(image: np.ndarray, K: torch.Tensor, hand_verts: torch.Tensor, hand_faces: torch.Tensor,
               hand_colors: torch.Tensor, obj_verts: Optional[torch.Tensor] = None,
               obj_faces: Optional[torch.Tensor] = None, obj_colors: Optional[torch.Tensor] = None,
               lighting: Lighting = Lighting(), contour_width: int = 3,
               obj_corners: Optional[torch.Tensor] = None) -> RowPanels:
    """Render the three panels of one row.

    Args:
        image: (H, W, 3) uint8.
        K: (3, 3) intrinsics of `image` in pixels.
        hand_verts: (V, 3) camera-frame metres; hand_faces (F, 3) long (closed faces for a watertight wrist);
            hand_colors (V, 3) in [0, 1].
        obj_verts, obj_faces, obj_colors: the same for the object, or None for a hand-only row.
        lighting: shading of columns 2 and 3.
        contour_width: contour line width in image pixels.
        obj_corners: (8, 3) camera-frame metres, the object's bounding-box corners (libyana.boxes order), or None.
    Returns:
        RowPanels.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    device = hand_verts.device
    verts_list, faces_list, colors_list = [hand_verts[None]], [hand_faces], [hand_colors[None]]
    if obj_verts is not None:
        verts_list.append(obj_verts[None])
        faces_list.append(obj_faces)
        colors_list.append(obj_colors[None])
    verts, faces = concat_meshes(verts_list, faces_list)
    colors = torch.cat(colors_list, 1).to(verts.dtype)
    K_b = K[None].to(device=device, dtype=verts.dtype)
    shading = dict(ambient=lighting.ambient, diffuse=lighting.diffuse, light_dir=lighting.light_dir, near=0.01)

    background = torch.as_tensor(image, device=device).permute(2, 0, 1)[None].to(verts.dtype) / 255.0
    front = shade_mesh(verts, faces, K_b, (height, width), colors, background=background, **shading)
    face_index = front["face_index"][0].cpu().numpy()
    num_hand_faces = hand_faces.shape[0]
    hand_mask = (face_index >= 0) & (face_index < num_hand_faces)
    obj_mask = face_index >= num_hand_faces

    rotated_verts = rotate_about_centroid(verts[0])[None]
    white = torch.ones(1, 3, side, side, device=device, dtype=verts.dtype)
    turned = shade_mesh(rotated_verts, faces, K_b, (side, side), colors, background=white, **shading)

    with_contours = np.array(image, dtype=np.uint8, copy=True)
    _paint(with_contours, silhouette_contour(obj_mask, contour_width), OBJ_CONTOUR_COLOR)
    _paint(with_contours, silhouette_contour(hand_mask, contour_width), HAND_CONTOUR_COLOR)
    to_uint8 = lambda rgb: (rgb[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()  # noqa: E731
    return RowPanels(
        image_with_contours=with_contours,
        overlay=to_uint8(front["rgb"]),
        rotated=to_uint8(turned["rgb"]),
        hand_mask=hand_mask,
        obj_mask=obj_mask,
        rotated_mask=turned["mask"][0].cpu().numpy(),
        box2d=None if obj_corners is None else project_points(
            obj_corners[None].to(K_b.dtype), K_b.to(obj_corners.device))[0].cpu().numpy(),
    )


def _show(ax, picture: np.ndarray, box, side: int) -> None:
    """Show `picture` on a white square canvas of the given side, cropped to box (x0, y0, x1, y1)."""
    canvas = np.full((side, side, 3), 255, dtype=np.uint8)
    height, width = picture.shape[:2]
    canvas[:height, :width] = picture
    ax.imshow(canvas, interpolation="bilinear")
    ax.set_facecolor("white")
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[3], box[1])
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _atomic_savefig(fig, out_path: Path, dpi: int) -> None:
    with atomic_path(out_path, suffix=out_path.suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, facecolor="white")


def _layout_figure(rows, front_box, rotated_box, side: int, max_error: float, panel_size: float):
    """Place the rows of square panels and the colour bar; sizes in inches, converted to figure fractions."""
    gap, margin, title, bar_area = 0.06 * panel_size, 0.05 * panel_size, 0.1 * panel_size + 0.15, 0.9
    fig_w = 3 * panel_size + 2 * gap + 2 * margin
    fig_h = len(rows) * (panel_size + title) + bar_area + margin
    fig = plt.figure(figsize=(fig_w, fig_h))
    for row_idx, (name, panels) in enumerate(rows):
        bottom = fig_h - (row_idx + 1) * (panel_size + title)
        axes = [fig.add_axes([(margin + col * (panel_size + gap)) / fig_w, bottom / fig_h,
                              panel_size / fig_w, panel_size / fig_h]) for col in range(3)]
        _show(axes[0], panels.image_with_contours, front_box, side)
        if panels.box2d is not None:
            for segment in box_edge_segments(panels.box2d):
                axes[0].plot(segment[:, 0], segment[:, 1], color=BOX_COLOR, linewidth=1.2)
        _show(axes[1], panels.overlay, front_box, side)
        _show(axes[2], panels.rotated, rotated_box, side)
        axes[1].set_title(name, fontsize=11)
    bar_w, bar_h = 1.6 * panel_size, 0.18
    bar_ax = fig.add_axes([(fig_w - bar_w) / 2 / fig_w, (bar_area - 0.3) / fig_h, bar_w / fig_w, bar_h / fig_h])
    top_cm = max_error * 100
    mappable = plt.cm.ScalarMappable(norm=Normalize(0.0, top_cm), cmap=ERROR_CMAP)
    bar = fig.colorbar(mappable, cax=bar_ax, orientation="horizontal", ticks=[0.0, top_cm])
    bar.ax.set_xticklabels(["0", f"{top_cm:.1f}"])
    bar.set_label("3D mesh error (cm)", fontsize=11)
    return fig


def comparison_figure(
    image: np.ndarray,
    K: ArrayLike,
    gt_hand_verts: ArrayLike,
    gt_obj_verts: Optional[ArrayLike],
    hand_faces: ArrayLike,
    obj_faces: Optional[ArrayLike],
    predictions: Sequence[Tuple],
    out_path: Union[str, Path],
    max_error: float = 0.1,
    gt_name: str = "Ground Truth",
    lighting: Lighting = Lighting(),
    contour_width: int = 3,
    panel_size: float = 2.5,
    dpi: int = 120,
    device: Union[str, torch.device] = "cpu",
    gt_obj_corners: Optional[ArrayLike] = None,
) -> Path:
    """Write the ground truth vs. models comparison figure of one image (see the module docstring) as a PNG.

    Args:
        image: (H, W, 3) uint8 RGB frame (any H, W).
        K: (3, 3) intrinsics of `image` in pixels (OpenCV).
        gt_hand_verts: (V, 3) ground-truth hand vertices, camera frame, metres.
        gt_obj_verts: (N, 3) ground-truth object vertices (padding removed), or None for hands only.
        hand_faces: (F, 3) hand faces; pass the closed faces (ManoLayer.closed_faces).
        obj_faces: (G, 3) object faces, or None.
        predictions: [(row name, hand verts (V, 3), obj verts (N, 3) or None[, obj corners (8, 3) or None])],
            vertices corresponding one to one with the ground truth (the error of vertex k is |pred[k] - gt[k]|).
        out_path: PNG path (parent folders are created; written atomically).
        max_error: error in metres at the top of the colour map (upstream --max_val, 0.1).
        gt_name: title of the ground-truth row.
        lighting: shading of the rendered meshes.
        contour_width: mask contour width in image pixels.
        panel_size: side of each square panel in inches (the figure is about 3.2 panels wide).
        dpi: output resolution.
        device: torch device for rendering.
        gt_obj_corners: (8, 3) ground-truth bounding-box corners of the object (camera frame, metres), or None.
    Returns:
        The written path.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"comparison_figure: image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if (gt_obj_verts is None) != (obj_faces is None):
        raise ValueError("comparison_figure: give both gt_obj_verts and obj_faces, or neither")
    height, width = image.shape[:2]
    side = max(height, width)
    K_t = _as_tensor(K, "K", (3,), device)
    if K_t.shape != (3, 3):
        raise ValueError(f"comparison_figure: K must have shape (3, 3), got {tuple(K_t.shape)}")
    gt_hand = _as_tensor(gt_hand_verts, "gt_hand_verts", (3,), device)
    hand_faces_t = _as_tensor(hand_faces, "hand_faces", (3,), device, torch.long)
    gt_obj = None if gt_obj_verts is None else _as_tensor(gt_obj_verts, "gt_obj_verts", (3,), device)
    obj_faces_t = None if obj_faces is None else _as_tensor(obj_faces, "obj_faces", (3,), device, torch.long)
    gt_corners = None if gt_obj_corners is None else _corners(gt_obj_corners, "gt_obj_corners", device)

    def flat(verts, color):
        return None if verts is None else torch.tensor(color, device=device).expand(verts.shape[0], 3)

    rows: List[Tuple[str, RowPanels]] = [(gt_name, render_row(
        image, K_t, gt_hand, hand_faces_t, flat(gt_hand, GT_HAND_COLOR), gt_obj, obj_faces_t,
        flat(gt_obj, GT_OBJ_COLOR), lighting, contour_width, gt_corners))]
    for prediction in predictions:
        name, pred_hand_verts, pred_obj_verts = prediction[:3]
        pred_corners = prediction[3] if len(prediction) > 3 else None
        pred_corners = None if pred_corners is None else _corners(pred_corners, f"{name!r} corners", device)
        pred_hand = _as_tensor(pred_hand_verts, f"{name!r} hand verts", (3,), device)
        if pred_hand.shape != gt_hand.shape:
            raise ValueError(f"comparison_figure: {name!r} hand verts {tuple(pred_hand.shape)} do not match the "
                             f"ground truth {tuple(gt_hand.shape)}")
        hand_colors = torch.as_tensor(vertex_error_colors(pred_hand, gt_hand, max_error), device=device)
        pred_obj = obj_colors = None
        if gt_obj is not None:
            if pred_obj_verts is None:
                raise ValueError(f"comparison_figure: {name!r} has no object vertices but the ground truth has")
            pred_obj = _as_tensor(pred_obj_verts, f"{name!r} obj verts", (3,), device)
            if pred_obj.shape != gt_obj.shape:
                raise ValueError(f"comparison_figure: {name!r} obj verts {tuple(pred_obj.shape)} do not match the "
                                 f"ground truth {tuple(gt_obj.shape)} (remove collate padding with obj_verts_mask)")
            obj_colors = torch.as_tensor(vertex_error_colors(pred_obj, gt_obj, max_error), device=device)
        rows.append((name, render_row(image, K_t, pred_hand, hand_faces_t, hand_colors, pred_obj, obj_faces_t,
                                      obj_colors, lighting, contour_width, pred_corners)))

    front_box = union_box([square_box(p.hand_mask | p.obj_mask) for _, p in rows], side)
    rotated_box = union_box([square_box(p.rotated_mask) for _, p in rows], side)

    fig = _layout_figure(rows, front_box, rotated_box, side, max_error, panel_size)
    out_path = Path(out_path)
    try:
        _atomic_savefig(fig, out_path, dpi)
    finally:
        plt.close(fig)
    return out_path
