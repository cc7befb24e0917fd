"""Machinery shared by the synthetic FPHAB and HO3D writers: the MANO folder, the hand model per process, worker
pools, mesh evaluation from written annotations, frame rendering, motion statistics and small file writers.
"""

import json
import multiprocessing
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from PIL import Image

from handobjectconsist.synth.compose import FrameRenderer, skin_params
from libyana.camutils import project_points_np

META_NAME = "hoc_synth.json"  # generator settings and statistics; marks a folder written by this tool
_HAND = {}  # mano_root -> (ManoLayer, skinning weights), one per process


@contextmanager
def mano_root_or_synthetic(mano_root: Optional[str] = None) -> Iterator[str]:
    """The MANO folder to use: `mano_root` itself (checked to hold MANO_RIGHT.pkl), or, when it is None, a
    temporary folder holding the synthetic hand (seed 0), removed when the block ends."""
    if mano_root is not None:
        if not (Path(mano_root) / "MANO_RIGHT.pkl").exists():
            raise SystemExit(f"--mano_root {mano_root}: no MANO_RIGHT.pkl there; write the synthetic hand with "
                             f"`python -m handobjectconsist.synth mano --out {mano_root}` or point to the official "
                             f"files")
        yield str(mano_root)
        return
    from handobjectconsist.synth.mano_hand import write_synthetic_mano

    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_mano(tmp, seed=0)
        yield tmp


def hand_model(mano_root):
    """(ManoLayer(flat_hand_mean=True, use_pca=False, center_idx=None), weights (V, 16)) for `mano_root`, cached."""
    key = str(mano_root)
    if key not in _HAND:
        from handobjectconsist.mano import ManoLayer, load_mano_model, mano_model_path

        layer = ManoLayer(mano_root, side="right", use_pca=False, flat_hand_mean=True, center_idx=None)
        weights = np.asarray(load_mano_model(mano_model_path(mano_root, "right"))["weights"], dtype=np.float64)
        _HAND[key] = (layer, weights)
    return _HAND[key]


def hand_mesh(layer, fullpose: np.ndarray, betas: np.ndarray, trans: np.ndarray):
    """Hand verts (T, V, 3) and joints (T, 21, 3) float32 tensors for poses (T, 48), betas (10,), trans (T, 3)."""
    fullpose = torch.as_tensor(np.asarray(fullpose, dtype=np.float32))
    betas = torch.as_tensor(np.asarray(betas, dtype=np.float32))[None].expand(len(fullpose), -1)
    with torch.no_grad():
        return layer(fullpose, betas, torch.as_tensor(np.asarray(trans, dtype=np.float32)))


def rest_hand(layer, betas: np.ndarray) -> torch.Tensor:
    """(V, 3) hand vertices in the zero pose (texture frame of the skin)."""
    with torch.no_grad():
        verts, _ = layer(torch.zeros(1, 48), torch.as_tensor(np.asarray(betas, dtype=np.float32))[None])
    return verts[0]


def make_renderer(layer, betas, obj, K, image_size, appearance, supersample=1) -> FrameRenderer:
    """FrameRenderer for one sequence (closed hand mesh, the subject's skin)."""
    return FrameRenderer(layer.closed_faces, rest_hand(layer, betas),
                         skin_params(layer, betas, appearance["skin_seed"]), obj, K, image_size, appearance,
                         supersample)


def render_frames(renderer: FrameRenderer, hand_verts: torch.Tensor, obj_verts: torch.Tensor, batch: int = 4):
    """Yield (index, render dict of one frame) for verts (T, V, 3) in camera metres, rendering `batch` at a time."""
    for start in range(0, hand_verts.shape[0], batch):
        out = renderer.render(hand_verts[start : start + batch], obj_verts[start : start + batch])
        for k in range(out["rgb"].shape[0]):
            yield start + k, {key: value[k] for key, value in out.items()}


