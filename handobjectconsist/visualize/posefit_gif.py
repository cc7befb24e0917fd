"""Animated GIF of a photometric pose fit (consistency.posefit): one frame per fit state.

Layout of a frame (panels of the fit's image size W x H):
    reference frame (annotated) + its meshes' outline | query frame + current meshes overlaid, truth outlined | flow
    photometric error on the reference grid           | curves (loss, vertex errors) against the step, spanning 2
Colours: current hand blue, object red (shaded, 60 % opaque); outlines of the truth white (the fit never sees it);
reference outlines cyan (hand) and red (object). The flow uses the colour code of visualize.pairs.flow_to_rgb with a
fixed scale over the whole fit, so the frames are comparable. The four image panels show one crop of the frames (the
pixels the reference meshes, the truth and the start cover, with a margin, at the panels' aspect ratio), enlarged to
W x H. Images are composed with numpy and Pillow; the curves are drawn once with matplotlib and a marker is added
per frame.
"""

from pathlib import Path
from typing import Dict, List, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from handobjectconsist.consistency.posefit import FitState
from handobjectconsist.render import rasterize, shade_mesh
from handobjectconsist.visualize.comparison import silhouette_contour
from handobjectconsist.visualize.pairs import flow_to_rgb
from libyana.fileio import atomic_path
from libyana.meshutils import concat_meshes

