import numpy as np
import pytest
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from libyana.procrustes import procrustes_align, similarity_transform


def test_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(21, 3))
    rotation = Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix()
    target = 1.7 * source @ rotation.T + np.array([0.1, -0.4, 0.9])
    scale, found_rotation, translation = similarity_transform(source, target)
    assert scale == pytest.approx(1.7)
    np.testing.assert_allclose(found_rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(translation, [0.1, -0.4, 0.9], atol=1e-10)
    np.testing.assert_allclose(procrustes_align(source, target), target, atol=1e-10)


def test_residual_matches_scipy_on_noisy_points():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(3, 30, 3))
    source = 0.5 * target @ Rotation.from_rotvec([0.5, 0.2, -0.1]).as_matrix().T + rng.normal(scale=0.05,
                                                                                                 size=target.shape)
    aligned = procrustes_align(source, target)  # batched
    for b in range(3):
        centred = target[b] - target[b].mean(axis=0)
        residual = ((aligned[b] - target[b]) ** 2).sum() / (centred ** 2).sum()
        _, _, disparity = scipy_procrustes(target[b], source[b])
        assert residual == pytest.approx(disparity, rel=1e-8)
        np.testing.assert_allclose(aligned[b], procrustes_align(source[b], target[b]))


def test_mirror_image_is_not_reached_by_a_reflection():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(10, 3))
    target = source * np.array([-1.0, 1.0, 1.0])
    _, rotation, _ = similarity_transform(source, target)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert np.abs(procrustes_align(source, target) - target).max() > 0.1


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((4, 3)), np.zeros((5, 3)))
