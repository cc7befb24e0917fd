"""MANO hand layer (official or synthetic model files, no chumpy needed), joint orders and hand topology."""

from handobjectconsist.mano.joints import (
    CENTER_JOINT_IDX,
    FINGER_CHAINS,
    JOINT_NAMES,
    JOINT_PARENTS,
    MANO_TO_PROJECT,
    PROJECT_TO_MANO,
    SKELETON_LINKS,
)
from handobjectconsist.mano.layer import ManoLayer
from handobjectconsist.mano.loader import REQUIRED_KEYS, load_mano_model, mano_model_path
from handobjectconsist.mano.topology import HandTopology, hand_topology

__all__ = [
    "CENTER_JOINT_IDX",
    "FINGER_CHAINS",
    "HandTopology",
    "JOINT_NAMES",
    "JOINT_PARENTS",
    "MANO_TO_PROJECT",
    "PROJECT_TO_MANO",
    "REQUIRED_KEYS",
    "SKELETON_LINKS",
    "ManoLayer",
    "hand_topology",
    "load_mano_model",
    "mano_model_path",
]
