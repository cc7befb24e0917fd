"""Encoder weights: torchvision ImageNet weights from the hub cache (the loader replaced: nothing is downloaded in
tests) or a local file, random weights, and the errors that say what to do."""

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torchvision import models

from handobjectconsist.errors import UsageError
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


def _hub_returning(state, calls):
    """Stand-in for torch.hub.load_state_dict_from_url (no download in tests): records its call, returns `state`."""
    def load(url, model_dir=None, **kwargs):
        calls.append((url, model_dir, kwargs))
        return state
    return load


def test_imagenet_weights_come_from_torchvision_hub_cache(monkeypatch):
    # A real torchvision state dict (fc.* included, as the zoo file) handed over by the hub loader is loaded exactly;
    # the loader is asked for torchvision's IMAGENET1K_V1 file into the hub cache, hash checked.
    torch.manual_seed(2)
    reference = models.resnet18(weights=None).eval()
    calls = []
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _hub_returning(reference.state_dict(), calls))
    encoder = build_encoder("resnet18", pretrained="imagenet").eval()
    (url, model_dir, kwargs), = calls
    assert url == models.ResNet18_Weights.IMAGENET1K_V1.url and url.endswith("resnet18-f37072fd.pth")
    assert model_dir == str(Path(torch.hub.get_dir()) / "checkpoints") and kwargs["check_hash"]
    images = torch.randn(2, 3, 36, 64)
    expected = torch.nn.Sequential(*list(reference.children())[:-2])(images).mean(dim=(2, 3))
    assert torch.allclose(encoder(images), expected, atol=1e-6)


def test_imagenet_weights_without_network_say_what_to_do(monkeypatch):
    def offline(url, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UsageError) as info:
        build_encoder("resnet18", pretrained="imagenet")
    message = str(info.value)
    assert "\n" not in message and "resnet18-f37072fd.pth" in message and "--pretrained none" in message


def test_none_gives_random_weights_and_tiny_refuses_imagenet(monkeypatch):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("downloaded"))
    torch.manual_seed(3)
    first = build_encoder("resnet18", pretrained="none").state_dict()
    torch.manual_seed(3)
    reference = models.resnet18(weights=None).state_dict()  # same seed, same initialisation: torchvision's own
    assert all(torch.equal(value, reference[key]) for key, value in first.items())
    with pytest.raises(UsageError, match="tiny"):
        build_encoder("tiny", pretrained="imagenet")
