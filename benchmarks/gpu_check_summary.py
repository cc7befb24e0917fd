"""The summary of benchmarks/gpu_check.sh: OUT/summary.json and OUT/summary.md from its stage table, logs and JSONs.

    python benchmarks/gpu_check_summary.py --out OUT [--device cuda] [--dry-run]

Training runs: the "timing ..." lines the trainers log after each epoch (training.epochpass.timing_line); the first
epoch (cuDNN autotuning, worker start-up) is left out of the means when later epochs exist.
"""

import argparse
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

TIMING = re.compile(r"timing (\w+) epoch (\d+): (.*)$")
FIELD = re.compile(r"(\w+)=([-\d.]+)")
RUNS = ("trainmeshreg_fp32", "trainmeshreg_amp", "trainmeshwarp_fp32", "trainmeshwarp_amp")
STATUS_NOTE = {"0": "ok", "124": "stopped at its time limit", "137": "killed after its time limit"}


def read_stages(out: Path) -> List[Dict]:
    stages = []
    path = out / "stages.tsv"
    if path.is_file():
        for line in path.read_text().splitlines():
            name, status, seconds = line.split("\t")
            stages.append({"stage": name, "status": int(status), "seconds": int(seconds)})
    return stages


def training_timing(log: Path) -> Optional[Dict]:
    """Means over the epochs of a training log (the first epoch dropped when there are others)."""
    if not log.is_file():
        return None
    epochs = []
    for line in log.read_text(errors="replace").splitlines():
        match = TIMING.search(line)
        if match:
            fields = {key: float(value) for key, value in FIELD.findall(match.group(3))}
            epochs.append(fields)
    if not epochs:
        return None
    used = epochs[1:] if len(epochs) > 1 else epochs
    steps = sum(e["steps"] for e in used)
    summary = {"epochs": len(epochs), "epochs_averaged": len(used), "steps": int(sum(e["steps"] for e in epochs)),
               "ms_per_step": sum(e["ms_per_step"] * e["steps"] for e in used) / max(steps, 1),
               "samples_per_s": sum(e["samples_per_s"] for e in used) / len(used),
               "loader_wait_share": sum(e["loader_wait_share"] for e in used) / len(used)}
    peaks = [e["gpu_peak_mib"] for e in epochs if "gpu_peak_mib" in e]
    summary["gpu_peak_mib"] = max(peaks) if peaks else None
    return summary


def read_json(path: Path) -> Optional[Dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def first_line(path: Path, pattern: str) -> str:
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            if re.search(pattern, line):
                return line.strip()
    return ""


def build(out: Path, device: str, dry_run: bool) -> Dict:
    logs = out / "logs"
    return {
        "device": device,
        "dry_run": dry_run,
        "environment": first_line(logs / "imports.log", r"^torch "),
        "missing_packages": first_line(logs / "imports.log", r"^missing:"),
        "stages": read_stages(out),
        "tests": first_line(logs / "tests.log", r"(passed|failed|error|no tests ran|deselected)"),
        "training": {run: training_timing(logs / f"{run}.log") for run in RUNS},
        "bench_train_step": read_json(out / "bench_train_step.json"),
        "bench_consist_step": read_json(out / "bench_consist_step.json"),
        "bench_render": read_json(out / "bench_render.json"),
        "bench_dataloader": read_json(out / "bench_dataloader.json"),
    }


def _fmt(value, digits=1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(summary: Dict) -> str:
    lines = [f"# GPU check ({'DRY RUN on ' if summary['dry_run'] else ''}{summary['device']})", "",
             f"- environment: {summary['environment'] or 'n/a'}", f"- {summary['missing_packages'] or 'missing: n/a'}",
             f"- CUDA tests: {summary['tests'] or 'n/a'}", "", "## Stages", "", "| stage | exit status | seconds |",
             "| --- | --- | --- |"]
    for stage in summary["stages"]:
        note = STATUS_NOTE.get(str(stage["status"]), "FAILED")
        lines.append(f"| {stage['stage']} | {stage['status']} ({note}) | {stage['seconds']} |")
    lines += ["", "## Training (mean over the epochs after the first)", "",
              "| run | steps | ms / step | samples / s | data-loader wait share | GPU memory peak (MiB) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for run, timing in summary["training"].items():
        if timing is None:
            lines.append(f"| {run} | no completed epoch | | | | |")
            continue
        lines.append(f"| {run} | {timing['steps']} | {_fmt(timing['ms_per_step'])} | "
                     f"{_fmt(timing['samples_per_s'])} | {_fmt(100 * timing['loader_wait_share'])} % | "
                     f"{_fmt(timing['gpu_peak_mib'], 0)} |")
    loader = summary.get("bench_dataloader") or {}
    if loader.get("rows"):
        lines += ["", "## Data loader (bench_dataloader.py)", "", "| configuration | workers | items / s |",
                  "| --- | --- | --- |"]
        for row in loader["rows"]:
            lines.append(f"| {row['config']} | {row['workers']} | {_fmt(row.get('items_per_s'))} |")
        lines.append(f"| JPEG decoding alone | 0 | {_fmt(loader.get('jpeg_decode_per_s'))} |")
    for name in ("bench_train_step", "bench_consist_step", "bench_render"):
        lines += ["", f"## {name}.py", "", "```", json.dumps(summary.get(name), indent=1)[:3000], "```"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    summary = build(out, args.device, args.dry_run)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
