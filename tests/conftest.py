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
