"""Seeding of every random number generator a run uses."""

import random

import numpy as np
import torch


def set_all_seeds(seed: int) -> None:
    """Seed python `random`, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
