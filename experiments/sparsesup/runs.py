"""The runs of the experiment: step 1 per (fraction, seed), then step 2 with consistency (one run per
lambda_consist) and the control from the same step-1 checkpoint, each evaluated on the test split and on the
training frames left unannotated (those the photometric loss sees). A run is finished when its result file exists
in the committed results folder (<out>/runs/<run>.json), or its done.json in the run folder; a run killed mid-way
continues from its own last checkpoint (at most one epoch is lost). Step 2 needs its step-1 checkpoint, so a seed's
runs are finished together.

Folders (under runs_dir): frac{f}_seed{s}/step1_e{N}_{hash}/ and .../{consist,control}_e{M}_lc{lc}_{hash}/, each a
trainmeshreg/trainmeshwarp experiment folder plus eval/ (the --evaluate folder) and done.json. The hashes cover every
setting that changes the run, so changed settings never reuse an old run.
"""

import hashlib
import json
import os
import shlex
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional

import torch

from experiments.sparsesup.data import annotated_count
from handobjectconsist.errors import UsageError
from handobjectconsist.training.trainmeshreg import run as run_supervised
from handobjectconsist.training.trainmeshwarp import run as run_warp

DONE_FILE = "done.json"


@dataclass
class Settings:
    """Everything that changes a run's result (the folder hashes are taken over these fields)."""

    data_root: str  # folder with fhbhands/ inside (training_data_root)
    mano_root: str
    input_width: Optional[int]
    batch_size: int
    lr: float  # step 1
    encoder_arch: str
    pretrained: Optional[str]
    step1_epochs: int
    step2_epochs: int
    lambda_data: float
    lambda_consist: float
    progressive_consist_steps: int
    consist_criterion: str
    extra: List[str] = field(default_factory=list)
    step2_extra: List[str] = field(default_factory=list)  # flags of step 2 only (both arms), after `extra`
    step1_extra: List[str] = field(default_factory=list)  # flags of step 1 only, after `extra`
    device: str = "auto"
    workers: int = 0
    eval_mini_factor: float = 1.0  # evaluate on a fixed random 1/eval_mini_factor of the test frames (not hashed)
    step2_lr: Optional[float] = None  # None: lr
    data_id: str = ""  # what the data and the hand are (data.dataset_id), hashed instead of the two paths, so that
    # the committed results are recognised on another machine or under another folder; "": hash the paths
    eval_unannotated: bool = True  # also evaluate on the unannotated training frames (not hashed)

    def lr_of_step2(self) -> float:
        return self.lr if self.step2_lr is None else self.step2_lr

    def step1_key(self) -> Dict:
        keys = ("input_width", "batch_size", "lr", "encoder_arch", "pretrained", "step1_epochs", "extra")
        where = {"data_id": self.data_id} if self.data_id else {"data_root": self.data_root,
                                                                "mano_root": self.mano_root}
        key = {**where, **{k: getattr(self, k) for k in keys}}
        if self.step1_extra:  # only when given, so that the folders of earlier runs keep their names
            key["step1_extra"] = list(self.step1_extra)
        return key

    def step2_key(self, method: str) -> Dict:
        lambdas = (1.0, 0.0) if method == "control" else (self.lambda_data, self.lambda_consist)
        key = {**self.step1_key(), "method": method, "step2_epochs": self.step2_epochs, "lambdas": lambdas,
               "progressive_consist_steps": self.progressive_consist_steps,
               "consist_criterion": self.consist_criterion}
        if self.step2_lr is not None:
            key["step2_lr"] = self.step2_lr
        if self.step2_extra:  # only when given, so that the folders of earlier runs keep their names
            key["step2_extra"] = list(self.step2_extra)
        return key


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


def common_args(settings: Settings, fraction: float, seed: int, lr: float) -> List[str]:
    args = ["--data_root", settings.data_root, "--mano_root", settings.mano_root, "--fraction", repr(fraction),
            "--manual_seed", str(seed), "--batch_size", str(settings.batch_size), "--lr", repr(lr),
            "--encoder_arch", settings.encoder_arch, "--device", settings.device, "--workers", str(settings.workers),
            "--freeze_batchnorm", "--eval_freq", "-1", "--epoch_display_freq", "0", "--snapshot", "0"]
    if settings.input_width:
        args += ["--input_width", str(settings.input_width)]
    return args + list(settings.extra)


