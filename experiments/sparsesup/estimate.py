"""--estimate: number of runs and their time on this machine, from timed first epochs of steps 1 and 2 and two
test-split evaluations of different sizes (each timing has its set-up cost measured and removed)."""

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict

import torch

from experiments.sparsesup import data, runs
from handobjectconsist.errors import UsageError
from handobjectconsist.training.trainmeshreg import run as run_supervised
from handobjectconsist.training.trainmeshwarp import run as run_warp


def _timed(fn, argv) -> float:
    start = time.perf_counter()
    fn(argv)
    return time.perf_counter() - start


def measure(settings: runs.Settings, timing_root: Path, fraction: float, steps: int, test_frames: int,
            work: Path) -> Dict[str, float]:
    """Seconds per step-1 batch, per step-2 (data + consist) batch, per evaluated frame, and the set-up time of a run,
    measured on the dataset under timing_root (a folder with fhbhands/ inside) at this fraction."""
    timing = replace(settings, data_root=str(timing_root))
    step1_dir, step2_dir = work / "step1", work / "step2"
    setup1 = _timed(run_supervised, runs.step1_argv(timing, fraction, 0, work / "setup1", 0))
    epoch1 = _timed(run_supervised, runs.step1_argv(timing, fraction, 0, step1_dir, 1)) - setup1
    ckpt = step1_dir / "checkpoint.pth"
    # Step 2 cannot resume for zero epochs (--epochs at the checkpoint's epoch is refused): one epoch and two epochs
    # from the same checkpoint, the difference is an epoch and the rest the set-up.
    one = _timed(run_warp, runs.step2_argv(timing, "consist", fraction, 0, work / "setup2", ckpt, 2))
    epoch2 = _timed(run_warp, runs.step2_argv(timing, "consist", fraction, 0, step2_dir, ckpt, 3)) - one
    setup2 = one - epoch2
    # An untimed warm-up evaluation first (imports, file caches, first-call costs), then two sizes far enough apart
    # that the per-frame cost stands out of the set-up time (with 1 and 8 batches it was lost in the noise).
    sizes = [min(test_frames, n) for n in (settings.batch_size, 2 * settings.batch_size, 32 * settings.batch_size)]
    seconds = []
    for index, size in enumerate(sizes):
        factor = test_frames / size
        argv = runs.eval_argv(timing, ckpt, work / f"eval{index}_{size}") + ["--mini_factor", repr(factor)]
        seconds.append(_timed(run_supervised, argv))
    sizes, seconds = sizes[1:], seconds[1:]
    kept = [int(test_frames / (test_frames / size)) for size in sizes]
    per_frame = (seconds[1] - seconds[0]) / max(1, kept[1] - kept[0])
    return {"step1_batch": max(epoch1, 0.0) / steps, "step2_batch": max(epoch2, 0.0) / steps,
            "eval_frame": max(per_frame, 0.0), "setup": max(setup1, setup2), "eval_setup": max(seconds[0], 0.0)}


def estimate(settings: runs.Settings, dataset_folder: Path, preset: str, data_seed: int, fractions, seeds,
             runs_dir: Path, n_lambdas: int = 1) -> Dict:
    """Print and return the estimate. A missing dataset is not generated: a two-sequence probe of the same preset is
    (timed, to extrapolate the generation time), and the counts come from the preset's plan."""
    from handobjectconsist.synth.fphab import ACTIONS, plan, write_fphab

    result = {"threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="sparse_estimate_") as tmp:
        tmp = Path(tmp)
        if dataset_folder.is_dir():
            counts = data.counts_from_dataset(dataset_folder)
            timing_root = data.training_data_root(dataset_folder, tmp / "link")
            usable = [f for f in fractions if data.annotated_count(counts["train"], f) >= settings.batch_size]
            timing_fraction = min(usable) if usable else 1.0
            timing_counts = counts
        else:
            counts = data.counts_from_preset(preset)
            probe = tmp / "probe" / "fhbhands"
            start = time.perf_counter()
            write_fphab(probe, mano_root=settings.mano_root, preset=preset, seed=data_seed, subjects=1,
                        actions=ACTIONS[:2], seqs=1)
            per_seq = (time.perf_counter() - start) / 2
            n_seqs = len(plan(preset)[1])
            result["generation_s"] = per_seq * n_seqs
            timing_root, timing_fraction = probe.parent, 1.0
            timing_counts = data.counts_from_dataset(probe)
        steps = data.annotated_count(timing_counts["train"], timing_fraction) // settings.batch_size
        if steps < 1:
            raise UsageError(f"--estimate: fewer annotated training frames than --batch_size {settings.batch_size} "
                             f"in {timing_root}; lower --batch_size")
        t = measure(settings, timing_root, timing_fraction, steps, int(sum(timing_counts["test"])), tmp / "work")
    result["per_unit_s"] = t
    n_test = int(sum(counts["test"]) / settings.eval_mini_factor)
    rows, total, remaining = [], 0.0, 0.0
    for fraction in fractions:
        annotated = data.annotated_count(counts["train"], fraction)
        evaluated = n_test + (int(sum(counts["train"])) - annotated if settings.eval_unannotated else 0)
        eval_s = (1 + settings.eval_unannotated) * t["eval_setup"] + evaluated * t["eval_frame"]
        batches = annotated // settings.batch_size
        step1 = t["setup"] + settings.step1_epochs * batches * t["step1_batch"] + eval_s
        step2 = t["setup"] + settings.step2_epochs * batches * t["step2_batch"] + eval_s
        per_seed = step1 + (1 + n_lambdas) * step2
        rows.append((fraction, batches, step1, step2, per_seed * len(seeds)))
        total += per_seed * len(seeds)
        for seed in seeds:
            dirs = runs.run_dirs(settings, runs_dir, fraction, seed)
            remaining += sum(cost for method, cost in (("step1", step1), ("consist", n_lambdas * step2),
                                                           ("control", step2))
                             if runs.read_done(dirs[method]) is None)
    n_runs = (2 + n_lambdas) * len(fractions) * len(seeds)
    print(f"\n[estimate] {n_runs} training runs ({len(fractions)} fractions x {len(seeds)} seeds x step 1 / "
          f"control / {n_lambdas} x +consistency), each evaluated on {n_test} test frames"
          f"{' and the unannotated training frames' if settings.eval_unannotated else ''}; "
          f"{result['threads']} torch threads")
    print(f"[estimate] measured: {t['step1_batch']:.3f} s per step-1 batch, {t['step2_batch']:.3f} s per step-2 "
          f"(data + consist) batch, {1000 * t['eval_frame']:.1f} ms per evaluated frame, set-up {t['setup']:.1f} s")
    print("| fraction | batches/epoch | step 1 run (h) | step 2 run, each (h) | all seeds (h) |")
    print("|---|---|---|---|---|")
    for fraction, batches, step1, step2, all_seeds in rows:
        print(f"| {fraction:g} | {batches} | {step1 / 3600:.2f} | {step2 / 3600:.2f} | {all_seeds / 3600:.2f} |")
    if "generation_s" in result:
        print(f"[estimate] dataset generation (missing, preset {preset}, 1 worker): "
              f"{result['generation_s'] / 3600:.2f} h")
    print(f"[estimate] total {total / 3600:.2f} h; remaining (finished runs skipped) {remaining / 3600:.2f} h")
    result.update({"runs": n_runs, "total_s": total, "remaining_s": remaining,
                   "per_fraction": [dict(zip(("fraction", "batches", "step1_s", "step2_s", "all_seeds_s"), r))
                                    for r in rows]})
    return result
