import pytest

from libyana.meters import AverageMeter, AverageMeters


def test_weighted_running_mean():
    meter = AverageMeter()
    meter.update(2.0, n=3)
    meter.update(6.0, n=1)
    assert meter.avg == pytest.approx(3.0)  # (2*3 + 6) / 4
    assert meter.count == 4 and meter.val == 6.0


def test_meters_skip_none():
    meters = AverageMeters()
    meters.add_loss_value("a", 1.0)
    meters.add_loss_value("a", None)
    meters.add_loss_value("a", 3.0)
    assert meters.averages() == {"a": 2.0}
