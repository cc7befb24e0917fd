"""The runs of the experiment: step 1 per (fraction, seed), then step 2 with consistency and the control from the
same step-1 checkpoint, each evaluated on the test split. A run is finished when its done.json exists; a run
killed mid-way continues from its own last checkpoint (at most one epoch is lost).

Folders (under runs_dir): frac{f}_seed{s}/step1_e{N}_{hash}/ and .../{consist,control}_e{M}_lc{lc}_{hash}/, each a
trainmeshreg/trainmeshwarp experiment folder plus eval/ (the --evaluate folder) and done.json. The hashes cover every
setting that changes the run, so changed settings never reuse an old run.
"""

import hashlib
import json
import os
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch

from handobjectconsist.training.supervised import run as run_supervised
from handobjectconsist.training.warp_epoch import run as run_warp

DONE_FILE = "done.json"


@dataclass
class Settings:
    """Everything that changes a run's result (the folder hashes are taken over these fields)."""

    data_root: str  # folder with fhbhands/ inside (training_data_root)
    mano_root: str
    input_width: Optional[int]
    batch_size: int
    lr: float
    encoder_arch: str
    pretrained: Optional[str]
    step1_epochs: int
    step2_epochs: int
    lambda_data: float
    lambda_consist: float
    progressive_consist_steps: int
    consist_criterion: str
    extra: List[str] = field(default_factory=list)
    device: str = "auto"
    workers: int = 0
    eval_mini_factor: float = 1.0  # evaluate on a fixed random 1/eval_mini_factor of the test frames (not hashed)

    def step1_key(self) -> Dict:
        keys = ("data_root", "mano_root", "input_width", "batch_size", "lr", "encoder_arch", "pretrained",
                "step1_epochs", "extra")
        return {k: getattr(self, k) for k in keys}

    def step2_key(self, method: str) -> Dict:
        lambdas = (1.0, 0.0) if method == "control" else (self.lambda_data, self.lambda_consist)
        return {**self.step1_key(), "method": method, "step2_epochs": self.step2_epochs, "lambdas": lambdas,
                "progressive_consist_steps": self.progressive_consist_steps,
                "consist_criterion": self.consist_criterion}


def short_hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def run_dirs(settings: Settings, runs_dir, fraction: float, seed: int) -> Dict[str, Path]:
    """{"step1", "consist", "control"} -> experiment folder of that run."""
    base = Path(runs_dir) / f"frac{fraction:g}_seed{seed}"
    s1 = {**settings.step1_key(), "fraction": fraction, "seed": seed}
    dirs = {"step1": base / f"step1_e{settings.step1_epochs}_{short_hash(s1)}"}
    for method in ("consist", "control"):
        lc = 0.0 if method == "control" else settings.lambda_consist
        key = {**settings.step2_key(method), "fraction": fraction, "seed": seed}
        dirs[method] = base / f"{method}_e{settings.step2_epochs}_lc{lc:g}_{short_hash(key)}"
    return dirs


def common_args(settings: Settings, fraction: float, seed: int) -> List[str]:
    args = ["--data_root", settings.data_root, "--mano_root", settings.mano_root, "--fraction", repr(fraction),
            "--manual_seed", str(seed), "--batch_size", str(settings.batch_size), "--lr", repr(settings.lr),
            "--encoder_arch", settings.encoder_arch, "--device", settings.device, "--workers", str(settings.workers),
            "--freeze_batchnorm", "--eval_freq", "-1", "--epoch_display_freq", "0", "--snapshot", "0"]
    if settings.input_width:
        args += ["--input_width", str(settings.input_width)]
    if settings.pretrained:
        args += ["--pretrained", settings.pretrained]
    return args + list(settings.extra)


def step1_argv(settings: Settings, fraction: float, seed: int, exp_dir: Path, epochs: int) -> List[str]:
    """trainmeshreg.py flags of step 1 (upstream README: --freeze_batchnorm --fraction f)."""
    return common_args(settings, fraction, seed) + ["--epochs", str(epochs), "--exp_dir", str(exp_dir)]


def step2_argv(settings: Settings, method: str, fraction: float, seed: int, exp_dir: Path, resume: Path,
               epochs: int) -> List[str]:
    """trainmeshwarp.py flags of step 2 (upstream README: --freeze_batchnorm --consist_gt_refs --fraction f --resume
    <step 1>; the control adds --lambda_data 1 --lambda_consist 0). epochs is absolute (continues from step 1)."""
    lambda_data, lambda_consist = (1.0, 0.0) if method == "control" else (settings.lambda_data,
                                                                           settings.lambda_consist)
    return common_args(settings, fraction, seed) + [
        "--consist_gt_refs", "--lambda_data", repr(lambda_data), "--lambda_consist", repr(lambda_consist),
        "--progressive_consist_steps", str(settings.progressive_consist_steps),
        "--consist_criterion", settings.consist_criterion,
        "--resume", str(resume), "--epochs", str(epochs), "--exp_dir", str(exp_dir)]


