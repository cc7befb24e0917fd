"""Running averages of scalar values (losses, metrics)."""

from typing import Dict, Optional


class AverageMeter:
    """Weighted running mean of a scalar: update(value, n) adds n observations of `value`."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.sum = 0.0
        self.count = 0
        self.avg = 0.0

    def update(self, value: float, n: int = 1) -> None:
        self.val = float(value)
        self.sum += float(value) * n
        self.count += n
        self.avg = self.sum / self.count


class AverageMeters:
    """A dict of AverageMeter created on first use; None values are ignored."""

    def __init__(self):
        self.average_meters: Dict[str, AverageMeter] = {}

    def add_loss_value(self, name: str, value: Optional[float], n: int = 1) -> None:
        if value is None:
            return
        self.average_meters.setdefault(name, AverageMeter()).update(value, n)

    def averages(self) -> Dict[str, float]:
        return {name: meter.avg for name, meter in self.average_meters.items()}