HAND_RGB, OBJ_RGB = (0.25, 0.45, 1.0), (1.0, 0.3, 0.3)
REF_HAND_OUTLINE, REF_OBJ_OUTLINE, TRUTH_OUTLINE = (0, 210, 255), (255, 50, 50), (255, 255, 255)
OVERLAY_OPACITY = 0.6
TITLE_HEIGHT = 18
CURVE_COLORS = ("black", "tab:blue", "tab:red")
CROP_MARGIN = 0.15  # of the covered box's size, on each side


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-0.5, 0.5] -> (H, W, 3) uint8."""
    return ((image.detach().cpu().float() + 0.5).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def _part_masks(hand: torch.Tensor, obj: torch.Tensor, hand_faces, obj_faces, K: torch.Tensor, size):
    """(H, W) bool visible hand and object pixels of the two meshes rendered together."""
    verts, faces = concat_meshes([hand[None], obj[None]], [hand_faces, obj_faces])
    face_index = rasterize(verts, faces, K[None].to(verts.dtype), size).face_index[0].cpu().numpy()
    num_hand = hand_faces.shape[0]
    return (face_index >= 0) & (face_index < num_hand), face_index >= num_hand


def _outline(picture: np.ndarray, mask: np.ndarray, rgb) -> np.ndarray:
    picture = picture.copy()
    picture[silhouette_contour(mask, 1)] = rgb
    return picture


def crop_box(mask: np.ndarray, aspect: float, margin: float = CROP_MARGIN):
    """(x0, y0, x1, y1) integer pixel box (x1, y1 exclusive) around the True pixels of mask (H, W), grown by
    `margin` of its size on each side, widened to width / height = aspect and moved inside the image; the whole
    image when the mask is empty or the box would not fit."""
    height, width = mask.shape
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return 0, 0, width, height
    box_w = (cols.max() - cols.min() + 1) * (1 + 2 * margin)
    box_h = (rows.max() - rows.min() + 1) * (1 + 2 * margin)
    box_w, box_h = max(box_w, box_h * aspect), max(box_h, box_w / aspect)
    if box_w >= width or box_h >= height:
        return 0, 0, width, height
    cx, cy = (cols.min() + cols.max() + 1) / 2, (rows.min() + rows.max() + 1) / 2
    x0 = int(round(min(max(cx - box_w / 2, 0), width - box_w)))
    y0 = int(round(min(max(cy - box_h / 2, 0), height - box_h)))
    return x0, y0, x0 + int(round(box_w)), y0 + int(round(box_h))


def _zoom(picture: np.ndarray, box) -> np.ndarray:
    """Crop picture (H, W, 3) uint8 to box and resize it back to (H, W) (bilinear)."""
    height, width = picture.shape[:2]
    x0, y0, x1, y1 = box
    return np.asarray(Image.fromarray(picture[y0:y1, x0:x1]).resize((width, height), Image.BILINEAR))


def _titled(picture: np.ndarray, title: str, font) -> np.ndarray:
    """Picture (H, W, 3) uint8 with a white title strip above it."""
    canvas = Image.new("RGB", (picture.shape[1], picture.shape[0] + TITLE_HEIGHT), "white")
    canvas.paste(Image.fromarray(picture), (0, TITLE_HEIGHT))
    ImageDraw.Draw(canvas).text((3, 2), title, fill="black", font=font)
    return np.asarray(canvas)


def _curve_panel(curves: Dict[str, Sequence[float]], size, dpi: int = 100):
    """The curves drawn once: (H, W, 3) uint8 and a function step -> x pixel of that step."""
    width, height = size
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes([0.09, 0.24, 0.78, 0.68])
    names = list(curves)
    steps = np.arange(len(curves[names[0]]))
    ax.plot(steps, curves[names[0]], color=CURVE_COLORS[0], label=names[0])
    ax.set_xlabel("step", fontsize=7)
    ax.set_ylabel(names[0], fontsize=7)
    ax.tick_params(labelsize=6)
    twin = ax.twinx()
    for name, color in zip(names[1:], CURVE_COLORS[1:]):
        twin.plot(steps, curves[name], color=color, label=name)
    twin.set_ylabel("mm", fontsize=7)
    twin.set_ylim(bottom=0)
    twin.tick_params(labelsize=6)
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=6, loc="upper right")
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    to_pixels = ax.transData
    top, bottom = height - ax.get_window_extent().y1, height - ax.get_window_extent().y0
    plt.close(fig)

    def x_of(step: int) -> float:
        return float(to_pixels.transform((step, 0.0))[0])

    return picture, x_of, (top, bottom)


def posefit_frames(states: Sequence[FitState], image_query: torch.Tensor, image_ref: torch.Tensor,
                   K_query: torch.Tensor, K_ref: torch.Tensor, hand_faces: torch.Tensor, obj_faces: torch.Tensor,
                   hand_ref: torch.Tensor, obj_ref: torch.Tensor, hand_truth: torch.Tensor, obj_truth: torch.Tensor,
                   curves: Dict[str, Sequence[float]], labels: Sequence[str] = ("reference", "query")
                   ) -> List[np.ndarray]:
    """One (H_f, W_f, 3) uint8 frame per state (layout in the module docstring).

    Args:
        states: the fit states (consistency.posefit.fit_rigid_motions).
        image_query, image_ref: (3, H, W) in [-0.5, 0.5]; K_query, K_ref (3, 3) pixels.
        hand_faces (Fh, 3), obj_faces (Fo, 3) long; hand_ref, obj_ref: the reference frame's meshes (metres);
        hand_truth, obj_truth: the query frame's true meshes (outlined only; metres).
        curves: {name: one value per fit step 0..S}, S >= the last state's step (so a subsample of the states can
            be drawn against the whole curves); the first is drawn on the left axis (the loss), the others in mm on
            the right axis.
        labels: titles of the reference and query frames (e.g. with their frame numbers).
    """
    needed = max(state.step for state in states) + 1
    if any(len(values) < needed for values in curves.values()):
        raise ValueError(f"posefit_frames: every curve needs one value per step, at least {needed}")
    height, width = image_ref.shape[1:]
    font = ImageFont.load_default(size=11)
    ref_hand, ref_obj = _part_masks(hand_ref, obj_ref, hand_faces, obj_faces, K_ref, (height, width))
    reference = _outline(_outline(_to_uint8(image_ref), ref_obj, REF_OBJ_OUTLINE), ref_hand, REF_HAND_OUTLINE)
    truth_hand, truth_obj = _part_masks(hand_truth, obj_truth, hand_faces, obj_faces, K_query, (height, width))
    start_hand, start_obj = _part_masks(states[0].hand_verts, states[0].obj_verts, hand_faces, obj_faces, K_query,
                                        (height, width))
    box = crop_box(ref_hand | ref_obj | truth_hand | truth_obj | start_hand | start_obj, width / height)
    reference = _titled(_zoom(reference, box), labels[0], font)
    query = _to_uint8(image_query)
    query_background = image_query[None].detach().float() + 0.5
    device = states[0].hand_verts.device
    colors = torch.cat([torch.tensor(HAND_RGB, device=device).expand(hand_truth.shape[0], 3),
                        torch.tensor(OBJ_RGB, device=device).expand(obj_truth.shape[0], 3)])[None]
    max_flow = max(float(state.flow.norm(dim=0).max()) for state in states) or 1.0
    max_error = max(float(state.error.max()) for state in states) or 1.0
    curve_picture, x_of, (top, bottom) = _curve_panel(curves, (2 * width, height))
    frames = []
    for state in states:
        verts, faces = concat_meshes([state.hand_verts[None].float(), state.obj_verts[None].float()],
                                     [hand_faces, obj_faces])
        shaded = shade_mesh(verts, faces, K_query[None].float(), (height, width), colors.to(verts.dtype),
                            background=query_background)
        rendered = _to_uint8(shaded["rgb"][0] - 0.5)
        covered = shaded["mask"][0].cpu().numpy()[..., None]
        overlay = np.where(covered, (OVERLAY_OPACITY * rendered + (1 - OVERLAY_OPACITY) * query).round(), query)
        overlay = _outline(_outline(overlay.astype(np.uint8), truth_obj, TRUTH_OUTLINE), truth_hand, TRUTH_OUTLINE)
        flow = (flow_to_rgb(state.flow, max_flow) * 255).round().astype(np.uint8)
        error = plt.get_cmap("magma")(np.clip(state.error.cpu().numpy() / max_error, 0, 1))[..., :3]
        curve = Image.fromarray(curve_picture)
        x = x_of(state.step)
        ImageDraw.Draw(curve).line([(x, top), (x, bottom)], fill=(230, 120, 0), width=2)
        top_row = np.concatenate([
            reference,
            _titled(_zoom(overlay, box), f"{labels[1]}, fit step {state.step}", font),
            _titled(_zoom(flow, box), "flow on the reference grid", font)], axis=1)
        error = (error * 255).round().astype(np.uint8)
        bottom_row = np.concatenate([
            _titled(_zoom(error, box), f"photometric error, loss {state.loss:.4f}", font),
            _titled(np.asarray(curve), "loss and errors against the truth (white outline, not used by the fit)",
                    font)], axis=1)
        frames.append(np.concatenate([top_row, bottom_row], axis=0))
    return frames


def write_gif(frames: Sequence[np.ndarray], path: Union[str, Path], frame_ms: int = 80,
              last_frame_ms: int = 2000) -> Path:
    """Write (H, W, 3) uint8 frames as a looping GIF (Pillow), atomically; the last frame is held longer."""
    if not frames:
        raise ValueError("write_gif: no frames")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path
