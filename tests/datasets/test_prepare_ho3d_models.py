"""prepare_ho3d_models: output layout, decimation (or a clear message without the backend), missing input."""

import importlib.util

import numpy as np
import pytest
import trimesh

from handobjectconsist.datasets.meshes import load_mesh
from handobjectconsist.datasets.prepare_ho3d_models import main

HAS_BACKEND = importlib.util.find_spec("fast_simplification") is not None


def _write_ycb(root, subdivisions):
    folder = root / "ycb" / "003_cracker_box"
    folder.mkdir(parents=True)
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.05)
    sphere.export(folder / "textured_simple.obj")
    return sphere


def test_small_mesh_is_written_unchanged(tmp_path):
    sphere = _write_ycb(tmp_path, subdivisions=2)  # 320 faces <= 2000
    assert main(["--ycb", str(tmp_path / "ycb"), "--out", str(tmp_path / "out")]) == 0
    verts, faces = load_mesh(tmp_path / "out/003_cracker_box/textured_simple_2000.obj")
    assert len(faces) == len(sphere.faces)
    assert np.allclose(np.linalg.norm(verts, axis=1), 0.05, atol=1e-5)


def test_large_mesh_is_decimated_or_explains_the_backend(tmp_path):
    _write_ycb(tmp_path, subdivisions=4)  # 5120 faces
    args = ["--ycb", str(tmp_path / "ycb"), "--out", str(tmp_path / "out")]
    if HAS_BACKEND:
        assert main(args) == 0
        _, faces = load_mesh(tmp_path / "out/003_cracker_box/textured_simple_2000.obj")
        assert 1500 <= len(faces) <= 2100
    else:
        with pytest.raises(SystemExit, match="fast-simplification"):
            main(args)


def test_missing_ycb_folder_names_the_expected_file(tmp_path):
    with pytest.raises(SystemExit, match="textured_simple.obj"):
        main(["--ycb", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
