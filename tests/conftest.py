"""Session-wide fixtures: synthetic content generated once per test session."""

import pytest
import torch

# The suite runs on small CPU machines: keep torch from oversubscribing the cores.
torch.set_num_threads(min(2, torch.get_num_threads()))

CUDA = pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                           reason="no CUDA device on this machine")])
DEVICES = ["cpu", CUDA]


@pytest.fixture(params=DEVICES)
def device(request):
    """The device a test runs on: CPU always, CUDA when present (`pytest -m cuda` selects the CUDA cases). Only what
    the test moves there is on the device: the default device stays the CPU, so code under test that creates a
    tensor without device= and mixes it with its inputs fails here as it would for a user."""
    return torch.device(request.param)


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
