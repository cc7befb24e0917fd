import torch

from handobjectconsist.models.losses import masked_centroid, masked_mse, masked_smooth_l1


def _padded_pair():
    torch.manual_seed(0)
    a0, b0 = torch.randn(3, 3), torch.randn(3, 3)
    a1, b1 = torch.randn(5, 3), torch.randn(5, 3)
    pred = torch.zeros(2, 5, 3)
    target = torch.full((2, 5, 3), 123.0)  # garbage in the padding must not matter
    pred[0, :3], target[0, :3], pred[1], target[1] = a0, b0, a1, b1
    mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    return pred, target, mask, torch.cat([a0, a1]), torch.cat([b0, b1])


def test_masked_mse_counts_only_real_points():
    pred, target, mask, flat_pred, flat_target = _padded_pair()
    expected = torch.nn.functional.mse_loss(flat_pred, flat_target)
    assert torch.allclose(masked_mse(pred, target, mask), expected)


def test_masked_smooth_l1_counts_only_real_points():
    pred, target, mask, flat_pred, flat_target = _padded_pair()
    expected = torch.nn.functional.smooth_l1_loss(flat_pred, flat_target)
    assert torch.allclose(masked_smooth_l1(pred, target, mask), expected)


def test_unmasked_mse_is_torch_mse():
    a, b = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    assert torch.allclose(masked_mse(a, b), torch.nn.functional.mse_loss(a, b))


def test_masked_centroid():
    pts = torch.tensor([[[1.0, 2, 3], [3.0, 4, 5], [100.0, 100, 100]]])
    mask = torch.tensor([[True, True, False]])
    assert torch.allclose(masked_centroid(pts, mask), torch.tensor([[[2.0, 3, 4]]]))
