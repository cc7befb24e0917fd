"""Axis-angle to rotation matrix (Rodrigues): the project's one implementation, in two variants.

``axis_angle_to_matrix`` (torch, batched, differentiable and stable near the zero rotation) serves the models;
``axis_angle_to_matrix_np`` (numpy) serves the synthetic-data generators, which pose hands and objects in numpy.
"""

import numpy as np
import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from axis-angle vectors.

    Args:
        axis_angle: (B, 3) rotation vectors (direction = axis, norm = angle in radians).
    Returns:
        (B, 3, 3) rotation matrices R such that R @ x rotates column vectors x.
    """
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)  # (B, 1)
    small = theta2 < 1e-8
    # Evaluate the trigonometric terms on a safe angle so that neither branch produces NaN gradients.
    safe_theta2 = torch.where(small, torch.ones_like(theta2), theta2)
    safe_theta = safe_theta2.sqrt()
    # R = I + a [k]x + b [k]x^2 with a = sin(t)/t, b = (1 - cos(t))/t^2 (k unnormalised); Taylor series near 0.
    sin_over = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(safe_theta) / safe_theta)
    one_minus_cos_over = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(safe_theta)) / safe_theta2)
    x, y, z = axis_angle.unbind(-1)
    zeros = torch.zeros_like(x)
    skew = torch.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], dim=-1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin_over.unsqueeze(-1) * skew + one_minus_cos_over.unsqueeze(-1) * (skew @ skew)


def axis_angle_to_matrix_np(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices from axis-angle vectors (numpy, float64).

    Args:
        rotvec: (3,) or (N, 3) rotation vectors (direction = axis, norm = angle in radians).
    Returns:
        (3, 3) or (N, 3, 3) rotation matrices R = I + sin(t) [k]x + (1 - cos(t)) [k]x^2 with k the unit axis;
        the identity for angles below 1e-12.
    """
    rotvec = np.asarray(rotvec)
    if rotvec.ndim == 2:
        return np.stack([axis_angle_to_matrix_np(vec) for vec in rotvec]).reshape(-1, 3, 3)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx
