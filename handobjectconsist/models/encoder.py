"""ResNet image encoder (torchvision), ImageNet weights read from a local file only."""

import logging
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from torch import nn

from handobjectconsist.errors import UserError

LOGGER = logging.getLogger(__name__)

FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
TINY_ARCH = "tiny"  # 3 conv+BN layers, 64 features: for tests and smoke runs only (no pretrained weights)


class ResNetEncoder(nn.Module):
    """torchvision ResNet trunk (conv1 .. layer4) followed by a spatial mean.

    Attribute names follow torchvision (conv1, bn1, layer1..layer4) so ImageNet state dicts load directly.
    The classification layer `fc` is dropped: its weights are never used.
    """

    def __init__(self, arch: str = "resnet18"):
        super().__init__()
        if arch not in FEATURE_DIMS:
            raise ValueError(f"unknown encoder {arch!r}; expected one of {sorted(FEATURE_DIMS)}")
        from torchvision import models  # imported here: torchvision's import is slow and "tiny" does not need it

        net = getattr(models, arch)(weights=None)
        self.arch = arch
        self.feature_dim = FEATURE_DIMS[arch]
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> features (B, feature_dim)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


class TinyEncoder(nn.Module):
    """Three stride-2 conv + BatchNorm + ReLU layers and a spatial mean: a fast stand-in for tests.

    forward(images (B, 3, H, W)) -> (B, 64)."""

    def __init__(self):
        super().__init__()
        self.arch = TINY_ARCH
        self.feature_dim = 64
        layers = []
        for c_in, c_out in ((3, 16), (16, 32), (32, 64)):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images).mean(dim=(2, 3))


class PretrainedWeightsError(UserError, ValueError):
    """A --pretrained file that is unreadable, not a state dict, or not the encoder's architecture."""


class PretrainedFileMissing(UserError, FileNotFoundError):
    """A --pretrained file that does not exist."""

    def __str__(self) -> str:  # FileNotFoundError would otherwise print only errno-style text
        return self.args[0]


def read_state_dict_file(path: Union[str, Path], flag: str = "--pretrained") -> Dict[str, torch.Tensor]:
    """The state dict (name -> tensor) saved with torch.save in `path` (a {"state_dict": ...} wrapper is accepted).

    Raises PretrainedFileMissing when the file is missing, PretrainedWeightsError when it cannot be read by
    torch.load(weights_only=True) (garbage, truncated, a pickle of other objects), or holds something else than
    a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedFileMissing(
            f"{flag} {path}: file not found. Expected torchvision ImageNet weights "
            f"(e.g. resnet18-f37072fd.pth from the torchvision model zoo, downloaded beforehand); "
            f"nothing is downloaded at run time. Omit {flag} to start from random weights."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, truncated, or pickled objects weights_only refuses
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PretrainedWeightsError(f"{flag} {path}: cannot be read as a torch state dict ({first}); expected "
                                     "torchvision weights saved with torch.save") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = type(state).__name__ if not isinstance(state, dict) else "a dict that is not name -> tensor"
        raise PretrainedWeightsError(f"{flag} {path}: expected a state dict (name -> tensor), got {found}")
    return state


def load_pretrained_encoder(encoder: ResNetEncoder, path: Union[str, Path]) -> None:
    """Load torchvision ImageNet weights (a state dict saved with torch.save) into `encoder`.

    Raises:
        PretrainedFileMissing / PretrainedWeightsError (UserErrors) naming the path when the file is missing, not a
        state dict (read_state_dict_file) or does not match the architecture.
    """
    state = read_state_dict_file(path)
    state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensor shape mismatch
        raise PretrainedWeightsError(f"--pretrained {path}: does not match torchvision {encoder.arch}: "
                                     f"{str(err).strip().splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise PretrainedWeightsError(
            f"--pretrained {path}: does not match torchvision {encoder.arch} "
            f"(missing {len(missing)} keys e.g. {missing[:3]}, unexpected {len(unexpected)} e.g. {unexpected[:3]})"
        )
    LOGGER.info("encoder %s: ImageNet weights loaded from %s", encoder.arch, path)


def build_encoder(arch: str = "resnet18", pretrained: Optional[Union[str, Path]] = None) -> nn.Module:
    """ResNet encoder, with weights from the local file `pretrained` or random initialisation (callers that keep the
    random weights say so: training.session.build_meshregnet). arch "tiny" gives the TinyEncoder (tests only; no
    pretrained weights)."""
    if arch == TINY_ARCH:
        if pretrained:
            raise PretrainedWeightsError("--pretrained cannot be used with --encoder_arch tiny (the test encoder has "
                                         "no pretrained weights); omit --pretrained")
        return TinyEncoder()
    encoder = ResNetEncoder(arch)
    if pretrained:
        load_pretrained_encoder(encoder, pretrained)
    return encoder
