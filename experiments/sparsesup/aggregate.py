"""Per-run test metrics -> mean/std per (fraction, method), relative change against the control, table.md.

A run record is a dict {"fraction": f, "seed": s, "method": "step1" | "consist" | "control",
"metrics": {metric key: value}, "annotated": int, "train_frames": int}.
"""

import math
from typing import Dict, List, Optional, Sequence

# (metric key in the evaluator summary, column label). Units are in the keys (mm / px).
METRICS = (
    ("joints3d_epe_mean_mm", "hand 3D joints (mm)"),
    ("objverts3d_mepe_trans_mm", "object 3D verts (mm)"),
    ("joints2d_base_epe_mean_px", "hand 2D joints (px)"),
    ("objverts2d_mepe_px", "object 2D verts (px)"),
)
METHOD_LABELS = {"step1": "step 1 (start of step 2)", "control": "control (no consistency)",
                 "consist": "+ photometric consistency"}
# The target: at the smallest fraction, both 3D errors at least this much lower than the control's.
TARGET_REDUCTION_PERCENT = 10.0
TARGET_METRICS = ("joints3d_epe_mean_mm", "objverts3d_mepe_trans_mm")


def mean_std(values: Sequence[float]) -> Dict[str, float]:
    """{"mean", "std", "n"}: sample standard deviation (n-1 in the denominator); std 0 for a single value."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def relative_change(value: float, reference: float) -> float:
    """100 (value - reference) / reference, in percent (negative = lower error than the reference)."""
    return 100.0 * (value - reference) / reference


def summarize(runs: List[Dict]) -> Dict:
    """{"fractions": sorted fractions, "cells": {f: {method: {metric: mean_std}}}, "changes": {f: {metric: ...}},
    "annotated": {f: {"annotated", "train_frames"}}}.

    changes[f][metric] = {"of_means": relative change of the consistency mean against the control mean (%),
    "paired": mean_std over seeds of the per-seed relative change (consist and control of a seed resume the same
    step-1 model), "beyond_spread": mean_consist + std_consist < mean_control - std_control}.
    """
    fractions = sorted({float(r["fraction"]) for r in runs})
    cells, changes, annotated = {}, {}, {}
    for fraction in fractions:
        at = [r for r in runs if float(r["fraction"]) == fraction]
        cells[fraction] = {}
        for method in sorted({r["method"] for r in at}):
            chosen = [r for r in at if r["method"] == method]
            cells[fraction][method] = {key: mean_std([r["metrics"][key] for r in chosen if key in r["metrics"]])
                                       for key, _ in METRICS}
        first = at[0]
        annotated[fraction] = {"annotated": first.get("annotated"), "train_frames": first.get("train_frames")}
        if "consist" in cells[fraction] and "control" in cells[fraction]:
            changes[fraction] = {key: _change(at, key, cells[fraction]) for key, _ in METRICS}
    return {"fractions": fractions, "cells": cells, "changes": changes, "annotated": annotated}


def _change(runs: List[Dict], key: str, cell: Dict) -> Dict:
    consist, control = cell["consist"][key], cell["control"][key]
    by_seed = {}
    for r in runs:
        if key in r["metrics"] and r["method"] in ("consist", "control"):
            by_seed.setdefault(r["seed"], {})[r["method"]] = r["metrics"][key]
    paired = [relative_change(v["consist"], v["control"]) for v in by_seed.values() if len(v) == 2]
    return {
        "of_means": relative_change(consist["mean"], control["mean"]),
        "paired": mean_std(paired),
        "beyond_spread": consist["mean"] + consist["std"] < control["mean"] - control["std"],
    }


def target_verdict(summary: Dict) -> Optional[Dict]:
    """The issue's target at the smallest fraction: both 3D errors reduced by >= 10 % against the control and the
    reduction beyond the seed-to-seed spread. None when that fraction has no consist/control pair yet."""
    if not summary["fractions"] or summary["fractions"][0] not in summary["changes"]:
        return None
    fraction = summary["fractions"][0]
    change = summary["changes"][fraction]
    per_metric = {key: {"reduction_percent": -change[key]["of_means"], "beyond_spread": change[key]["beyond_spread"],
                        "met": -change[key]["of_means"] >= TARGET_REDUCTION_PERCENT and change[key]["beyond_spread"]}
                  for key in TARGET_METRICS}
    return {"fraction": fraction, "metrics": per_metric, "met": all(m["met"] for m in per_metric.values())}


def _cell_text(stats: Dict) -> str:
    if stats["n"] == 0:
        return "-"
    return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


def format_table(summary: Dict, command: str = "") -> str:
    """Markdown: one row per (fraction, method) with mean ± std over seeds, then one row of relative change of
    '+ consistency' against the control (change of the means; in brackets the per-seed paired change)."""
    labels = [label for _, label in METRICS]
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["| annotated fraction | method | seeds | " + " | ".join(labels) + " |",
              "|---|---|---|" + "---|" * len(labels)]
    for fraction in summary["fractions"]:
        info = summary["annotated"][fraction]
        frac_text = f"{100 * fraction:g} %"
        if info.get("annotated") and info.get("train_frames"):
            frac_text += f" ({info['annotated']}/{info['train_frames']} frames)"
        for method in ("step1", "control", "consist"):
            cell = summary["cells"][fraction].get(method)
            if cell is None:
                continue
            n = max(stats["n"] for stats in cell.values())
            values = " | ".join(_cell_text(cell[key]) for key, _ in METRICS)
            lines.append(f"| {frac_text} | {METHOD_LABELS[method]} | {n} | {values} |")
        change = summary["changes"].get(fraction)
        if change is not None:
            texts = []
            for key, _ in METRICS:
                paired = change[key]["paired"]
                text = f"{change[key]['of_means']:+.1f} %"
                if paired["n"] > 1:
                    text += f" ({paired['mean']:+.1f} ± {paired['std']:.1f})"
                texts.append(text + (" *" if change[key]["beyond_spread"] else ""))
            lines.append(f"| {frac_text} | change vs control | | " + " | ".join(texts) + " |")
    lines += ["", "Mean ± sample std over seeds, on the test split. 'change vs control': relative change of the "
              "mean (in brackets: mean ± std of the per-seed paired change); * = the two mean ± std intervals do "
              "not overlap."]
    verdict = target_verdict(summary)
    if verdict is not None:
        parts = [f"{key} {-m['reduction_percent']:+.1f} %{' (beyond spread)' if m['beyond_spread'] else ''}"
                 for key, m in verdict["metrics"].items()]
        lines += ["", f"Target (>= {TARGET_REDUCTION_PERCENT:g} % lower hand and object 3D error than the control at "
                      f"{100 * verdict['fraction']:g} %, beyond the seed spread): "
                      f"{'MET' if verdict['met'] else 'NOT met'} -- " + "; ".join(parts) + "."]
    return "\n".join(lines) + "\n"
