"""The optional PyTorch3D adapter agrees with the pure-PyTorch rasteriser (skipped when PyTorch3D is absent)."""

import numpy as np
import pytest
import torch

from handobjectconsist.render import rasterize


def test_backends_module_imports_without_optional_dependencies():
    from handobjectconsist.render import backends

    try:
        import pytorch3d  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="PyTorch3D"):
            backends.rasterize_pytorch3d(torch.zeros(1, 3, 3), torch.zeros(1, 3, dtype=torch.long),
                                         torch.eye(3)[None], (4, 4))


def test_pytorch3d_adapter_matches_rasterize():
    pytest.importorskip("pytorch3d", reason="PyTorch3D is not installed: the optional backend is not compared")
    from handobjectconsist.render.backends import rasterize_pytorch3d

    rng = np.random.default_rng(0)
    centres = rng.uniform([-0.9, -0.7, 2.0], [0.9, 0.7, 4.0], size=(2, 40, 1, 3))
    verts = torch.tensor((centres + rng.normal(scale=0.35, size=(2, 40, 3, 3))).reshape(2, -1, 3), dtype=torch.float32)
    faces = torch.arange(120).view(40, 3)
    K = torch.tensor([[52.0, 0.0, 31.3], [0.0, 55.0, 23.8], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    ours = rasterize(verts, faces, K, (48, 64))
    theirs = rasterize_pytorch3d(verts, faces, K, (48, 64))
    same = ours.face_index == theirs.face_index
    assert same.float().mean() >= 0.995
    both = same & ours.mask
    torch.testing.assert_close(ours.depth[both], theirs.depth[both], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.bary[both], theirs.bary[both], rtol=1e-3, atol=1e-3)
