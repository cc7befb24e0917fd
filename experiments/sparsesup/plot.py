"""plot.png: 2x2 panels like the paper's Fig. 8 (error against annotated fraction, log x), control vs consistency;
plot_lambda.png (a lambda_consist grid): the paired change against the control for each weight and error;
plot_seeds.png: each seed's paired change against its control, per error and evaluation set, beside the target."""

from pathlib import Path
from typing import Dict, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.sparsesup.aggregate import METRICS, TARGET_METRICS, TARGET_REDUCTION_PERCENT  # noqa: E402

# Panel order of Fig. 8: hand 3D, hand 2D / object 3D, object 2D.
PANELS = ("joints3d_epe_mean_mm", "joints2d_base_epe_mean_px", "objverts3d_mepe_trans_mm", "objverts2d_mepe_px")
STYLES = {"control": dict(color="tab:blue", marker="o", label="control (no consistency)"),
          "consist": dict(color="tab:orange", marker="s", label="+ photometric consistency"),
          "step1": dict(color="0.6", marker=".", linestyle=":", label="step 1")}


def _log_axis(ax, ticks: Sequence[float], label: str) -> None:
    """Log x axis with a tick (plain number) at each of `ticks` and no minor ticks."""
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(label)


def _save(fig, path, title: str) -> Path:
    """Title, layout, write the PNG (folders created) and close the figure."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_errors(summary: Dict, path, title: str = "") -> Path:
    """Draw mean ± std (error bars) against the annotated fraction in percent (log scale) for each method.

    Args:
        summary: aggregate.summarize output.
        path: PNG file to write.
    """
    labels = dict(METRICS)
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    percents = [100 * f for f in summary["fractions"]]
    for ax, key in zip(axes.flat, PANELS):
        for method in ("step1", "control", "consist"):
            points = [(p, summary["cells"][f][method][key]) for p, f in zip(percents, summary["fractions"])
                      if method in summary["cells"][f] and summary["cells"][f][method][key]["n"] > 0]
            if not points:
                continue
            xs = [p for p, _ in points]
            ax.errorbar(xs, [s["mean"] for _, s in points], yerr=[s["std"] for _, s in points], capsize=3,
                        **STYLES[method])
        _log_axis(ax, percents, "annotated fraction (%)")
        ax.set_ylabel(labels[key])
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    return _save(fig, path, title)


def plot_lambda_grid(summaries: Dict[str, Dict], lambdas: Sequence[float], evaluation_sets: Sequence, path,
                     title: str = "") -> Path:
    """One panel per error of aggregate.METRICS: the change of the consistency runs against the control (%, mean ±
    std over seeds of the per-seed paired change) against lambda_consist (log x), one line per evaluation set, at
    the smallest annotated fraction.

    Args:
        summaries: {"lambda_consist=<L>/<metrics key>": aggregate.summarize output} (write_outputs' summaries).
        evaluation_sets: (metrics key, label) pairs, e.g. sparse_consistency.EVALUATION_SETS.
        path: PNG file to write.
    """
    labels = dict(METRICS)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (key, _) in zip(axes.flat, METRICS):
        for (metrics_key, label), style in zip(evaluation_sets, ("-o", "--s")):
            points = []
            for lambda_consist in lambdas:
                summary = summaries.get(f"lambda_consist={lambda_consist:g}/{metrics_key}")
                if not summary or not summary["changes"]:
                    continue
                paired = summary["changes"][min(summary["changes"])][key]["paired"]
                if paired["n"] > 0:
                    points.append((lambda_consist, paired["mean"], paired["std"]))
            if points:
                ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], fmt=style,
                            capsize=3, label=label)
        ax.axhline(0.0, color="0.5", linewidth=1)
        _log_axis(ax, list(lambdas), "lambda_consist")
        ax.set_ylabel(f"change vs control (%)\n{labels[key]}", fontsize=9)
        ax.grid(alpha=0.3)
    if axes.flat[0].get_legend_handles_labels()[0]:  # empty until a consistency run has finished
        axes.flat[0].legend(fontsize=7)
    return _save(fig, path, title)


def plot_paired_seeds(per_seed: Dict[str, Sequence[Dict]], path, title: str = "") -> Path:
    """One dot per seed: the relative change (%) of consistency against the control that resumed the same step-1
    model, for each error of aggregate.METRICS (x), one colour per evaluation set, with the mean as a bar; the
    pre-registered target (-TARGET_REDUCTION_PERCENT on the primary errors) as a dashed line.

    Args:
        per_seed: {evaluation-set label: rows of aggregate.per_seed_changes for one fraction}.
        path: PNG file to write.
    """
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(len(per_seed), 1)
    for index, (label, rows) in enumerate(per_seed.items()):
        color = f"C{index}"
        for column, (key, _) in enumerate(METRICS):
            values = [row["vs_control"][key] for row in rows if key in row["vs_control"]]
            if not values:
                continue
            x = column - 0.4 + width * (index + 0.5)
            ax.scatter([x] * len(values), values, color=color, s=18, zorder=3,
                       label=f"{label} ({len(values)} seeds)" if column == 0 else None)
            ax.hlines(sum(values) / len(values), x - width / 3, x + width / 3, color=color, linewidth=2)
    primary = [column for column, (key, _) in enumerate(METRICS) if key in TARGET_METRICS]
    for column in primary:
        ax.hlines(-TARGET_REDUCTION_PERCENT, column - 0.45, column + 0.45, color="tab:red", linestyles="--",
                  label="target" if column == primary[0] else None)
    ax.axhline(0.0, color="0.5", linewidth=1)
    ax.set_xticks(range(len(METRICS)))
    ax.set_xticklabels([label.replace(" (", "\n(") for _, label in METRICS], fontsize=8)
    ax.set_ylabel("change vs control (%)\ndots: seeds, bars: mean")
    ax.grid(axis="y", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # beside the axes: inside, it hid the target line
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path, title)