def eval_argv(settings: Settings, checkpoint: Path, exp_dir: Path) -> List[str]:
    """trainmeshreg.py --evaluate on the test split (fraction 1, no augmentation)."""
    args = ["--data_root", settings.data_root, "--mano_root", settings.mano_root, "--evaluate", "--resume",
            str(checkpoint), "--exp_dir", str(exp_dir), "--val_split", "test", "--batch_size",
            str(settings.batch_size), "--device", settings.device, "--workers", str(settings.workers)]
    if settings.input_width:
        args += ["--input_width", str(settings.input_width)]
    if settings.eval_mini_factor != 1:
        args += ["--mini_factor", repr(settings.eval_mini_factor)]
    return args


def checkpoint_epoch(exp_dir: Path) -> int:
    """Finished epochs of the run's checkpoint.pth (0 when there is none)."""
    path = Path(exp_dir) / "checkpoint.pth"
    if not path.is_file():
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])


def read_done(exp_dir: Path) -> Optional[Dict]:
    path = Path(exp_dir) / DONE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_json_atomic(path: Path, payload) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def evaluate(settings: Settings, exp_dir: Path) -> Dict[str, float]:
    """Test-split metrics of the run's final checkpoint (evaluator summary: *_mm, *_px, *_auc, losses)."""
    history = run_supervised(eval_argv(settings, Path(exp_dir) / "checkpoint.pth", Path(exp_dir) / "eval"))
    return dict(history["val"][-1])


def _train_and_evaluate(settings: Settings, exp_dir: Path, target_epoch: int, train, record: Dict) -> Dict:
    """Shared skip / continue / train / evaluate logic of one run; train(resume or None, epochs) trains. A finished
    run evaluated on another test subset (eval_mini_factor) is only re-evaluated."""
    done = read_done(exp_dir)
    if done is not None and done.get("eval_mini_factor", 1.0) == settings.eval_mini_factor:
        print(f"[runs] skip (done): {exp_dir}")
        return done
    start = time.time()
    reached = checkpoint_epoch(exp_dir)
    if reached < target_epoch:
        own = Path(exp_dir) / "checkpoint.pth" if reached > 0 else None
        print(f"[runs] train {exp_dir}" + (f" (continuing at epoch {reached})" if own else ""))
        train(own)
    metrics = evaluate(settings, exp_dir)
    done = {**record, "metrics": metrics, "run_dir": str(exp_dir), "seconds": time.time() - start,
            "eval_mini_factor": settings.eval_mini_factor,
            "command": " ".join(shlex.quote(a) for a in record.get("argv", []))}
    write_json_atomic(Path(exp_dir) / DONE_FILE, done)
    return done


def run_step1(settings: Settings, dirs: Dict[str, Path], fraction: float, seed: int, record: Dict) -> Dict:
    exp_dir = dirs["step1"]
    argv = step1_argv(settings, fraction, seed, exp_dir, settings.step1_epochs)

    def train(own):
        run_supervised(argv + (["--resume", str(own)] if own else []))

    return _train_and_evaluate(settings, exp_dir, settings.step1_epochs, train,
                               {**record, "method": "step1", "argv": argv})


def run_step2(settings: Settings, dirs: Dict[str, Path], method: str, fraction: float, seed: int,
              record: Dict) -> Dict:
    exp_dir = dirs[method]
    total = settings.step1_epochs + settings.step2_epochs
    base = dirs["step1"] / "checkpoint.pth"
    argv = step2_argv(settings, method, fraction, seed, exp_dir, base, total)

    def train(own):
        run_warp(step2_argv(settings, method, fraction, seed, exp_dir, own or base, total))

    return _train_and_evaluate(settings, exp_dir, total, train, {**record, "method": method, "argv": argv})


def run_grid(settings: Settings, runs_dir, fractions, seeds, counts: Dict[str, list], after_each=None) -> List[Dict]:
    """All runs, fraction by fraction and seed by seed; after_each(records so far) is called after every run."""
    from experiments.sparsesup.data import annotated_count

    records = []
    for fraction in fractions:
        for seed in seeds:
            dirs = run_dirs(settings, runs_dir, fraction, seed)
            record = {"fraction": fraction, "seed": seed, "annotated": annotated_count(counts["train"], fraction),
                      "train_frames": int(sum(counts["train"])), "test_frames": int(sum(counts["test"]))}
            records.append(run_step1(settings, dirs, fraction, seed, record))
            if after_each:
                after_each(records)
            for method in ("consist", "control"):
                records.append(run_step2(settings, dirs, method, fraction, seed, record))
                if after_each:
                    after_each(records)
    return records


def settings_dict(settings: Settings) -> Dict:
    return asdict(settings)
