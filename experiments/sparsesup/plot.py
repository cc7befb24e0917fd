"""plot.png: 2x2 panels like the paper's Fig. 8 (error against annotated fraction, log x), control vs consistency."""

from pathlib import Path
from typing import Dict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.sparsesup.aggregate import METRICS  # noqa: E402

# Panel order of Fig. 8: hand 3D, hand 2D / object 3D, object 2D.
PANELS = ("joints3d_epe_mean_mm", "joints2d_base_epe_mean_px", "objverts3d_mepe_trans_mm", "objverts2d_mepe_px")
STYLES = {"control": dict(color="tab:blue", marker="o", label="control (no consistency)"),
          "consist": dict(color="tab:orange", marker="s", label="+ photometric consistency"),
          "step1": dict(color="0.6", marker=".", linestyle=":", label="step 1")}


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
        ax.set_xscale("log")
        ax.set_xticks(percents)
        ax.set_xticklabels([f"{p:g}" for p in percents])
        ax.minorticks_off()
        ax.set_xlabel("annotated fraction (%)")
        ax.set_ylabel(labels[key])
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
