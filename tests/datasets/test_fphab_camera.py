"""FPHAB camera constants: resized intrinsics follow an actual image resize; extrinsic round trip."""

import numpy as np
from PIL import Image

from handobjectconsist.datasets import fphab_camera as cam


def test_intrinsics_for_width_match_a_pil_resize():
    # A bright pixel at a known full-resolution position lands where the scaled intrinsics say after resizing.
    full = np.zeros((1080, 1920), dtype=np.float32)
    u0, v0 = 1003, 517
    full[v0 - 2:v0 + 2, u0 - 2:u0 + 2] = 1.0  # 4x4 block centred at (u0 - 0.5, v0 - 0.5)
    small = np.asarray(Image.fromarray(full).resize((480, 270), Image.BILINEAR))
    vs, us = np.mgrid[:270, :480]
    centroid = np.array([(small * us).sum(), (small * vs).sum()]) / small.sum()
    K_full, K_small = cam.COLOR_INTRINSICS_FULL, cam.intrinsics_for_width(480)
    # The same camera ray (x/z, y/z) = K_full^-1 (u, v, 1) must map to the centroid with K_small.
    ray = np.linalg.solve(K_full, [u0 - 0.5, v0 - 0.5, 1.0])
    assert np.allclose((K_small @ ray)[:2], centroid, atol=0.02)
    assert cam.height_for_width(480) == 270 and np.allclose(cam.intrinsics_for_width(1920), K_full)


def test_extrinsic_round_trip():
    points = np.random.default_rng(0).normal(size=(5, 3)) * 100
    assert np.allclose(cam.colour_to_world_mm(cam.world_to_colour_mm(points)), points, atol=1e-6)
