"""--object resolution: mesh files and training-object names (FPHAB and HO3D-v2 layouts), centred as the datasets."""

import numpy as np
import pytest

from handobjectconsist.predict.errors import PredictError
from handobjectconsist.predict.objects import load_object

TETRA = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.3]])
FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def _write_obj(path, verts, faces):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x} {y} {z}" for x, y, z in verts] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def test_mesh_file_is_box_centred_scaled_and_keeps_its_order(tmp_path):
    path = tmp_path / "thing.obj"
    _write_obj(path, TETRA * 1000, FACES)  # millimetres
    obj = load_object(str(path), {}, scale=0.001)
    np.testing.assert_allclose(obj.can_verts, TETRA - [0.05, 0.1, 0.15], atol=1e-7)
    assert np.array_equal(obj.faces, FACES) and obj.name == "thing"


def test_ho3d_name_is_read_from_modelsprocess_in_opencv_axes(tmp_path):
    root = tmp_path / "ho3dv2"
    (root / "train").mkdir(parents=True)
    _write_obj(root / "modelsprocess" / "006_mustard_bottle" / "textured_simple_2000.obj", TETRA, FACES)
    obj = load_object("006_mustard_bottle", {"train_datasets": ["ho3dv2"], "data_root": str(tmp_path)})
    flipped = TETRA * [1.0, -1.0, -1.0]  # OpenGL model frame -> OpenCV, as the HO3D-v2 reader
    np.testing.assert_allclose(obj.can_verts, flipped - (flipped.min(0) + flipped.max(0)) / 2, atol=1e-7)


def test_fphab_name_with_missing_mesh_says_where_it_looked(tmp_path):
    with pytest.raises(PredictError, match="--object salt: its mesh .*salt_model.ply does not exist"):
        load_object("salt", {"train_datasets": ["fhbhands"], "data_root": str(tmp_path)})
