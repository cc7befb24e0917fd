"""`make demo`: the whole pipeline on built-in SYNTHETIC data, sized for a 2-core CPU.

    python -m handobjectconsist.demo [--out checkpoints/demo] [--quick] [--workers N] [--device auto|cpu|cuda]

Stages (each timed and printed; finished stages are reused on a rerun):
  1. the synthetic MANO-format hand (--mano_root, default assets/mano_synth) and a synthetic FPHAB-layout set
     (--data_root, default data/synth_demo/fhbhands: preset "demo", 3 subjects x 10 object actions x 36 frames,
     half train / half test by sequence; --quick: preset "tiny"), generated only when missing;
  2. four trainings with the upstream README recipes at a small size (ResNet-18 from random weights, nothing is
     downloaded; BatchNorm in train mode, since nothing has been learnt for upstream's frozen statistics): full
     supervision; sparse supervision (--fraction, default 0.1: several annotated frames per sequence); its
     fine-tunings with photometric consistency (trainmeshwarp --consist_gt_refs) and without it (--lambda_data 1
     --lambda_consist 0), for the same number of epochs;
  3. visualize.py on a few test frames and on a few frames of the training sequences (GT row + full / sparse /
     sparse + consistency);
  4. metrics of every model on the test split and on the training sequences: a table printed and written to
     <out>/metrics.md and metrics.json;
  5. the consistency mechanism alone (visualize.posefit_demo): on unannotated training frames, a hand and an object
     moved away from the truth by known offsets are pulled back by the photometric loss against the nearest
     annotated frame; <out>/consistency/posefit.gif shows every step, posefit.md the errors before and after.
The numbers are those of small models on synthetic data after minutes of CPU training: they show the pipeline
works, they are NOT FPHAB results and are not comparable with the paper's.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from handobjectconsist.visualize.posefit_demo import PosefitConfig, run_posefit

DEMO_DATA = {"preset": "demo", "overrides": {}}
QUICK_DATA = {"preset": "tiny", "overrides": {}}


@dataclass
class DemoConfig:
    """Sizes of one demo run."""

    data: Dict
    input_width: int
    encoder_arch: str
    batch_size: int
    lr: float
    fraction: float
    full_epochs: int
    sparse_epochs: int
    finetune_epochs: int
    num_figures: int
    posefit: PosefitConfig
    display_width: Optional[int] = None  # figure frame width (None: as stored, 480)
    batchnorm: str = "train"  # "train": --train_batchnorm; "frozen": upstream's --freeze_batchnorm
    lr_decay_at: Optional[float] = None  # fraction of a trainmeshreg run after which the lr drops 10x; the
                                         # fine-tunings then continue at the dropped lr (None: constant lr)
    extra: List[str] = field(default_factory=list)


DEMO = DemoConfig(data=DEMO_DATA, input_width=128, encoder_arch="resnet18", batch_size=8, lr=1e-3, fraction=0.1,
                  full_epochs=16, sparse_epochs=24, finetune_epochs=8, num_figures=4, lr_decay_at=0.75,
                  posefit=PosefitConfig(width=240, fraction=0.1, pairs=6, steps=100, lr=1.0))
QUICK = DemoConfig(data=QUICK_DATA, input_width=64, encoder_arch="tiny", batch_size=2, lr=1e-3, fraction=0.34,
                   full_epochs=1, sparse_epochs=1, finetune_epochs=1, num_figures=2,
                   posefit=PosefitConfig(width=64, fraction=0.34, pairs=1, steps=3, lr=1.0, gif_every=1),
                   display_width=160)
SPLITS = (("test", "test split"), ("train", "training sequences"))  # (split, label) of the figures and tables

MODEL_ROWS = (  # (run name, label in the table and figures)
    ("full", "full supervision (100%)"),
    ("sparse", "sparse supervision ({pct}), step 1"),
    ("control", "sparse ({pct}) + fine-tuning without consistency"),
    ("consist", "sparse ({pct}) + photometric consistency"),
)
FIGURE_RUNS = ("full", "control", "consist")  # the three rows of upstream's figure
METRIC_COLUMNS = (  # (evaluator summary key, column title)
    ("joints3d_epe_mean_mm", "hand 3D joints (mm)"),
    ("joints3d_cent_epe_mean_mm", "hand 3D joints, root-relative (mm)"),
    ("objverts3d_mepe_trans_mm", "object 3D verts (mm)"),
    ("joints2d_base_epe_mean_px", "hand 2D joints (px, 480x270 frame)"),
    ("objverts2d_mepe_px", "object 2D verts (px, 480x270 frame)"),
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train and compare small models on synthetic data (make demo)")
    p.add_argument("--out", default="checkpoints/demo", help="runs, figures and the metrics table go here")
    p.add_argument("--mano_root", default="assets/mano_synth",
                   help="MANO folder; the synthetic hand is written there when it has no MANO_RIGHT.pkl")
    p.add_argument("--data_root", default=None,
                   help="folder holding fhbhands/ (generated when missing); default data/synth_demo "
                        "(data/synth_demo_tiny with --quick)")
    p.add_argument("--quick", action="store_true", help="tiny data, tiny encoder, 1 epoch per run (tests)")
    p.add_argument("--workers", type=int, default=2, help="data-loader workers and dataset-generation processes")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    return p


# ------------------------------------------------------------------------------------------------ stages
class Stages:
    """Prints '[demo k/N] title' and the elapsed time of each stage."""

    def __init__(self, total: int):
        self.total, self.count, self.start = total, 0, time.perf_counter()
        self.timings: Dict[str, float] = {}

    def run(self, title: str, func, *args, **kwargs):
        self.count += 1
        print(f"\n[demo {self.count}/{self.total}] {title}", flush=True)
        t0 = time.perf_counter()
        result = func(*args, **kwargs)
        elapsed = time.perf_counter() - t0
        self.timings[title] = elapsed
        print(f"[demo {self.count}/{self.total}] done in {elapsed:.1f} s (total {self.elapsed():.1f} s)", flush=True)
        return result

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def ensure_mano(mano_root: Path) -> Path:
    """mano_root with MANO_RIGHT.pkl / MANO_LEFT.pkl; the synthetic hand (seed 0) is written when missing."""
    if (mano_root / "MANO_RIGHT.pkl").is_file() and (mano_root / "MANO_LEFT.pkl").is_file():
        print(f"reusing the MANO files in {mano_root}")
        return mano_root
    from handobjectconsist.synth.mano_hand import write_synthetic_mano

    print(f"writing the synthetic MANO-format hand to {mano_root}")
    write_synthetic_mano(mano_root, seed=0)
    return mano_root


def _expected_config(spec: Dict) -> Dict:
    from handobjectconsist.synth.fphab import plan

    config, _ = plan(spec["preset"], **spec["overrides"])
    return json.loads(json.dumps(config))  # tuples -> lists, as stored in hoc_synth.json


def ensure_dataset(data_root: Path, mano_root: Path, spec: Dict, seed: int, workers: int) -> Path:
    """data_root/fhbhands holding the synthetic set `spec`; generated (via a .partial folder) when missing."""
    folder = data_root / "fhbhands"
    meta_path = folder / "hoc_synth.json"
    expected = {"preset": spec["preset"], "seed": seed, "config": _expected_config(spec)}
    if folder.exists():
        if not meta_path.is_file():
            raise FileExistsError(
                f"{folder} exists but has no hoc_synth.json, so it is not a complete synthetic set written by this "
                f"demo; remove it (an interrupted generation) or pass another --data_root")
        meta = json.loads(meta_path.read_text())
        found = {key: meta.get(key) for key in expected}
        if found != expected:
            raise FileExistsError(
                f"{folder} holds a different synthetic set ({meta_path}: preset {found['preset']!r}, seed "
                f"{found['seed']}, config {found['config']}); the demo needs preset {expected['preset']!r} with "
                f"{spec['overrides']} and seed {seed}. Remove it or pass another --data_root")
        print(f"reusing the synthetic FPHAB set in {folder}")
        return folder
    from handobjectconsist.synth.fphab import write_fphab

    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    print(f"generating the synthetic FPHAB set (preset {spec['preset']} {spec['overrides']}, seed {seed}) in "
          f"{folder}")
    write_fphab(partial, mano_root=mano_root, preset=spec["preset"], seed=seed, workers=max(1, workers),
                **spec["overrides"])
    os.replace(partial, folder)
    return folder


def _percent(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def training_commands(cfg: DemoConfig, data_root: Path, mano_root: Path, runs: Path, workers: int, device: str,
                      seed: int) -> Dict[str, List[str]]:
    """{run name: argv of trainmeshreg.py (full, sparse) or trainmeshwarp.py (control, consist)}."""
    common = [
        "--data_root", str(data_root), "--mano_root", str(mano_root), "--input_width", str(cfg.input_width),
        "--encoder_arch", cfg.encoder_arch, "--batch_size", str(cfg.batch_size),
        "--workers", str(workers), "--device", device, "--manual_seed", str(seed),
        "--train_batchnorm" if cfg.batchnorm == "train" else "--freeze_batchnorm",
        "--eval_freq", "-1", "--epoch_display_freq", "0", "--snapshot", "0", *cfg.extra,
    ]

    def schedule(epochs: int) -> List[str]:
        if cfg.lr_decay_at is None:
            return ["--lr", str(cfg.lr)]
        return ["--lr", str(cfg.lr), "--lr_decay_step", str(max(1, round(cfg.lr_decay_at * epochs))),
                "--lr_decay_gamma", "0.1"]

    sparse_ckpt = runs / "sparse" / "checkpoint.pth"
    finetune_end = cfg.sparse_epochs + cfg.finetune_epochs
    finetune_lr = cfg.lr if cfg.lr_decay_at is None else 0.1 * cfg.lr
    warp = ["--lr", f"{finetune_lr:g}", "--consist_gt_refs", "--fraction", str(cfg.fraction), "--resume",
            str(sparse_ckpt), "--epochs", str(finetune_end), "--progressive_consist_steps", "0"]
    return {
        "full": [*common, *schedule(cfg.full_epochs), "--pretrained", "none", "--block_rot", "--epochs",
                 str(cfg.full_epochs), "--exp_dir", str(runs / "full")],
        "sparse": [*common, *schedule(cfg.sparse_epochs), "--pretrained", "none", "--fraction", str(cfg.fraction),
                   "--epochs", str(cfg.sparse_epochs), "--exp_dir", str(runs / "sparse")],
        "control": [*common, *warp, "--lambda_data", "1", "--lambda_consist", "0", "--exp_dir", str(runs / "control")],
        "consist": [*common, *warp, "--exp_dir", str(runs / "consist")],
    }


def train(name: str, argv: List[str], exp_dir: Path) -> Path:
    """Run trainmeshreg/trainmeshwarp in this process unless exp_dir/done.json records the same command."""
    script = "trainmeshwarp.py" if name in ("control", "consist") else "trainmeshreg.py"
    done = exp_dir / "done.json"
    checkpoint = exp_dir / "checkpoint.pth"
    if done.is_file() and checkpoint.is_file() and json.loads(done.read_text()).get("argv") == argv:
        print(f"reusing {checkpoint} (same command already finished)")
        return checkpoint
    print(f"python {script} {shlex.join(argv)}", flush=True)
    if script == "trainmeshwarp.py":
        from handobjectconsist.training.trainmeshwarp import run
    else:
        from handobjectconsist.training.trainmeshreg import run
    t0 = time.perf_counter()
    run(argv)
    done.write_text(json.dumps({"argv": argv, "seconds": time.perf_counter() - t0}, indent=1))
    return checkpoint


def evaluate(checkpoint: Path, data_root: Path, mano_root: Path, input_width: int, batch_size: int, workers: int,
             device, split: str = "test") -> Dict[str, float]:
    """Metrics of one checkpoint on every frame of a split (no augmentation): the evaluator summary."""
    from torch.utils.data import DataLoader

    from handobjectconsist.datasets.collate import collate_samples
    from handobjectconsist.training.checkpoints import load_trained_model
    from handobjectconsist.training.epochpass import epoch_pass
    from handobjectconsist.training.steps import SingleFrameStep
    from handobjectconsist.visualize.figures import build_eval_dataset

    loaded = load_trained_model(checkpoint, mano_root, device)
    dataset = build_eval_dataset("fhbhands", data_root, split, mano_root, input_width)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_samples)
    out = epoch_pass(loader, loaded.model, SingleFrameStep("test"), loaded.epoch, device, train=False,
                     center_idx=int(loaded.opts.get("center_idx", 9)))
    return {**out["test"]["evaluator"].summary(), "frames": len(dataset), "epoch": loaded.epoch}


def format_table(rows: Sequence[Dict], title: str) -> str:
    """Markdown table: one row per model and split, the METRIC_COLUMNS."""
    split_labels = dict(SPLITS)
    header = "| frames | model | epochs | " + " | ".join(col for _, col in METRIC_COLUMNS) + " |"
    lines = [title, "", header, "|" + "---|" * (len(METRIC_COLUMNS) + 3)]
    for row in rows:
        values = " | ".join(f"{row['metrics'].get(key, float('nan')):.1f}" for key, _ in METRIC_COLUMNS)
        split = split_labels.get(row.get("split", "test"), row.get("split", "test"))
        lines.append(f"| {split} | {row['label']} | {row['metrics'].get('epoch', '?')} | {values} |")
    return "\n".join(lines) + "\n"


def run(argv: Optional[Sequence[str]] = None) -> Dict:
    """The demo; returns {"metrics": [one row per split and model], "figures": {split: [paths]}, "table": path,
    "posefit": {gif, start_png, end_png, rows, median}, "timings": {...}}."""
    args = parser().parse_args(argv)
    cfg = QUICK if args.quick else DEMO
    out = Path(args.out)
    mano_root = Path(args.mano_root)
    data_root = Path(args.data_root or ("data/synth_demo_tiny" if args.quick else "data/synth_demo"))
    runs = out / "runs"
    from handobjectconsist.training.distributed import resolve_device

    device = resolve_device(args.device)
    print("handobjectconsist demo on SYNTHETIC data (synthetic MANO-format hand, synthetic FPHAB-layout set). "
          "The numbers below are not FPHAB results.")
    print(f"size: {'--quick' if args.quick else 'default'}; input width {cfg.input_width}, encoder "
          f"{cfg.encoder_arch} (random init), batch {cfg.batch_size}, lr {cfg.lr}, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    stages = Stages(total=2 + len(MODEL_ROWS) + len(SPLITS) + 2)
    stages.run("synthetic MANO-format hand", ensure_mano, mano_root)
    stages.run("synthetic FPHAB-layout dataset", ensure_dataset, data_root, mano_root, cfg.data, args.seed,
               args.workers)
    commands = training_commands(cfg, data_root, mano_root, runs, args.workers, args.device, args.seed)
    pct = _percent(cfg.fraction)
    titles = {
        "full": f"train: full supervision, {cfg.full_epochs} epochs (trainmeshreg.py --block_rot)",
        "sparse": f"train: sparse supervision {pct}, {cfg.sparse_epochs} epochs (trainmeshreg.py --fraction)",
        "control": f"fine-tune without consistency, {cfg.finetune_epochs} epochs "
                   f"(trainmeshwarp.py --lambda_data 1 --lambda_consist 0)",
        "consist": f"fine-tune with photometric consistency, {cfg.finetune_epochs} epochs "
                   f"(trainmeshwarp.py --consist_gt_refs)",
    }
    checkpoints = {name: stages.run(titles[name], train, name, commands[name], runs / name)
                   for name, _ in MODEL_ROWS}
    labels = {name: label.format(pct=pct) for name, label in MODEL_ROWS}

    from handobjectconsist.visualize.figures import run_visualize

    figures: Dict[str, List[Path]] = {}
    for split, split_label in SPLITS:
        viz_argv = ["--resumes", *[str(checkpoints[name]) for name in FIGURE_RUNS],
                    "--model_names", *[labels[name] for name in FIGURE_RUNS],
                    "--data_root", str(data_root), "--mano_root", str(mano_root), "--device", args.device,
                    "--split", split, "--out_dir", str(out / f"visualize_{split}"),
                    "--max_images", str(cfg.num_figures), "--mode", "viz",
                    *([] if cfg.display_width is None else ["--display_width", str(cfg.display_width)])]
        figures[split] = stages.run(f"visualize.py on {cfg.num_figures} frames of the {split_label}", _visualize,
                                    run_visualize, viz_argv)

    def evaluate_all():
        return [{"run": name, "label": labels[name], "split": split, "checkpoint": str(checkpoints[name]),
                 "metrics": evaluate(checkpoints[name], data_root, mano_root, cfg.input_width, cfg.batch_size,
                                     args.workers, device, split)}
                for split, _ in SPLITS for name, _ in MODEL_ROWS]

    rows = stages.run("metrics of the four models on the test split and the training sequences", evaluate_all)
    posefit = stages.run("consistency mechanism: photometric pose fit from known offsets", run_posefit, data_root,
                         mano_root, out / "consistency", cfg.posefit, device)
    frames = {split: next(row["metrics"]["frames"] for row in rows if row["split"] == split) for split, _ in SPLITS}
    title = (f"SYNTHETIC data ({data_root}): the test split ({frames['test']} frames of sequences no model saw) "
             f"and the training sequences ({frames['train']} frames: every one annotated for the full model, "
             f"{pct} of them for the sparse ones); small models trained for minutes on CPU: these are NOT FPHAB "
             f"numbers. 2D errors in pixels of the 480x270 reference frame (the networks see {cfg.input_width} px "
             f"wide frames).")
    table = format_table(rows, title)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.md").write_text(table)
    result = {"metrics": rows, "figures": {split: [str(p) for p in paths] for split, paths in figures.items()},
              "table": str(out / "metrics.md"), "posefit": {k: v for k, v in posefit.items() if k != "table"},
              "timings": stages.timings, "total_seconds": stages.elapsed(), "synthetic": True,
              "config": {k: v for k, v in vars(cfg).items()}}
    (out / "metrics.json").write_text(json.dumps(result, indent=1, default=str))
    print("\n" + table)
    print(posefit["table"])
    for split, split_label in SPLITS:
        print(f"figures on the {split_label} (GT row, then full supervision, sparse without and with consistency):")
        for path in figures[split]:
            print(f"  {path}")
    print(f"consistency mechanism: {posefit['gif']} (every step), {posefit['start_png']} (start), "
          f"{posefit['end_png']} (end)")
    print(f"metrics: {out / 'metrics.md'}, {out / 'metrics.json'}, {out / 'consistency' / 'posefit.md'}")
    print(f"demo finished in {stages.elapsed():.1f} s")
    bad = [row["run"] for row in rows for key, _ in METRIC_COLUMNS
           if not math.isfinite(float(row["metrics"].get(key, float("nan"))))]
    if bad:
        print(f"warning: non-finite metrics for {sorted(set(bad))}", file=sys.stderr)
    return result


def _visualize(run_visualize, argv: List[str]) -> List[Path]:
    print(f"python visualize.py {shlex.join(argv)}", flush=True)
    return run_visualize(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from handobjectconsist.training.checkpoints import CheckpointError
    from handobjectconsist.training.session import exit_code

    return exit_code(run, argv, (FileExistsError, FileNotFoundError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
