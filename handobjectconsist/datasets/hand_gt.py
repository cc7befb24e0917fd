"""Ground-truth hand meshes from MANO parameters: per sample (HO3D meta) or for a whole reader at once (FPHAB fits)."""

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch

_LAYERS: Dict[Tuple[str, str], torch.nn.Module] = {}


def gt_mano_layer(mano_root, side: str = "right"):
    """The process-wide ManoLayer(flat_hand_mean=True, use_pca=False, center_idx=None) for GT meshes."""
    from handobjectconsist.mano import ManoLayer  # imported lazily: only readers that produce hand meshes need it

    key = (str(Path(mano_root).resolve()), side)
    if key not in _LAYERS:
        _LAYERS[key] = ManoLayer(mano_root, side=side, use_pca=False, flat_hand_mean=True, center_idx=None).eval()
    return _LAYERS[key]


def mano_mesh(mano_root, pose: np.ndarray, shape: np.ndarray, trans: np.ndarray, side: str = "right"):
    """GT hand mesh from MANO parameters.

    Args:
        pose: (48,) axis-angle, flat-hand-mean convention. shape: (10,) betas. trans: (3,) metres.
    Returns:
        verts (V, 3) float32 metres and joints (21, 3) float32 metres (project order), in the frame of `trans`.
    """
    layer = gt_mano_layer(mano_root, side)
    with torch.inference_mode():
        verts, joints = layer(
            torch.as_tensor(np.asarray(pose, dtype=np.float32).reshape(1, -1)),
            torch.as_tensor(np.asarray(shape, dtype=np.float32).reshape(1, -1)),
            torch.as_tensor(np.asarray(trans, dtype=np.float32).reshape(1, 3)),
        )
    return verts[0].numpy(), joints[0].numpy()


def mano_meshes(mano_root, poses: np.ndarray, shapes: np.ndarray, trans: np.ndarray, side: str = "right",
                chunk: int = 1024) -> np.ndarray:
    """GT hand vertices of N frames, computed in chunks (one batched forward instead of N small ones).

    Args:
        poses: (N, 48) axis-angle, flat-hand-mean convention. shapes: (N, 10) betas. trans: (N, 3) metres.
    Returns:
        verts (N, V, 3) float32 metres, in the frame of `trans`; the same as `mano_mesh` per frame (float precision).
    """
    layer = gt_mano_layer(mano_root, side)
    count = len(poses)
    verts = np.empty((count, layer.num_verts, 3), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, count, chunk):
            part = slice(start, start + chunk)
            verts[part] = layer(torch.as_tensor(np.asarray(poses[part], dtype=np.float32)),
                                torch.as_tensor(np.asarray(shapes[part], dtype=np.float32)),
                                torch.as_tensor(np.asarray(trans[part], dtype=np.float32)))[0].numpy()
    return verts