def step1_argv(settings: Settings, fraction: float, seed: int, exp_dir: Path, epochs: int) -> List[str]:
    """trainmeshreg.py flags of step 1 (upstream README: --freeze_batchnorm --fraction f); settings.step1_extra
    comes after settings.extra, so it overrides it (e.g. a learning-rate drop of step 1 alone)."""
    return common_args(settings, fraction, seed, settings.lr) + list(settings.step1_extra) + [
        "--pretrained", settings.pretrained or "none", "--epochs", str(epochs), "--exp_dir", str(exp_dir)]


def step2_argv(settings: Settings, method: str, fraction: float, seed: int, exp_dir: Path, resume: Path,
               epochs: int) -> List[str]:
    """trainmeshwarp.py flags of step 2 (upstream README: --freeze_batchnorm --consist_gt_refs --fraction f --resume
    <step 1>; the control adds --lambda_data 1 --lambda_consist 0). epochs is absolute (continues from step 1);
    the learning rate is settings.lr_of_step2(). settings.step2_extra comes after settings.extra, so it overrides
    it, and before the flags set here, so it cannot change the method, the resume point or the folder."""
    lambda_data, lambda_consist = (1.0, 0.0) if method == "control" else (settings.lambda_data,
                                                                           settings.lambda_consist)
    return common_args(settings, fraction, seed, settings.lr_of_step2()) + list(settings.step2_extra) + [
        "--consist_gt_refs", "--lambda_data", repr(lambda_data), "--lambda_consist", repr(lambda_consist),
        "--progressive_consist_steps", str(settings.progressive_consist_steps),
        "--consist_criterion", settings.consist_criterion,
        "--resume", str(resume), "--epochs", str(epochs), "--exp_dir", str(exp_dir)]


def eval_argv(settings: Settings, checkpoint: Path, exp_dir: Path, unannotated_fraction: Optional[float] = None
              ) -> List[str]:
    """trainmeshreg.py --evaluate (no augmentation): on the test split (every frame, or the fixed 1/eval_mini_factor
    subset), or with unannotated_fraction f on the training frames that fraction f leaves unannotated."""
    args = ["--data_root", settings.data_root, "--mano_root", settings.mano_root, "--evaluate", "--resume",
            str(checkpoint), "--exp_dir", str(exp_dir), "--batch_size",
            str(settings.batch_size), "--device", settings.device, "--workers", str(settings.workers)]
    if settings.input_width:
        args += ["--input_width", str(settings.input_width)]
    if unannotated_fraction is not None:
        return args + ["--val_split", "train", "--val_frames", "unannotated", "--fraction", repr(unannotated_fraction)]
    args += ["--val_split", "test"]
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


def evaluate(settings: Settings, exp_dir: Path, fraction: float) -> Dict[str, Dict[str, float]]:
    """Metrics of the run's final checkpoint (evaluator summary: *_mm, *_px, *_auc, losses):
    {"metrics": test split, "metrics_unannotated": unannotated training frames (if settings.eval_unannotated)}."""
    checkpoint = Path(exp_dir) / "checkpoint.pth"
    out = {"metrics": dict(run_supervised(eval_argv(settings, checkpoint, Path(exp_dir) / "eval"))["val"][-1])}
    if settings.eval_unannotated:
        history = run_supervised(eval_argv(settings, checkpoint, Path(exp_dir) / "eval_unannotated", fraction))
        out["metrics_unannotated"] = dict(history["val"][-1])
    return out


def result_path(results_dir: Optional[Path], exp_dir: Path) -> Optional[Path]:
    """<results_dir>/runs/<fraction_seed folder>__<run folder>.json, the committed copy of a run's done.json."""
    if results_dir is None:
        return None
    exp_dir = Path(exp_dir)
    return Path(results_dir) / "runs" / f"{exp_dir.parent.name}__{exp_dir.name}.json"


def _is_current(done: Optional[Dict], settings: Settings) -> bool:
    return (done is not None and done.get("eval_mini_factor", 1.0) == settings.eval_mini_factor
            and ("metrics_unannotated" in done or not settings.eval_unannotated))


