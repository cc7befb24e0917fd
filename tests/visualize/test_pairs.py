"""Pair figures: flow colour code against analytic colours, and a figure written from a real pair computation."""

import colorsys

import numpy as np
import pytest
import torch
from PIL import Image

from handobjectconsist.consistency import mesh_pair_flow
from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.models.warpreg import pair_warp_loss
from handobjectconsist.visualize.pairs import COLUMNS, flow_to_rgb, save_pair_figure


@pytest.mark.parametrize("du, dv, hue", [(1.0, 0.0, 0.0), (0.0, 1.0, 0.25), (-1.0, 0.0, 0.5), (0.0, -1.0, 0.75),
                                          (1.0, 1.0, 0.125)])
def test_flow_direction_sets_hue(du, dv, hue):
    flow = np.zeros((2, 1, 2))
    flow[:, 0, 1] = (du, dv)
    rgb = flow_to_rgb(flow)
    expected = colorsys.hsv_to_rgb(hue, 1.0, 1.0)
    assert np.allclose(rgb[0, 1], expected, atol=1e-6)
    assert np.allclose(rgb[0, 0], 0.0)  # zero flow is black


def test_flow_magnitude_sets_brightness():
    flow = torch.tensor([[[2.0, 4.0, 8.0]], [[0.0, 0.0, 0.0]]])
    rgb = flow_to_rgb(flow, max_magnitude=4.0)
    assert np.allclose(rgb[0, :, 0], [0.5, 1.0, 1.0])  # red channel = value for hue 0, clipped at 1


def test_pair_figure_is_written(tmp_path):
    # A square facing the camera, moved 2 px to the right in the query frame.
    verts_ref = torch.tensor([[[-0.1, -0.1, 1.0], [0.1, -0.1, 1.0], [0.1, 0.1, 1.0], [-0.1, 0.1, 1.0]]])
    verts_query = verts_ref + torch.tensor([0.02, 0.0, 0.0])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    K = torch.tensor([[[100.0, 0, 15.5], [0, 100.0, 11.5], [0, 0, 1]]])
    image = torch.rand(1, 3, 24, 32) - 0.5
    frame_q = {SK.IMAGE: image, SK.CAM_INTR: K}
    frame_r = {SK.IMAGE: torch.roll(image, -2, dims=3), SK.CAM_INTR: K}
    _, pair = pair_warp_loss(verts_query, verts_ref, faces, frame_q, frame_r)
    flow = mesh_pair_flow(verts_query, verts_ref, faces, K, K, (24, 32))
    assert torch.allclose(flow.flow_ref[0, 0][flow.mask_ref[0, 0] > 0], torch.tensor(2.0), atol=1e-4)
    path = save_pair_figure(frame_q, frame_r, pair, tmp_path / "figs" / "pair.png", title="test")
    with Image.open(path) as png:
        width, height = png.size
    assert width > 80 * len(COLUMNS) and height > 100
