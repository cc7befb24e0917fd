"""Text logs of a run read back: Monitor.log_epoch then read_log give the same numbers (6 significant digits)."""

import math

from handobjectconsist.training.monitor import Monitor, read_log


def test_text_log_round_trip(tmp_path):
    monitor = Monitor(tmp_path, {"lr": 1e-4})
    written = {1: {"warp_loss": 0.0844327123, "objverts3d_mepe_trans_mm": 23.62345, "lambda_consist": 0.0},
               2: {"warp_loss": 7.5e-05, "objverts3d_mepe_trans_mm": 1234567.0, "lambda_consist": 0.003}}
    for epoch, metrics in written.items():
        monitor.log_epoch("consist", epoch, metrics)
    monitor.close()
    read = read_log(tmp_path / "consist.txt")
    assert sorted(read) == [1, 2]
    for epoch, metrics in written.items():
        assert read[epoch].keys() == metrics.keys()
        assert all(math.isclose(read[epoch][k], v, rel_tol=1e-5) for k, v in metrics.items())
