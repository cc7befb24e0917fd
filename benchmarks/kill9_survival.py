"""kill -9 survival of the training scripts: SIGKILL a run at a random moment after its first checkpoint, then check
that checkpoint.pth loads and that --resume continues to the end with status 0.

    PYTHONPATH=. python benchmarks/kill9_survival.py --kills 5 --seed 0

Runs trainmeshreg.py and trainmeshwarp.py (toy set, tiny encoder, CPU, 2 data-loader workers so that worker
processes die with the run) --kills times each; prints one line per kill and a summary. A kill lands anywhere:
in a training step, a validation pass, the checkpoint write (atomic: temporary file + rename) or the snapshot copy.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from handobjectconsist.synth.mano_hand import write_synthetic_mano  # noqa: E402
from handobjectconsist.training.checkpoints import CheckpointError, load_checkpoint  # noqa: E402


def _argv(mano_root: Path, exp: Path, epochs: int, script: str):
    argv = (f"--train_datasets toy --val_dataset toy --toy_size 16 --batch_size 2 --input_width 32 --device cpu "
            f"--encoder_arch tiny --mano_root {mano_root} --exp_dir {exp} --epochs {epochs} --eval_freq 2 "
            f"--epoch_display_freq 3 --display_freq 4 --snapshot 2 --workers 2").split()
    return argv + (["--consist_dataset", "toy"] if script == "trainmeshwarp.py" else [])


def one_kill(script: str, mano_root: Path, root: Path, delay: float) -> dict:
    """Start script, SIGKILL it `delay` s after its first checkpoint, check the checkpoint and resume."""
    exp = root / "exp"
    proc = subprocess.Popen([sys.executable, str(REPO / script), *_argv(mano_root, exp, 100000, script)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while not (exp / "checkpoint.pth").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its data-loader workers, as an OOM killer or `kill -9` would
    proc.wait()
    try:
        epoch = int(load_checkpoint(exp / "checkpoint.pth")["epoch"])
    except CheckpointError as err:
        return {"script": script, "delay_s": delay, "loads": False, "detail": str(err)}
    resume = subprocess.run([sys.executable, str(REPO / script),
                             *_argv(mano_root, exp, epoch + 2, script), "--resume", str(exp / "checkpoint.pth")],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    final = int(load_checkpoint(exp / "checkpoint.pth")["epoch"]) if resume.returncode == 0 else None
    return {"script": script, "delay_s": round(delay, 2), "loads": True, "killed_after_epoch": epoch,
            "resume_status": resume.returncode, "resumed_to_epoch": final,
            "ok": resume.returncode == 0 and final == epoch + 2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="kills per script")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max_delay", type=float, default=3.0, help="seconds after the first checkpoint")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        mano_root = Path(tmp) / "mano"
        write_synthetic_mano(mano_root, seed=0)
        for script in ("trainmeshreg.py", "trainmeshwarp.py"):
            for k in range(args.kills):
                result = one_kill(script, mano_root, Path(tmp) / f"{script}_{k}", rng.uniform(0, args.max_delay))
                print(result, flush=True)
                results.append(result)
    for script in ("trainmeshreg.py", "trainmeshwarp.py"):
        mine = [r for r in results if r["script"] == script]
        print(f"{script}: {sum(r.get('ok', False) for r in mine)} of {len(mine)} kills left a loadable checkpoint "
              f"that resumed to the end")
    return 0 if all(r.get("ok", False) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