def _train_and_evaluate(settings: Settings, exp_dir: Path, target_epoch: int, train, record: Dict,
                        results_dir: Optional[Path] = None) -> Dict:
    """Shared skip / continue / train / evaluate logic of one run; train(resume or None, epochs) trains. A finished
    run (result in results_dir, or done.json) evaluated otherwise (eval_mini_factor, unannotated) is re-evaluated."""
    committed = result_path(results_dir, exp_dir)
    if committed is not None and committed.is_file():
        done = json.loads(committed.read_text())
        if _is_current(done, settings):
            print(f"[runs] skip (result in {committed}): {exp_dir}")
            return done
    done = read_done(exp_dir)
    if _is_current(done, settings):
        print(f"[runs] skip (done): {exp_dir}")
        if committed is not None:
            write_json_atomic(committed, done)
        return done
    start = time.time()
    reached = checkpoint_epoch(exp_dir)
    if reached < target_epoch:
        own = Path(exp_dir) / "checkpoint.pth" if reached > 0 else None
        print(f"[runs] train {exp_dir}" + (f" (continuing at epoch {reached})" if own else ""))
        train(own)
    metrics = evaluate(settings, exp_dir, record["fraction"])
    done = {**record, **metrics, "run_dir": str(exp_dir), "seconds": time.time() - start,
            "eval_mini_factor": settings.eval_mini_factor,
            "command": " ".join(shlex.quote(a) for a in record.get("argv", []))}
    write_json_atomic(Path(exp_dir) / DONE_FILE, done)
    if committed is not None:
        write_json_atomic(committed, done)
    return done


def run_step1(settings: Settings, dirs: Dict[str, Path], fraction: float, seed: int, record: Dict,
              results_dir: Optional[Path] = None) -> Dict:
    exp_dir = dirs["step1"]
    argv = step1_argv(settings, fraction, seed, exp_dir, settings.step1_epochs)

    def train(own):
        run_supervised(argv + (["--resume", str(own)] if own else []))

    return _train_and_evaluate(settings, exp_dir, settings.step1_epochs, train,
                               {**record, "method": "step1", "argv": argv}, results_dir)


def run_step2(settings: Settings, dirs: Dict[str, Path], method: str, fraction: float, seed: int,
              record: Dict, results_dir: Optional[Path] = None) -> Dict:
    exp_dir = dirs[method]
    total = settings.step1_epochs + settings.step2_epochs
    base = dirs["step1"] / "checkpoint.pth"
    argv = step2_argv(settings, method, fraction, seed, exp_dir, base, total)

    def train(own):
        if own is None and not base.is_file():
            raise UsageError(f"step 2 run {exp_dir} needs the step-1 checkpoint {base}, which is absent (only "
                             f"its result was kept); delete {result_path(results_dir, dirs['step1'])} to retrain "
                             f"step 1 of fraction {fraction:g}, seed {seed} with its step-2 runs")
        run_warp(step2_argv(settings, method, fraction, seed, exp_dir, own or base, total))

    lambda_consist = 0.0 if method == "control" else settings.lambda_consist
    return _train_and_evaluate(settings, exp_dir, total, train,
                               {**record, "method": method, "lambda_consist": lambda_consist, "argv": argv},
                               results_dir)


def run_grid(settings: Settings, runs_dir, fractions, seeds, counts: Dict[str, list], after_each=None,
             lambdas: Optional[List[float]] = None, results_dir: Optional[Path] = None) -> List[Dict]:
    """All runs, fraction by fraction and seed by seed: step 1, the control, then consistency for each of `lambdas`
    (default [settings.lambda_consist]); after_each(records so far) is called after every run."""
    lambdas = [settings.lambda_consist] if lambdas is None else list(lambdas)
    records = []

    def add(record):
        records.append(record)
        if after_each:
            after_each(records)

    for fraction in fractions:
        for seed in seeds:
            dirs = run_dirs(settings, runs_dir, fraction, seed)
            record = {"fraction": fraction, "seed": seed, "annotated": annotated_count(counts["train"], fraction),
                      "train_frames": int(sum(counts["train"])), "test_frames": int(sum(counts["test"]))}
            add(run_step1(settings, dirs, fraction, seed, record, results_dir))
            add(run_step2(settings, dirs, "control", fraction, seed, record, results_dir))
            for lambda_consist in lambdas:
                variant = replace(settings, lambda_consist=lambda_consist)
                add(run_step2(variant, run_dirs(variant, runs_dir, fraction, seed), "consist", fraction, seed,
                              record, results_dir))
    return records


def settings_dict(settings: Settings) -> Dict:
    return asdict(settings)
