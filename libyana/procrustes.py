"""Similarity (Procrustes) alignment of point sets: the scale, rotation and translation that best map one set onto
another in the least-squares sense (Umeyama's solution, reflections excluded)."""

from typing import Tuple

import numpy as np


def similarity_transform(source: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity mapping source onto target: target ~ scale * source @ R.T + t.

    Args:
        source, target: (N, D) or (B, N, D) corresponding points (any unit).
    Returns:
        scale (B,) or (), rotation (B, D, D) or (D, D) with det +1, translation (B, D) or (D,).
    """
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim not in (2, 3):
        raise ValueError(f"source {source.shape} and target {target.shape} must both be (N, D) or (B, N, D)")
    single = source.ndim == 2
    if single:
        source, target = source[None], target[None]
    mean_s, mean_t = source.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
    src, tgt = source - mean_s, target - mean_t
    cov = np.einsum("bni,bnj->bij", tgt, src)  # (B, D, D), sum over points of tgt_i * src_j
    u, sing, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    sign[sign == 0] = 1.0
    correction = np.ones(sing.shape)
    correction[:, -1] = sign
    rotation = u @ (correction[:, :, None] * vt)
    variance = (src ** 2).sum(axis=(1, 2))
    scale = (sing * correction).sum(axis=1) / np.maximum(variance, 1e-300)
    translation = mean_t[:, 0] - scale[:, None] * np.einsum("bij,bj->bi", rotation, mean_s[:, 0])
    if single:
        return scale[0], rotation[0], translation[0]
    return scale, rotation, translation


def procrustes_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """source (N, D) or (B, N, D) mapped onto target by the best similarity transform; same shape as source."""
    scale, rotation, translation = similarity_transform(source, target)
    source = np.asarray(source, dtype=np.float64)
    if source.ndim == 2:
        return scale * source @ rotation.T + translation
    return scale[:, None, None] * np.einsum("bij,bnj->bni", rotation, source) + translation[:, None, :]
