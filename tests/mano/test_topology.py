"""handobjectconsist/mano/topology.py: tip vertices and wrist-closing faces, official constants vs file keys."""

import numpy as np
import pytest
import torch

from handobjectconsist.mano import ManoLayer
from handobjectconsist.mano.topology import hand_topology
from tests.mano.mano_testmodels import make_random_mano, mirror_mano_model, write_model

OFFICIAL_RIGHT_TIPS = [745, 317, 444, 556, 673]
OFFICIAL_LEFT_TIPS = [745, 317, 445, 556, 673]
FIRST_OFFICIAL_WRIST_FACE = [92, 38, 122]


def directed_edges(faces):
    return {(int(f[k]), int(f[(k + 1) % 3])) for f in faces for k in range(3)}


def official_like_model(seed, face_with_edge):
    """A random 778-vertex model without the hoc_ keys, whose faces contain `face_with_edge`."""
    model = make_random_mano(num_verts=778, seed=seed, with_topology=False)
    model["f"] = np.concatenate([[face_with_edge], model["f"]]).astype(np.int64)
    return model


@pytest.fixture(scope="module")
def official_like_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mano_official_like")
    right = official_like_model(seed=2, face_with_edge=[38, 92, 500])  # consistent with [92, 38, 122]
    write_model(root / "MANO_RIGHT.pkl", right)
    write_model(root / "MANO_LEFT.pkl", mirror_mano_model(right))
    return root


@pytest.mark.parametrize("side, tips", [("right", OFFICIAL_RIGHT_TIPS), ("left", OFFICIAL_LEFT_TIPS)])
def test_official_constants_apply_to_official_vertex_count(official_like_root, side, tips):
    layer = ManoLayer(official_like_root, side=side, use_pca=False)
    assert layer.tip_vertex_ids == tips
    num_faces = layer.faces.shape[0]
    assert layer.closed_faces.shape == (num_faces + 14, 3)
    assert torch.equal(layer.wrist_face_ids, torch.arange(num_faces, num_faces + 14))
    wrist = layer.closed_faces[layer.wrist_face_ids].numpy()
    # same triangles as listed upstream, wound consistently with the mesh (shared edges traversed oppositely)
    first = wrist[0].tolist()
    expected_first = FIRST_OFFICIAL_WRIST_FACE if side == "right" else FIRST_OFFICIAL_WRIST_FACE[::-1]
    assert first == expected_first
    assert not directed_edges(wrist) & directed_edges(layer.faces.numpy())
    # tips in the joints: joint 4 (thumb tip) is vertex 745, joint 12 (middle tip) the side's middle-tip vertex
    verts, joints = layer(torch.zeros(1, 48))
    torch.testing.assert_close(joints[0, [4, 8, 12, 16, 20]], verts[0, tips])


def test_official_wrist_faces_flip_to_match_mesh_winding():
    model = official_like_model(seed=3, face_with_edge=[92, 38, 500])  # same direction as [92, 38, 122]
    topology = hand_topology(model, "right")
    assert topology.wrist_faces[0].tolist() == FIRST_OFFICIAL_WRIST_FACE[::-1]
    assert not directed_edges(topology.wrist_faces) & directed_edges(model["f"])


def test_official_constants_refused_for_other_meshes(tmp_path):
    model = make_random_mano(num_verts=60, seed=4, with_topology=False)
    write_model(tmp_path / "MANO_RIGHT.pkl", model)
    with pytest.raises(ValueError) as info:
        ManoLayer(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "MANO_RIGHT.pkl") in message and "60 vertices" in message
    assert "hoc_tip_vertex_ids" in message


def test_file_topology_keys_take_precedence():
    model = make_random_mano(num_verts=778, seed=5, with_topology=True)
    topology = hand_topology(model, "left")
    assert list(topology.tip_vertex_ids) == model["hoc_tip_vertex_ids"].tolist()
    np.testing.assert_array_equal(topology.wrist_faces, model["hoc_wrist_faces"])


@pytest.mark.parametrize("breakage", ["only_tips", "tip_count", "out_of_range", "face_shape"])
def test_malformed_topology_keys_are_rejected(breakage):
    model = make_random_mano(num_verts=40, seed=6)
    if breakage == "only_tips":
        del model["hoc_wrist_faces"]
    elif breakage == "tip_count":
        model["hoc_tip_vertex_ids"] = model["hoc_tip_vertex_ids"][:4]
    elif breakage == "out_of_range":
        model["hoc_wrist_faces"][0, 0] = 40
    else:
        model["hoc_wrist_faces"] = model["hoc_wrist_faces"][:, :2]
    with pytest.raises(ValueError, match="some/MANO_RIGHT.pkl"):
        hand_topology(model, "right", "some/MANO_RIGHT.pkl")
