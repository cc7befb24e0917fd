"""Per-run metrics -> mean/std per (fraction, method), relative change against the control, table.md.

A run record is a dict {"fraction": f, "seed": s, "method": "step1" | "consist" | "control",
"metrics": {metric key: value} (test split), "metrics_unannotated": {...} (unannotated training frames, optional),
"annotated": int, "train_frames": int}. Functions take `metrics_key` to choose the evaluation set.
"""

import math
from typing import Dict, List, Optional, Sequence

# (metric key in the evaluator summary, column label). 2D errors are in pixels of the dataset's reference frame
# (480x270 for FPHAB) since the pre-registered comparison.
METRICS = (
    ("objverts3d_mepe_trans_mm", "object 3D verts (mm)"),
    ("joints2d_base_epe_mean_px", "hand 2D joints (px, 480x270)"),
    ("joints3d_epe_mean_mm", "hand 3D joints (mm, camera)"),
    ("joints3d_cent_epe_mean_mm", "hand 3D root-relative (mm)"),
    ("joints3d_procrustes_epe_mean_mm", "hand 3D Procrustes (mm)"),
    ("objverts2d_mepe_px", "object 2D verts (px, 480x270)"),
)
METHOD_LABELS = {"step1": "step 1 (start of step 2)", "control": "control (no consistency)",
                 "consist": "+ photometric consistency"}
# Pre-registered (experiments/README.md): at the smallest fraction, the primary errors at least this much lower
# than the control's, with the per-seed paired change negative for every seed, over at least TARGET_SEEDS seeds.
TARGET_REDUCTION_PERCENT = 10.0
TARGET_METRICS = ("objverts3d_mepe_trans_mm", "joints2d_base_epe_mean_px")
TARGET_SEEDS = 5
# Convergence check: above this relative change of the control against step 1, step 1 was too short.
CONVERGED_PERCENT = 3.0


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


def summarize(runs: List[Dict], metrics_key: str = "metrics") -> Dict:
    """{"fractions": sorted fractions, "cells": {f: {method: {metric: mean_std}}}, "changes": {f: {metric: ...}},
    "annotated": {f: {"annotated", "train_frames"}}}.

    changes[f][metric] = {"of_means": relative change of the consistency mean against the control mean (%),
    "paired": mean_std over seeds of the per-seed relative change (consist and control of a seed resume the same
    step-1 model), "beyond_spread": the two mean ± std intervals do not overlap (False below 2 seeds per arm,
    where the sample std is undefined),
    "all_seeds_lower": every paired change < 0}. Runs without `metrics_key` are left out.
    """
    runs = [r for r in runs if metrics_key in r]
    fractions = sorted({float(r["fraction"]) for r in runs})
    cells, changes, annotated = {}, {}, {}
    for fraction in fractions:
        at = [r for r in runs if float(r["fraction"]) == fraction]
        cells[fraction] = {}
        for method in sorted({r["method"] for r in at}):
            chosen = [r for r in at if r["method"] == method]
            cells[fraction][method] = {key: mean_std([r[metrics_key][key] for r in chosen
                                                      if key in r[metrics_key]]) for key, _ in METRICS}
        first = at[0]
        annotated[fraction] = {"annotated": first.get("annotated"), "train_frames": first.get("train_frames")}
        if "consist" in cells[fraction] and "control" in cells[fraction]:
            changes[fraction] = {key: _change(at, key, cells[fraction], metrics_key) for key, _ in METRICS}
    return {"fractions": fractions, "cells": cells, "changes": changes, "annotated": annotated}


def _paired(runs: List[Dict], key: str, method: str, reference: str, metrics_key: str) -> List[float]:
    """Per-seed relative changes (%) of `method` against `reference` (runs of one fraction)."""
    by_seed = {}
    for r in runs:
        if key in r[metrics_key] and r["method"] in (method, reference):
            by_seed.setdefault(r["seed"], {})[r["method"]] = r[metrics_key][key]
    return [relative_change(v[method], v[reference]) for _, v in sorted(by_seed.items()) if len(v) == 2]


