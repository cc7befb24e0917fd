"""Figures of consistency pairs: both images, the rendered flow (HSV colour code), masks, warped image, difference.

Flow colour code: hue = direction (atan2(dv, du) mapped to [0, 1): 0 = +u (right, red), 0.25 = +v (down, towards
yellow-green), 0.5 = -u, 0.75 = -v), saturation 1, value = |flow| / max_magnitude clipped to 1 (black = no flow).
"""

from pathlib import Path
from typing import Dict, Optional

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import hsv_to_rgb

from handobjectconsist.datasets import sample_keys as K

COLUMNS = ("query image", "reference image", "flow on reference", "masks (red: coverage, yellow: used)",
           "warped query (used pixels)", "|difference|")


def flow_to_rgb(flow, max_magnitude: Optional[float] = None) -> np.ndarray:
    """Colour-code a flow field.

    Args:
        flow: (2, H, W) pixels (channel 0 = du, channel 1 = dv), tensor or array.
        max_magnitude: magnitude shown at full brightness; None: the field's maximum (1 if the field is all zero).
    Returns:
        (H, W, 3) float RGB in [0, 1].
    """
    flow = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    du, dv = flow[0].astype(np.float64), flow[1].astype(np.float64)
    magnitude = np.hypot(du, dv)
    if max_magnitude is None:
        max_magnitude = float(magnitude.max()) if magnitude.max() > 0 else 1.0
    hue = (np.arctan2(dv, du) / (2 * np.pi)) % 1.0
    value = np.clip(magnitude / max_magnitude, 0.0, 1.0)
    return hsv_to_rgb(np.stack([hue, np.ones_like(hue), value], axis=-1))


def _image(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) network image in [-0.5, 0.5] -> (H, W, 3) in [0, 1]."""
    return (tensor.detach().cpu().float().permute(1, 2, 0).numpy() + 0.5).clip(0, 1)


def save_pair_figure(query: Dict, ref: Dict, pair: Dict, path, max_rows: int = 4, title: str = "") -> Path:
    """Write a PNG with one row per sample (up to max_rows) and the columns of COLUMNS.

    Args:
        query, ref: frame batch dicts with IMAGE (B, 3, H, W).
        pair: one entry of WarpRegNet extras["pairs"] / models.warpreg.pair_warp_loss outputs: "flow" (MeshPairFlow),
            "warped_query" (B, 3, H, W), "mask_fwd" (B, 1, H, W), "error_fwd" (B, 1, H, W), "loss_fwd" (B,),
            optionally "self_pair" (B,) and "image_query" / "image_ref" (B, 3, h, w), the images the loss compared
            (at --consist_width), shown instead of the frames' IMAGE when present.
        path: output PNG path (folders are created).
    Returns:
        the written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = min(max_rows, query[K.IMAGE].shape[0])
    flow = pair["flow"]
    fig, axes = plt.subplots(rows, len(COLUMNS), figsize=(2.6 * len(COLUMNS), 2.2 * rows), squeeze=False)
    for row in range(rows):
        coverage = flow.coverage_ref[row, 0].cpu().numpy()
        valid = pair["mask_fwd"][row, 0].cpu().numpy()
        # masks: red = reference coverage, green = pixels used by the loss
        masks = np.stack([coverage, valid, np.zeros_like(valid)], axis=-1)
        error = pair["error_fwd"][row, 0].cpu().numpy()
        warped = _image(pair["warped_query"][row]) * valid[..., None]  # only where the loss looks
        shown_query, shown_ref = pair.get("image_query", query[K.IMAGE]), pair.get("image_ref", ref[K.IMAGE])
        panels = [_image(shown_query[row]), _image(shown_ref[row]), flow_to_rgb(flow.flow_ref[row]), masks, warped,
                  error]
        for col, (ax, panel) in enumerate(zip(axes[row], panels)):
            ax.imshow(panel, cmap="magma" if col == 5 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(COLUMNS[col], fontsize=8)
        label = f"loss {float(pair['loss_fwd'][row]):.4f}"
        if "self_pair" in pair and bool(pair["self_pair"][row]):
            label += " (self pair: 0)"
        magnitude = flow.flow_ref[row].norm(dim=0).max().item()
        axes[row, 2].set_xlabel(f"max |flow| {magnitude:.1f} px", fontsize=7)
        axes[row, 5].set_xlabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
