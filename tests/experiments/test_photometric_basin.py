"""photometric_basin: the pairs, the per-bucket shares, the rule that chooses a candidate, and a tiny run."""

import json

import pytest

from experiments import photometric_basin as basin


def _row(candidate, distance, offset, hand, obj):
    """A fit that starts at offset mm for both parts and ends at hand / obj mm."""
    return {"candidate": candidate, "distance": distance, "offset_mm": offset, "seconds_per_step": 0.01,
            "start": {"hand_mm": offset, "object_mm": offset}, "end": {"hand_mm": hand, "object_mm": obj}}


def _summary(rows, gaps):
    cands = [{"name": "width 240, depth", "resolution": "width 240", "width": 240, "scales": [1], "depth": "depth"}]
    kept = {"none": {"share": 1.0}, "15": {"share": 0.254}, "5": {"share": 0.1}}
    return basin.summarise(rows, cands, gaps, [20.0], kept)


def test_shares_and_medians_per_bucket_and_bound():
    rows = [_row("width 240, depth", 3, 20.0, 5.0, 25.0), _row("width 240, depth", 10, 20.0, 30.0, 10.0),
            _row("width 240, depth", 40, 20.0, 10.0, 30.0)]
    entries = _summary(rows, [None, 15])
    everything, near = entries
    cell = everything["by_offset"]["20"]["1-15"]
    assert cell["pairs"] == 2 and cell["hand_closer"] == 0.5 and cell["object_closer"] == 0.5
    assert cell["hand_median_end_mm"] == pytest.approx(17.5)
    assert everything["by_offset"]["20"]["31-45"]["hand_closer"] == 1.0
    assert everything["by_offset"]["20"]["all"]["pairs"] == 3
    assert everything["mean_closer"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert near["by_offset"]["20"]["all"]["pairs"] == 2 and near["mean_closer"] == pytest.approx(0.5)


def _entry(name, resolution, depth, gap, share, closer, seconds):
    return {"candidate": f"{name}, {depth}", "resolution": resolution, "depth": depth, "width": int(name.split()[1]),
            "scales": [1], "max_gap": gap, "frames": {"share": share}, "mean_closer": closer,
            "seconds_per_step": seconds}


def test_rule_prefers_the_best_eligible_then_cheaper_then_larger_k_then_depth():
    summary = [_entry("width 480", "width 480", "depth", None, 1.0, 0.70, 0.10),
               _entry("width 120", "width 120", "lateral", 15, 0.254, 0.71, 0.02),
               _entry("width 120", "width 120", "depth", 15, 0.254, 0.715, 0.02),
               _entry("width 120", "width 120", "depth", 30, 0.51, 0.72, 0.02),
               _entry("width 240", "width 240", "depth", 5, 0.1, 0.99, 0.03)]  # keeps too few frames
    chosen = basin.select(summary)
    assert chosen["candidate"] == "width 120, depth" and chosen["max_gap"] == 30
    assert chosen["flags"] == "--consist_width 120 --consist_params global --consist_max_gap 30"
    summary[3]["mean_closer"] = 0.60  # now K 15 ties: depth and lateral tie at the same cost and K -> depth
    chosen = basin.select(summary)
    assert (chosen["depth"], chosen["max_gap"]) == ("depth", 15)
    summary[0]["mean_closer"] = 0.80  # a clear winner however expensive
    assert basin.select(summary)["flags"] == "--consist_width 480 --consist_params global"


def test_tiny_run_writes_the_table_and_rebuilds_it(tmp_path, fphab_tiny_root, mano_root):
    out = tmp_path / "basin"
    argv = ["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--fraction", "0.34", "--pairs", "3",
            "--steps", "2", "--widths", "64", "--pyramid_width", "64", "--pyramid_scales", "1", "2",
            "--max_gaps", "none", "1", "--out", str(out)]
    assert basin.main(argv) == 0
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == len(saved["pairs"]) * 2 * 2 * 2  # offsets x resolutions x depth modes
    assert all(row["query_frame"] != row["reference_frame"] for row in saved["rows"])
    table = (out / "table.md").read_text()
    assert "Chosen by the rule" in table and "pyramid 64/1-2, lateral" in table
    assert basin.main(argv + ["--from_results"]) == 0
    assert (out / "table.md").read_text() == table
