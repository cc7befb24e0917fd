"""Similarity (Procrustes) alignment of point sets: the scale, rotation and translation that best map one set onto
another in the least-squares sense (Umeyama's solution; reflections excluded unless asked for)."""

from typing import Tuple

import numpy as np


def similarity_transform(source: np.ndarray, target: np.ndarray, allow_reflection: bool = False
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity mapping source onto target: target ~ scale * source @ R.T + t.

    Args:
        source, target: (N, D) or (B, N, D) corresponding points (any unit).
        allow_reflection: let R be any orthogonal matrix (det -1 allowed, as orthogonal Procrustes); default: det +1.
    Returns:
        scale (B,) or (), R (B, D, D) or (D, D), translation (B, D) or (D,).
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
    sign[(sign == 0) | allow_reflection] = 1.0
    correction = np.ones(sing.shape)
    correction[:, -1] = sign
    rotation = u @ (correction[:, :, None] * vt)
    variance = (src ** 2).sum(axis=(1, 2))
    scale = (sing * correction).sum(axis=1) / np.maximum(variance, 1e-300)
    translation = mean_t[:, 0] - scale[:, None] * np.einsum("bij,bj->bi", rotation, mean_s[:, 0])
    if single:
        return scale[0], rotation[0], translation[0]
    return scale, rotation, translation


def apply_similarity(points: np.ndarray, scale, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """scale * points @ R.T + t for (N, D) points with one transform, or (B, N, D) with B transforms."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 2:
        return scale * points @ np.asarray(rotation).T + translation
    return (np.asarray(scale)[:, None, None] * np.einsum("bij,bnj->bni", rotation, points)
            + np.asarray(translation)[:, None, :])


def procrustes_align(source: np.ndarray, target: np.ndarray, allow_reflection: bool = False) -> np.ndarray:
    """source (N, D) or (B, N, D) mapped onto target by the best similarity transform; same shape as source."""
    return apply_similarity(source, *similarity_transform(source, target, allow_reflection))
