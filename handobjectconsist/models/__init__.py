"""MeshRegNet and its parts: ResNet encoder, MANO/absolute branches, 2D-to-3D recovery, skeleton regressor, losses."""

from handobjectconsist.models.meshregnet import LOSS_LAMBDA_DEFAULTS, MODEL_OPTION_KEYS, MeshRegNet, predicts_shape
from handobjectconsist.models.project import recover_3d_proj

__all__ = ["LOSS_LAMBDA_DEFAULTS", "MODEL_OPTION_KEYS", "MeshRegNet", "predicts_shape", "recover_3d_proj"]
