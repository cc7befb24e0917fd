"""Session-wide fixtures: synthetic content generated once per test session."""

import pytest
import torch

# The suite runs on small CPU machines: keep torch from oversubscribing the cores.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def mano_root(tmp_path_factory):
    """Folder holding the synthetic MANO_RIGHT.pkl and MANO_LEFT.pkl (seed 0)."""
    from handobjectconsist.synth.mano_hand import write_synthetic_mano

    root = tmp_path_factory.mktemp("mano_synth")
    write_synthetic_mano(root, seed=0)
    return root


@pytest.fixture(scope="session")
def fphab_tiny_root(tmp_path_factory, mano_root):
    """Folder holding a synthetic FPHAB-layout dataset (preset tiny, seed 0) made with the synthetic hand."""
    from handobjectconsist.synth.fphab import write_fphab

    root = tmp_path_factory.mktemp("fphab_tiny")
    write_fphab(root, mano_root=mano_root, preset="tiny", seed=0)
    return root


@pytest.fixture(scope="session")
def ho3d_tiny_root(tmp_path_factory, mano_root):
    """Folder holding a synthetic HO3D-v2-layout dataset (preset tiny, seed 0) made with the synthetic hand."""
    from handobjectconsist.synth.ho3d import write_ho3d

    root = tmp_path_factory.mktemp("ho3d_tiny")
    write_ho3d(root, mano_root=mano_root, preset="tiny", seed=0)
    return root
