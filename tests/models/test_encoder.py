import pytest
import torch
from torchvision import models

from handobjectconsist.models.encoder import build_encoder


def test_loads_torchvision_state_dict_from_local_file(tmp_path):
    torch.manual_seed(1)
    reference = models.resnet18(weights=None)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(reference.state_dict(), path)  # includes the unused fc.* keys, like the real file
    encoder = build_encoder("resnet18", pretrained=path).eval()
    reference.eval()
    images = torch.randn(2, 3, 36, 64)
    trunk = torch.nn.Sequential(*list(reference.children())[:-2])
    expected = trunk(images).mean(dim=(2, 3))
    assert torch.allclose(encoder(images), expected, atol=1e-6)


def test_missing_file_error_names_path(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_encoder("resnet18", pretrained=missing)


def test_wrong_architecture_is_rejected(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save(models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="r50.pth"):
        build_encoder("resnet18", pretrained=path)