def _change(runs: List[Dict], key: str, cell: Dict, metrics_key: str) -> Dict:
    consist, control = cell["consist"][key], cell["control"][key]
    paired = _paired(runs, key, "consist", "control", metrics_key)
    return {
        "of_means": relative_change(consist["mean"], control["mean"]),
        "paired": mean_std(paired),
        "paired_values": paired,
        "beyond_spread": _intervals_apart(consist, control),
        "all_seeds_lower": bool(paired) and all(v < 0 for v in paired),
    }


def _intervals_apart(a: Dict, b: Dict) -> bool:
    """Whether the mean ± std intervals of two mean_std results are disjoint; False unless both have 2+ values."""
    if a["n"] < 2 or b["n"] < 2:
        return False
    return a["mean"] + a["std"] < b["mean"] - b["std"] or b["mean"] + b["std"] < a["mean"] - a["std"]


def convergence_check(runs: List[Dict], metrics_key: str = "metrics") -> List[Dict]:
    """Per fraction: the control's paired change against step 1 on each primary metric (%). Step 2 of the control is
    more supervised training, so a change beyond CONVERGED_PERCENT means step 1 had not converged and the comparison
    measures how the photometric term slows supervised fitting rather than what it adds."""
    runs = [r for r in runs if metrics_key in r]
    out = []
    for fraction in sorted({float(r["fraction"]) for r in runs}):
        at = [r for r in runs if float(r["fraction"]) == fraction]
        for key in TARGET_METRICS:
            paired = _paired(at, key, "control", "step1", metrics_key)
            if paired:
                stats = mean_std(paired)
                out.append({"fraction": fraction, "metric": key, "change": stats,
                            "converged": abs(stats["mean"]) <= CONVERGED_PERCENT})
    return out


def format_convergence(checks: List[Dict]) -> str:
    """Lines of the convergence check (empty when there is no step-1/control pair yet)."""
    lines = []
    for c in checks:
        verdict = "ok" if c["converged"] else f"beyond {CONVERGED_PERCENT:g} %: step 1 was too short"
        lines.append(f"Convergence check, {100 * c['fraction']:g} %, {c['metric']}: control vs step 1 "
                     f"{c['change']['mean']:+.1f} % ({_spread_text(c['change'])}) -- {verdict}")
    return "\n".join(lines)


def _spread_text(stats: Dict) -> str:
    """"± std, n seeds", or "1 seed" (no spread from one value)."""
    return "1 seed" if stats["n"] == 1 else f"± {stats['std']:.1f}, {stats['n']} seeds"


def target_verdict(summary: Dict) -> Optional[Dict]:
    """The pre-registered target at the smallest fraction: both primary errors (object 3D vertices, hand 2D joints)
    reduced by >= 10 % against the control, the paired change negative for every seed, and at least TARGET_SEEDS
    seeds. None when that fraction has no consist/control pair yet."""
    if not summary["fractions"] or summary["fractions"][0] not in summary["changes"]:
        return None
    fraction = summary["fractions"][0]
    change = summary["changes"][fraction]
    per_metric = {key: {"reduction_percent": -change[key]["of_means"], "beyond_spread": change[key]["beyond_spread"],
                        "all_seeds_lower": change[key]["all_seeds_lower"], "seeds": change[key]["paired"]["n"],
                        "met": (-change[key]["of_means"] >= TARGET_REDUCTION_PERCENT
                                and change[key]["all_seeds_lower"])}
                  for key in TARGET_METRICS}
    seeds = min(m["seeds"] for m in per_metric.values())
    return {"fraction": fraction, "metrics": per_metric, "seeds": seeds, "enough_seeds": seeds >= TARGET_SEEDS,
            "met": seeds >= TARGET_SEEDS and all(m["met"] for m in per_metric.values())}


