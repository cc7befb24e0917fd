"""Linear regressor from hand-model vertices to the 21-joint dataset skeleton (upstream `ManoAdaptor`)."""

import pickle
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

# Rows [16 MANO J_regressor joints, 5 tips] -> project joint order (docs/differences-from-upstream.md, K2).
MANO_TO_PROJECT_ORDER = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]


def fallback_skeleton_matrix(j_regressor: torch.Tensor, tip_vertex_ids: Sequence[int]) -> torch.Tensor:
    """(21, V) regressor: MANO's J_regressor (16, V) plus one-hot tip rows, reordered to the project joint order."""
    num_verts = j_regressor.shape[1]
    tips = torch.zeros(len(tip_vertex_ids), num_verts, dtype=j_regressor.dtype, device=j_regressor.device)
    tips[torch.arange(len(tip_vertex_ids)), torch.as_tensor(list(tip_vertex_ids))] = 1.0
    full = torch.cat([j_regressor, tips], dim=0)
    return full[MANO_TO_PROJECT_ORDER]


def load_skeleton_matrix(path: Union[str, Path], num_verts: int) -> torch.Tensor:
    """Read a (21, V) vertex-to-skeleton regressor.

    Accepted formats: .npy (the array); .npz or .pkl holding it under "regressor" (fhb_skel_regressor.npz written
    by `python -m handobjectconsist.datasets.fit_fphab`) or "adaptor" (upstream fhb_skel_centeridx9.pkl layout).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"skeleton regressor {path}: file not found; expected a (21, {num_verts}) matrix (.npy, or .npz/.pkl "
            f"with key 'regressor' or 'adaptor'), e.g. <fits>/fhb_skel_regressor.npz written by "
            f"`python -m handobjectconsist.datasets.fit_fphab`. Omit the flag to use the MANO J_regressor + "
            f"finger tips fallback."
        )
    matrix = None
    if path.suffix == ".npy":
        matrix = np.load(path)
    elif path.suffix == ".npz":
        with np.load(path) as data:
            key = next((k for k in ("regressor", "adaptor") if k in data.files), None)
            matrix = None if key is None else data[key]
    else:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
        if isinstance(data, dict):
            matrix = data.get("regressor", data.get("adaptor"))
        else:
            matrix = data
    if matrix is None or np.asarray(matrix).shape != (21, num_verts):
        shape = None if matrix is None else np.asarray(matrix).shape
        raise ValueError(f"skeleton regressor {path}: expected an array (21, {num_verts}) under 'regressor' or "
                         f"'adaptor', got {shape}")
    return torch.as_tensor(np.asarray(matrix), dtype=torch.float32)


class SkeletonRegressor(nn.Module):
    """Constant linear map verts (B, V, 3) -> joints (B, 21, 3), stored as buffer `J_regressor` (21, V)."""

    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.register_buffer("J_regressor", matrix.float().clone())

    def forward(self, verts: torch.Tensor) -> torch.Tensor:
        return torch.einsum("jv,bvc->bjc", self.J_regressor.to(verts.dtype), verts)
