"""Fixtures for the MANO tests."""

import pytest

from tests.mano.mano_testmodels import make_random_mano, mirror_mano_model, write_model


@pytest.fixture(scope="session")
def random_mano_root(tmp_path_factory):
    """Folder with a random right model and its mirror as the left model."""
    root = tmp_path_factory.mktemp("mano_random")
    right = make_random_mano(seed=1)
    write_model(root / "MANO_RIGHT.pkl", right)
    write_model(root / "MANO_LEFT.pkl", mirror_mano_model(right))
    return root
