"""Masked photometric criteria against hand-computed values and analytic SSIM of constant images."""

import pytest
import torch

from handobjectconsist.consistency.criteria import photometric_criterion


def tiny_pair(device="cpu"):
    pred = torch.zeros(2, 2, 2, 2, device=device)
    target = torch.zeros(2, 2, 2, 2, device=device)
    # sample 0: channel 0 errors 1, 2, 3, 4 (row-major); channel 1 errors 0.5 everywhere
    pred[0, 0] = torch.tensor([[1.0, -2.0], [3.0, 4.0]], device=device)
    pred[0, 1] = 0.5
    # sample 1: constant error -1 on both channels
    target[1] = 1.0
    mask = torch.zeros(2, 1, 2, 2, device=device)
    mask[0, 0] = torch.tensor([[1.0, 0.0], [1.0, 1.0]], device=device)  # keeps errors 1, 3, 4 and three 0.5s
    mask[1, 0, 0, 1] = 1.0
    return pred, target, mask


def test_l1_hand_computed(device):
    pred, target, mask = tiny_pair(device)
    loss = photometric_criterion(pred, target, mask, "l1")
    assert torch.allclose(loss, torch.tensor([(1 + 3 + 4 + 3 * 0.5) / 6, 1.0], device=device))


def test_l2_hand_computed(device):
    pred, target, mask = tiny_pair(device)
    loss = photometric_criterion(pred, target, mask, "l2")
    assert torch.allclose(loss, torch.tensor([(1 + 9 + 16 + 3 * 0.25) / 6, 1.0], device=device))


@pytest.mark.parametrize("criterion", ["l1", "l2", "ssim"])
def test_empty_mask_gives_zero_and_finite_grad(criterion, device):
    torch.manual_seed(0)
    pred = torch.rand(2, 3, 16, 16, requires_grad=True, device=device)
    target = torch.rand(2, 3, 16, 16, device=device)
    mask = torch.zeros(2, 1, 16, 16, device=device)
    mask[1, :, 4:8, 4:8] = 1
    loss = photometric_criterion(pred, target, mask, criterion)
    assert loss[0].item() == 0.0
    assert loss[1].item() > 0
    loss.sum().backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[0].abs().sum() == 0


def test_dssim_of_identical_images_is_zero(device):
    torch.manual_seed(1)
    image = torch.rand(2, 3, 20, 24, device=device) - 0.5
    loss = photometric_criterion(image, image.clone(), torch.ones(2, 1, 20, 24, device=device), "ssim")
    assert torch.allclose(loss, torch.zeros(2, device=device), atol=1e-6)


def test_dssim_of_constant_images_is_the_luminance_term(device):
    # For constant images a, b the variances and covariance vanish, so SSIM = (2ab + c1) / (a^2 + b^2 + c1).
    a, b = 0.3, -0.1
    c1 = (0.01 * 1.0) ** 2
    expected = (1 - (2 * a * b + c1) / (a * a + b * b + c1)) / 2
    loss = photometric_criterion(
        torch.full((1, 3, 15, 15), a, device=device), torch.full((1, 3, 15, 15), b, device=device),
        torch.ones(1, 1, 15, 15, device=device), "ssim", ssim_window=5
    )
    assert abs(loss.item() - expected) < 1e-5


def test_unknown_criterion_is_reported(device):
    with pytest.raises(ValueError, match="ssim"):
        photometric_criterion(torch.zeros(1, 3, 4, 4, device=device), torch.zeros(1, 3, 4, 4, device=device),
                              torch.ones(1, 1, 4, 4, device=device), "l3")
