"""What the photometric term did during step 2, read from the runs' training logs (experiments/README.md).

trainmeshwarp.py logs, every epoch, the errors of the predictions on the consist items' unannotated query frames (the
frames the photometric loss trains on, augmented, in training mode) and the photometric loss on those items
(`warp_loss`, at --consist_width) into consist.txt, in both arms: the control computes the loss without training on
it. For every seed of a sparse_consistency.py output, this compares the consistency run with its control over the
last --last epochs: did the term lower the loss it optimises, and what happened to the errors on the same frames?
(A loss that falls while the errors rise is minimised away from the truth.)

    python experiments/training_logs.py --runs_dir checkpoints/sparse_consistency/basin_main --last 34 \
        --out experiments/results/basin_main/training_logs
"""

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handobjectconsist.training.monitor import read_log  # noqa: E402

METRICS = {  # consist.txt key -> table heading
    "warp_loss": "photometric loss",
    "objverts3d_mepe_trans_mm": "object 3D verts (mm)",
    "obj_centroid_lateral_mm": "object centre, lateral (mm)",
    "obj_centroid_depth_mm": "object centre, depth (mm)",
    "joints2d_base_epe_mean_px": "hand 2D joints (px, 480x270)",
    "hand_root_lateral_mm": "hand root, lateral (mm)",
    "hand_root_depth_mm": "hand root, depth (mm)",
    "joints3d_procrustes_epe_mean_mm": "hand 3D Procrustes (mm)",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs_dir", required=True,
                   help="sparse_consistency.py run folder (holds frac*_seed*/control_*/ and consist_*/)")
    p.add_argument("--last", type=int, default=34, help="average over this many last epochs of step 2")
    p.add_argument("--out", default=None, help="also write the table (.md) and the numbers (.json) here")
    return p


def last_epochs_mean(log: Dict[int, Dict[str, float]], last: int) -> Dict[str, float]:
    """Mean of every METRICS key over the `last` highest epochs of a log."""
    epochs = sorted(log)[-last:]
    return {key: statistics.mean(log[e][key] for e in epochs) for key in METRICS if all(key in log[e] for e in epochs)}


def compare_seed(seed_dir: Path, last: int) -> List[Dict]:
    """One row per consistency run of a seed folder: its control's and its own means, and the relative changes."""
    controls = [d for d in sorted(seed_dir.glob("control_*")) if (d / "consist.txt").is_file()]
    if len(controls) != 1:
        return []
    control = last_epochs_mean(read_log(controls[0] / "consist.txt"), last)
    rows = []
    for run in sorted(seed_dir.glob("consist_*")):
        if not (run / "done.json").is_file():
            continue  # still training
        consist = last_epochs_mean(read_log(run / "consist.txt"), last)
        change = {k: 100.0 * (consist[k] - control[k]) / control[k] for k in consist if k in control}
        rows.append({"seed_dir": seed_dir.name, "run": run.name, "control": control, "consist": consist,
                     "change_percent": change})
    return rows


def table(rows: List[Dict], last: int) -> str:
    keys = [k for k in METRICS if all(k in r["change_percent"] for r in rows)]
    head = "| seed folder | consistency run | " + " | ".join(METRICS[k] for k in keys) + " |"
    lines = [f"Consist items' unannotated query frames during step 2, mean of the last {last} epochs: control -> "
             "consistency (relative change).", "", head, "|" + "---|" * (len(keys) + 2)]
    for r in rows:
        cells = [f"{r['control'][k]:.4g} -> {r['consist'][k]:.4g} ({r['change_percent'][k]:+.1f} %)" for k in keys]
        lines.append(f"| {r['seed_dir']} | {r['run']} | " + " | ".join(cells) + " |")
    for setting in sorted({setting_of(r) for r in rows}):
        group = [r for r in rows if setting_of(r) == setting]
        if len(group) > 1:
            means = [statistics.mean(r["change_percent"][k] for r in group) for k in keys]
            lines.append(f"| mean change over {len(group)} seeds | {setting} | "
                         + " | ".join(f"{m:+.1f} %" for m in means) + " |")
    return "\n".join(lines) + "\n"


def setting_of(row: Dict) -> str:
    """The consistency run's name without its settings hash (e.g. consist_e67_lc0.003): the same across seeds."""
    return row["run"].rsplit("_", 1)[0]


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        print(f"error: --runs_dir {runs_dir} is not a folder; give a sparse_consistency.py run folder "
              "(checkpoints/sparse_consistency/<name>)", file=sys.stderr)
        return 1
    rows = [row for seed_dir in sorted(runs_dir.glob("frac*_seed*")) for row in compare_seed(seed_dir, args.last)]
    if not rows:
        print(f"error: no finished consistency run with its control under {runs_dir}", file=sys.stderr)
        return 1
    text = table(rows, args.last)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(f"Command: `python experiments/training_logs.py --runs_dir {runs_dir} "
                                          f"--last {args.last} --out {args.out}`\n\n{text}")
        out.with_suffix(".json").write_text(json.dumps({"last": args.last, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
