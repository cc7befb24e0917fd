"""Procedural per-vertex textures: patterns checked on hand-picked points."""

import torch

from handobjectconsist.render.textures import checker, random_vertex_colors, smooth_noise, stripes

A, B = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def test_checker_alternates_between_neighbouring_cells_and_is_constant_inside():
    cell = 0.01
    points = torch.tensor([[0.002, 0.003, 0.001], [0.008, 0.009, 0.004], [0.012, 0.003, 0.001],
                           [0.012, 0.013, 0.001], [-0.002, 0.003, 0.001]])
    colors = checker(points, cell=cell, colors=(A, B))
    assert colors.shape == (5, 3)
    assert colors[:, 0].tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]


def test_stripes_follow_the_direction_with_the_given_period():
    xs = torch.tensor([0.001, 0.009, 0.011, 0.019, 0.021])
    points = torch.stack([torch.zeros(5), xs, torch.full((5,), 0.3)], -1)[None]
    colors = stripes(points, period=0.02, direction=(0.0, 2.0, 0.0), colors=(A, B))
    assert colors.shape == (1, 5, 3)
    assert colors[0, :, 1].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    # Moving along a perpendicular axis does not change the colour.
    shifted = stripes(points + torch.tensor([0.37, 0.0, -0.2]), period=0.02, direction=(0.0, 2.0, 0.0), colors=(A, B))
    torch.testing.assert_close(shifted, colors)


def test_smooth_noise_is_seeded_bounded_and_smooth():
    points = torch.rand(200, 3) * 0.1
    first, again, other = smooth_noise(points, seed=3), smooth_noise(points, seed=3), smooth_noise(points, seed=4)
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)
    assert first.min() >= 0 and first.max() <= 1 and first.std() > 0.02
    nearby = smooth_noise(points + 1e-5, seed=3)
    assert (nearby - first).abs().max() < 0.01


def test_random_vertex_colors_are_seeded_per_vertex():
    colors = random_vertex_colors(50, batch_size=2, seed=1)
    assert colors.shape == (2, 50, 3)
    torch.testing.assert_close(colors[0], colors[1])
    torch.testing.assert_close(colors, random_vertex_colors(50, batch_size=2, seed=1))
    assert not torch.allclose(colors, random_vertex_colors(50, batch_size=2, seed=2))
