"""Experiment-folder outputs: options, text logs, TensorBoard events, metric curves (PNG) and results.json.

Only the main process (rank 0) creates a Monitor that writes; other ranks use a disabled one.
"""

import datetime
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import matplotlib.pyplot as plt
import yaml

from libyana.fileio import atomic_write_text

CURVE_METRICS = (
    "total_loss",
    "recov_joint3d",
    "recov_objverts3d",
    "joints3d_epe_mean_mm",
    "joints3d_cent_epe_mean_mm",
    "joints3d_procrustes_epe_mean_mm",
    "hand_root_lateral_mm",
    "hand_root_depth_mm",
    "joints2d_base_epe_mean_px",
    "objverts3d_mepe_trans_mm",
    "obj_centroid_lateral_mm",
    "obj_centroid_depth_mm",
    "objverts2d_mepe_px",
)


LOG_HEADER = "==== log at"
_LOG_EPOCH = re.compile(r"^\(epoch: (\d+),")


def truncate_log(path: Path, last_epoch: int) -> int:
    """Drop the lines of epochs after last_epoch from a text log written by Monitor.log_epoch (other text files
    are left alone); returns the number of lines dropped."""
    lines = path.read_text().splitlines(keepends=True)
    if not lines or not lines[0].startswith(LOG_HEADER):
        return 0
    kept = [line for line in lines if not ((m := _LOG_EPOCH.match(line)) and int(m.group(1)) > last_epoch)]
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept), fsync=False)
    return len(lines) - len(kept)


def read_log(path: Path) -> Dict[int, Dict[str, float]]:
    """The epochs of a text log written by Monitor.log_epoch: {epoch: {metric: value}} (values as written, 6
    significant digits). A later line of the same epoch replaces an earlier one."""
    epochs: Dict[int, Dict[str, float]] = {}
    for line in Path(path).read_text().splitlines():
        match = _LOG_EPOCH.match(line)
        if match is None:
            continue
        values = line.split("),", 1)[1]
        epochs[int(match.group(1))] = {name: float(value) for name, value in
                                       (item.split(":", 1) for item in values.split(",") if item)}
    return epochs


class Monitor:
    """Writes the per-epoch outputs of a run into `exp_dir` (nothing at all when enabled=False).

    history: {"train": [{"epoch": E, name: value, ...}, ...], "val": [...]} (restored on resume).
    start_epoch: the epoch the run starts after (0: a fresh run, E: resumed from a checkpoint of epoch E); lines of
        later epochs in the text logs (written by an interrupted run) are dropped, so no epoch is listed twice.
        None (evaluation runs): the logs are kept as they are.
    """

    def __init__(self, exp_dir, opts: Dict, enabled: bool = True, history: Optional[Dict[str, List]] = None,
                 start_epoch: Optional[int] = None):
        self.exp_dir = Path(exp_dir)
        self.opts = opts
        self.enabled = enabled
        self.history = history or {"train": [], "val": []}
        self.writer = None
        if enabled:
            (self.exp_dir / "images").mkdir(parents=True, exist_ok=True)
            if start_epoch is not None:
                for log_path in self.exp_dir.glob("*.txt"):
                    truncate_log(log_path, start_epoch)
            opt_path = self.exp_dir / "opt.yaml"
            atomic_write_text(opt_path, yaml.safe_dump(opts, sort_keys=True), fsync=False)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.exp_dir / "tensorboard"))

    def log_epoch(self, split: str, epoch: int, metrics: Dict[str, float]) -> None:
        """Record the metrics of an epoch (1-based) for one split: history, text log, TensorBoard, results.json.
        curves.png is drawn by save_curves() (after each validation and on close), since drawing is slow."""
        entry = {"epoch": int(epoch), **{k: float(v) for k, v in metrics.items()}}
        self.history.setdefault(split, [])
        self.history[split] = [e for e in self.history[split] if e["epoch"] != epoch] + [entry]
        if not self.enabled:
            return
        log_path = self.exp_dir / f"{split}.txt"
        if not log_path.exists():
            log_path.write_text(f"{LOG_HEADER} {datetime.datetime.now().ctime()} ====\n")
        with open(log_path, "a") as stream:
            values = ",".join(f"{k}:{v:.6g}" for k, v in sorted(metrics.items()))
            stream.write(f"(epoch: {epoch}, time: {datetime.datetime.now().ctime()}),{values}\n")
        for name, value in metrics.items():
            self.writer.add_scalar(f"{name}/{split}", value, epoch)
        self.writer.flush()
        self.save_results()

    def save_results(self) -> None:
        payload = {"opt": self.opts, "train": self.history.get("train", []), "val": self.history.get("val", [])}
        atomic_write_text(self.exp_dir / "results.json", json.dumps(payload, indent=1), fsync=False)

    def save_curves(self) -> Path:
        """curves.png: one subplot per headline metric (CURVE_METRICS), one line per split, x = epoch.
        (Every metric is in TensorBoard and results.json; the PNG keeps to a few because drawing is slow.)"""
        present = {k for entries in self.history.values() for e in entries for k in e}
        names = [name for name in CURVE_METRICS if name in present]
        cols = 4
        rows = max(1, (len(names) + cols - 1) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names):
            for split, entries in self.history.items():
                points = [(e["epoch"], e[name]) for e in entries if name in e]
                if points:
                    xs, ys = zip(*points)
                    ax.plot(xs, ys, marker="o", markersize=2, label=split)
            ax.set_title(name, fontsize=8)
            ax.tick_params(labelsize=6)
            ax.legend(fontsize=6)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.subplots_adjust(hspace=0.45, wspace=0.3)
        path = self.exp_dir / "curves.png"
        fig.savefig(path, dpi=72)
        plt.close(fig)
        return path

    def close(self) -> None:
        """Final curves.png and flush TensorBoard."""
        if self.enabled and any(self.history.values()):
            self.save_curves()
        if self.writer is not None:
            self.writer.close()