def per_seed_changes(runs: List[Dict], metrics_key: str = "metrics") -> Dict[float, List[Dict]]:
    """{fraction: [{"seed", "vs_control": {metric: %}, "control_vs_step1": {primary metric: %}}]} for every seed that
    has both a consistency and a control run (relative changes, negative = lower error)."""
    runs = [r for r in runs if metrics_key in r]
    out = {}
    for fraction in sorted({float(r["fraction"]) for r in runs}):
        by_seed = {}
        for r in runs:
            if float(r["fraction"]) == fraction:
                by_seed.setdefault(r["seed"], {})[r["method"]] = r[metrics_key]
        rows = []
        for seed, methods in sorted(by_seed.items()):
            if "consist" not in methods or "control" not in methods:
                continue
            consist, control, step1 = methods["consist"], methods["control"], methods.get("step1", {})
            rows.append({"seed": seed,
                         "vs_control": {key: relative_change(consist[key], control[key])
                                        for key, _ in METRICS if key in consist and key in control},
                         "control_vs_step1": {key: relative_change(control[key], step1[key])
                                              for key in TARGET_METRICS if key in control and key in step1}})
        if rows:
            out[fraction] = rows
    return out


def format_per_seed(changes: Dict[float, List[Dict]], evaluated_on: str = "the test split") -> str:
    """Markdown: one row per (fraction, seed) with the paired change of consistency against its control for every
    metric, and the control's change against step 1 on the primary metrics (the convergence check, per seed)."""
    if not changes:
        return ""
    labels = [label.split(" (")[0] + " (%)" for _, label in METRICS]  # the cells are relative changes
    primary = " / ".join(label.split(" (")[0] for key, label in METRICS if key in TARGET_METRICS)
    lines = ["| annotated fraction | seed | " + " | ".join(labels) + f" | control vs step 1: {primary} (%) |",
             "|---|---|" + "---|" * (len(labels) + 1)]
    for fraction, rows in changes.items():
        for row in rows:
            cells = [f"{row['vs_control'][key]:+.1f} %" if key in row["vs_control"] else "-" for key, _ in METRICS]
            convergence = " / ".join(f"{row['control_vs_step1'][key]:+.1f} %" if key in row["control_vs_step1"]
                                     else "-" for key in TARGET_METRICS)
            lines.append(f"| {100 * fraction:g} % | {row['seed']} | " + " | ".join(cells) + f" | {convergence} |")
    lines += ["", f"Per seed, on {evaluated_on}: relative change of consistency against the control that resumed "
                  "the same step-1 model (negative = lower error); last column: the control against step 1."]
    return "\n".join(lines) + "\n"


def _cell_text(stats: Dict) -> str:
    if stats["n"] == 0:
        return "-"
    if stats["n"] == 1:  # no spread to show from one seed
        return f"{stats['mean']:.1f}"
    return f"{stats['mean']:.1f} ± {stats['std']:.1f}"


def format_table(summary: Dict, command: str = "", evaluated_on: str = "the test split") -> str:
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
    lines += ["", f"Mean ± sample std over seeds, on {evaluated_on}. 'change vs control': relative change of the "
              "mean (in brackets: mean ± std of the per-seed paired change); * = the two mean ± std intervals do "
              "not overlap (2 seeds or more)."]
    verdict = target_verdict(summary)
    if verdict is not None:
        parts = [f"{key} {-m['reduction_percent']:+.1f} %"
                 f"{', lower for every seed' if m['all_seeds_lower'] else ', not lower for every seed'}"
                 for key, m in verdict["metrics"].items()]
        seeds = "" if verdict["enough_seeds"] else f" [only {verdict['seeds']} of {TARGET_SEEDS} seeds so far]"
        lines += ["", f"Target (>= {TARGET_REDUCTION_PERCENT:g} % lower object 3D and hand 2D error than the control "
                      f"at {100 * verdict['fraction']:g} %, paired change negative for all {TARGET_SEEDS} seeds): "
                      f"{'MET' if verdict['met'] else 'NOT met'}{seeds} -- " + "; ".join(parts) + "."]
    return "\n".join(lines) + "\n"