def interframe_motion_px(hand_verts: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(T-1,) median displacement (pixels) of the hand vertices between consecutive frames."""
    uv = project_points_np(np.asarray(hand_verts, dtype=np.float64), np.asarray(K, dtype=np.float64))
    if len(uv) < 2:
        return np.zeros(0)
    return np.median(np.linalg.norm(uv[1:] - uv[:-1], axis=-1), axis=1)


def joint_hits(joints: np.ndarray, K: np.ndarray, frame: dict) -> tuple:
    """(fraction of joints on hand pixels, fraction on hand-or-object pixels) for joints (21, 3) camera metres."""
    uv = np.rint(project_points_np(joints, np.asarray(K, dtype=np.float64))).astype(int)
    h, w = frame["hand_mask"].shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    u, v = uv[:, 0].clip(0, w - 1), uv[:, 1].clip(0, h - 1)
    on_hand = inside & frame["hand_mask"][v, u]
    on_any = inside & (frame["hand_mask"][v, u] | frame["obj_mask"][v, u])
    return float(on_hand.mean()), float(on_any.mean())


def save_jpeg(path: Path, rgb: np.ndarray, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality)


def save_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, format="PNG", compress_level=4)


def write_ply(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """ASCII PLY (vertices in the given unit, 6 decimals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["ply", "format ascii 1.0", f"element vertex {len(verts)}", "property float x", "property float y",
             "property float z", f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    lines += [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"3 {a} {b} {c}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Wavefront OBJ (1-based faces, 6 decimals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def quantize_verts(verts: np.ndarray) -> np.ndarray:
    """Round vertices to what write_ply/write_obj store, so renders use exactly the written geometry."""
    return np.round(np.asarray(verts, dtype=np.float64), 6)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_jobs(fn, jobs: list, workers: int, desc: str) -> list:
    """Run fn(job) for every job, in `workers` processes (1 = in this process), with a progress bar.

    Returns the results in job order.
    """
    from tqdm import tqdm

    results = [None] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(tqdm(jobs, desc=desc, unit="seq", leave=False)):
            results[i] = fn(job)
        return results
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(1,)) as pool:
        it = pool.imap(fn, jobs)
        for i, result in enumerate(tqdm(it, total=len(jobs), desc=desc, unit="seq", leave=False)):
            results[i] = result
    return results


def write_sequences(write_sequence, out: Path, seqs: list, config: dict, seed: int, mano_root, workers: int,
                    dataset: str, preset: str) -> list:
    """Write every sequence with write_sequence(job) (in `workers` processes), then out/hoc_synth.json: the
    generator module, preset, seed, config, per-sequence appearance and dataset statistics (median inter-frame
    motion in pixels, fraction of joints on the hand / on hand or object, worst grasp penetration in mm).
    Returns the write_sequence results in sequence order (they may carry more keys than the ones listed below).

    Args:
        write_sequence: picklable fn(job) -> {"rel", "appearance", "motion_px", "joint_hits", "penetration_mm"};
            job = {"spec" (asdict of a sequence spec), "out", "config", "seed", "mano_root"}.
        seqs: sequence specs (dataclasses); dataset: "fphab" | "ho3d" (names the generator module).
    """
    jobs = [{"spec": asdict(s), "out": str(out), "config": config, "seed": int(seed), "mano_root": str(mano_root)}
            for s in seqs]
    results = run_jobs(write_sequence, jobs, workers, f"{dataset} sequences")
    motion = np.concatenate([np.asarray(r["motion_px"]) for r in results]) if results else np.zeros(0)
    meta = {
        "generator": f"handobjectconsist.synth.{dataset}",
        "preset": preset,
        "seed": int(seed),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        "appearance": {r["rel"]: r["appearance"] for r in results},
        "stats": {
            "median_interframe_motion_px": float(np.median(motion)) if motion.size else 0.0,
            "joints_on_hand": float(np.mean([r["joint_hits"][0] for r in results])),
            "joints_on_hand_or_object": float(np.mean([r["joint_hits"][1] for r in results])),
            "max_grasp_penetration_mm": float(max(r["penetration_mm"] for r in results)),
        },
    }
    write_json(out / META_NAME, meta)
    return results


class Timer:
    def __init__(self):
        self.start = time.time()

    def __call__(self) -> float:
        return time.time() - self.start


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20
