"""experiments/training_logs.py on hand-made run folders: the last epochs' means and the changes against the control."""

import json
import math

from experiments import training_logs
from handobjectconsist.training.monitor import Monitor


def _run(folder, per_epoch, done=True):
    """A run folder whose consist.txt holds epochs 1..len(per_epoch) with the given metrics."""
    monitor = Monitor(folder, {})
    for epoch, metrics in enumerate(per_epoch, start=1):
        monitor.log_epoch("consist", epoch, metrics)
    monitor.close()
    if done:
        (folder / "done.json").write_text("{}")


def test_changes_against_the_control_over_the_last_epochs(tmp_path, capsys):
    early = {"warp_loss": 5.0, "objverts3d_mepe_trans_mm": 99.0}  # outside the last epochs: must not count
    for seed, (loss, error) in enumerate([(0.09, 22.0), (0.08, 21.0)]):
        seed_dir = tmp_path / f"frac0.00625_seed{seed}"
        _run(seed_dir / "control_e3_lc0_aaaa", [early, {"warp_loss": 0.1, "objverts3d_mepe_trans_mm": 20.0},
                                                {"warp_loss": 0.1, "objverts3d_mepe_trans_mm": 20.0}])
        _run(seed_dir / f"consist_e3_lc0.003_{seed}bbb", [early, {"warp_loss": loss, "objverts3d_mepe_trans_mm": error},
                                                          {"warp_loss": loss, "objverts3d_mepe_trans_mm": error}])
        _run(seed_dir / f"consist_e3_lc0.01_{seed}ccc", [early], done=False)  # still training: left out
    out = tmp_path / "report" / "logs"
    assert training_logs.main(["--runs_dir", str(tmp_path), "--last", "2", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["run"] for r in rows] == ["consist_e3_lc0.003_0bbb", "consist_e3_lc0.003_1bbb"]
    assert math.isclose(rows[0]["change_percent"]["warp_loss"], -10.0)
    assert math.isclose(rows[1]["change_percent"]["objverts3d_mepe_trans_mm"], 5.0)
    table = out.with_suffix(".md").read_text()
    assert "| mean change over 2 seeds | consist_e3_lc0.003 | -15.0 % | +7.5 % |" in table


def test_a_folder_without_finished_pairs_is_a_one_line_error(tmp_path, capsys):
    assert training_logs.main(["--runs_dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: no finished consistency run")
    assert training_logs.main(["--runs_dir", str(tmp_path / "missing")]) == 1
    assert "is not a folder" in capsys.readouterr().err
