"""ResNet image encoder (torchvision), with ImageNet weights from torchvision's model zoo (as the original's
`resnet18(pretrained=True)`: downloaded once into torch's hub cache, ~/.cache/torch/hub/checkpoints by default) or
from a local file, or random weights."""

import logging
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from torch import nn

from handobjectconsist.errors import UsageError, UserError

LOGGER = logging.getLogger(__name__)

FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
TINY_ARCH = "tiny"  # 3 conv+BN layers, 64 features: for tests and smoke runs only (no pretrained weights)
IMAGENET_WEIGHTS = "imagenet"  # --pretrained value: torchvision's ImageNet weights (IMAGENET1K_V1, the original's)
RANDOM_WEIGHTS = "none"  # --pretrained value: random initialisation


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


def imagenet_state_dict(arch: str) -> dict:
    """torchvision's ImageNet weights of `arch` (IMAGENET1K_V1, what `pretrained=True` gave the original), from the
    hub cache or downloaded into it once (file name e.g. resnet18-f37072fd.pth, hash checked).

    Raises:
        UsageError (one line) when the file is neither cached nor downloadable, saying where to put it and that
        --pretrained none trains from random weights.
    """
    from torchvision import models  # imported here: torchvision's import is slow and "tiny" does not need it

    weights = models.get_model_weights(arch)["IMAGENET1K_V1"]
    file_name = weights.url.rsplit("/", 1)[-1]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return torch.hub.load_state_dict_from_url(weights.url, model_dir=str(cache), progress=True,
                                                  check_hash=True, weights_only=True)
    except (OSError, RuntimeError) as err:  # no network (URLError is an OSError), refused, truncated or bad hash
        raise UsageError(
            f"--pretrained imagenet: cannot get torchvision's ImageNet weights for {arch} ({file_name}: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}). Put {weights.url} into {cache}, "
            f"or give a local copy with --pretrained PATH, or train from random weights with --pretrained none"
        ) from None


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
            f"{flag} {path}: file not found. Expected torchvision ImageNet weights (e.g. resnet18-f37072fd.pth from "
            f"the torchvision model zoo); {flag} imagenet gets them through torchvision, {flag} none starts from "
            f"random weights."
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


def load_pretrained_encoder(encoder: "ResNetEncoder", source: Union[str, Path]) -> None:
    """Load torchvision ImageNet weights into `encoder`: source "imagenet" (torchvision's hub cache or download) or
    the path of a state dict saved with torch.save.

    Raises:
        UsageError when "imagenet" weights cannot be had; PretrainedFileMissing / PretrainedWeightsError (UserErrors)
        naming the path when the file is missing, not a state dict (read_state_dict_file) or does not match the
        architecture.
    """
    if str(source) == IMAGENET_WEIGHTS:
        state, path = imagenet_state_dict(encoder.arch), f"{IMAGENET_WEIGHTS} (torchvision's ImageNet weights)"
    else:
        state, path = read_state_dict_file(source), source
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
    """ResNet encoder with weights from `pretrained`: "imagenet" (torchvision's ImageNet weights), a local state
    dict file, or None / "none" for random initialisation (callers that keep the random weights say so:
    training.session.build_meshregnet). arch "tiny" gives the TinyEncoder (tests only; no pretrained weights)."""
    if pretrained is not None and str(pretrained) == RANDOM_WEIGHTS:
        pretrained = None
    if arch == TINY_ARCH:
        if pretrained:
            raise UsageError("--pretrained cannot be used with --encoder_arch tiny (the test encoder has no "
                             "pretrained weights); omit --pretrained or pass --pretrained none")
        return TinyEncoder()
    encoder = ResNetEncoder(arch)
    if pretrained:
        load_pretrained_encoder(encoder, pretrained)
    return encoder
