"""The visualize.py demo as a library: load trained models, run them on a test split, one comparison figure per image.

    models = [load_trained_model(path, mano_root, device) for path in paths]
    nets = [build_eval_dataset("fhbhands", data_root, "test", mano_root, input_width=m.input_width) for m in models]
    shown = build_eval_dataset("fhbhands", data_root, "test", mano_root, return_orig_image=True)  # native 480x270
    indices, note = select_indices(len(shown), "fhbhands", "viz")
    write_comparison_figures([(name, m.model) for ...], nets, shown, indices, out_dir / "images", device=...)

The network sees the frames at its training width (--input_width of its checkpoint); the figure shows the frame at
the display width (native by default) with the predicted 3D meshes rendered through that frame's intrinsics (the
predictions are camera-frame metres, so any resolution of the same camera can show them).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.build import build_eval_dataset
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.devices import move_to_device, resolve_device
from handobjectconsist.entry import Parser, non_negative_int, number_flag, positive_float, positive_int, run_main
from handobjectconsist.errors import UsageError, UserError, require_output_dir
from handobjectconsist.models import MeshRegNet
from handobjectconsist.models.trained import load_trained_model
from handobjectconsist.visualize.comparison import comparison_figure
from libyana.seeding import set_all_seeds

# Upstream visualize.py defaults (docs/differences-from-upstream.md, K7), with the README recipe that makes each.
STEP1_SPARSE = "python trainmeshreg.py --freeze_batchnorm --workers 8 --fraction 0.00625 --eval_freq 50"
STEP2_SPARSE = ("python trainmeshwarp.py --freeze_batchnorm --consist_gt_refs --workers 8 --fraction 0.00625 "
                "--resume <step-1 checkpoint.pth>")
RELEASE_MODELS = (
    ("releasemodels/fphab/hands_and_objects/checkpoint_200.pth", "Supervised data: 100%",
     ["python trainmeshreg.py --freeze_batchnorm --workers 8 --block_rot --epochs 200"]),
    ("releasemodels/fphab/warp_effect/no_consist/frac_6.3e-03/checkpoint_1200.pth", "Supervised data: 0.65%",
     [STEP1_SPARSE, STEP2_SPARSE + " --lambda_data 1 --lambda_consist 0 --epochs 1200"]),
    ("releasemodels/fphab/warp_effect/with_consist/frac_6.3e-03/checkpoint_1200.pth",
     "Supervised data: 0.65% + photometric consistency", [STEP1_SPARSE, STEP2_SPARSE + " --epochs 1200"]),
)
DEFAULT_RESUMES = tuple(path for path, _, _ in RELEASE_MODELS)
DEFAULT_MODEL_NAMES = tuple(name for _, name, _ in RELEASE_MODELS)
MIN_DISPLAY_WIDTH = 32  # pixels: below it a frame in the figure shows nothing recognisable
DISPLAY_WIDTH = number_flag(int, MIN_DISPLAY_WIDTH, description=f"a width of at least {MIN_DISPLAY_WIDTH} pixels")
# Upstream FPHAB "viz" mode: raw indices of the test set (40 appears twice, as upstream).
FPHAB_VIZ_INDICES = (479, 3010, 3820, 40, 1430, 1095, 3530, 175, 40, 4330)


class MissingCheckpointError(UserError, FileNotFoundError):
    """One or more --resumes checkpoints do not exist; the message says how to produce them."""


def check_checkpoints(paths: Sequence[Union[str, Path]], names: Sequence[str]) -> None:
    """Raise MissingCheckpointError naming every missing checkpoint and the commands that produce it."""
    release = {Path(path): recipe for path, _, recipe in RELEASE_MODELS}
    problems, missing = [], []
    for path, name in zip(paths, names):
        path = Path(path)
        if path.is_file() or (path.is_dir() and (path / "checkpoint.pth").is_file()):
            continue
        missing.append(str(path))
        recipe = release.get(path)
        if recipe is None:
            recipe = ["python trainmeshreg.py ... (writes <experiment folder>/checkpoint.pth)",
                      "python trainmeshwarp.py ... --resume <trainmeshreg checkpoint.pth>"]
        lines = [f"  {path} ({name!r}) does not exist. Produce it with:"]
        lines += [f"      {command}" for command in recipe]
        lines.append("    then pass the run's <experiment folder>/checkpoint.pth (or a checkpoint_<epoch>.pth) to "
                     "--resumes, or copy it to that path.")
        problems.append("\n".join(lines))
    if problems:
        raise MissingCheckpointError(
            f"--resumes: missing checkpoints {', '.join(missing)}; how to make them:\n" + "\n".join(problems)
            + "\n  (The released upstream models are not compatible "
            "with this re-implementation; `make demo` trains small models on synthetic data and runs this script.)")


def select_indices(num_frames: int, dataset: str, mode: str, max_images: Optional[int] = None
                   ) -> Tuple[List[int], Optional[str]]:
    """Dataset items to draw.

    "viz": upstream's 10 fixed FPHAB test indices when they all exist; otherwise (other datasets, smaller sets)
    10 frames evenly spread over the split, with a note saying so. "full": every frame. max_images caps the count.
    Returns (indices, note or None).
    """
    if mode not in ("viz", "full"):
        raise UsageError(f"--mode {mode!r}: expected 'viz' or 'full'")
    note = None
    if mode == "full":
        indices = list(range(num_frames))
    elif dataset == "fhbhands" and max(FPHAB_VIZ_INDICES) < num_frames:
        indices = list(FPHAB_VIZ_INDICES)
    else:
        count = min(len(FPHAB_VIZ_INDICES), num_frames)
        indices = sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, count)}) if count else []
        note = (f"mode viz: upstream's fixed FPHAB test indices {list(FPHAB_VIZ_INDICES)} need at least "
                f"{max(FPHAB_VIZ_INDICES) + 1} {dataset} test frames, this split has {num_frames}; drawing "
                f"{len(indices)} frames evenly spread over it instead")
    if max_images is not None:
        indices = indices[: max(0, int(max_images))]
    return indices, note


def _hand_faces(model: MeshRegNet, side: str) -> torch.Tensor:
    branch = model.mano_branch
    layer = branch.mano_layer_left if side == "left" else branch.mano_layer_right
    return layer.closed_faces


@torch.no_grad()
def predict_batch(models: Sequence[MeshRegNet], batch: Dict, device) -> List[Dict]:
    """Results dict of each model on a collated batch (moved to `device`)."""
    batch = move_to_device(batch, torch.device(device))
    return [model(batch)[1] for model in models]


def write_comparison_figures(models: Sequence[Tuple[str, MeshRegNet]], net_datasets, display_dataset,
                             indices: Sequence[int], out_dir: Union[str, Path], batch_size: int = 4,
                             max_val: float = 0.1, device: Union[str, torch.device] = "cpu",
                             progress: bool = True) -> List[Path]:
    """Run the models on their frames and write out_dir/render{k:06d}.png for the k-th index.

    Args:
        models: [(row name, MeshRegNet in eval mode on `device`)].
        net_datasets: per model, the frames as that network takes them (its training width), no augmentation; or
            one dataset shared by all models. Datasets are item-aligned with display_dataset.
        display_dataset: the same frames in the same order at the display resolution, with IMAGE_ORIG.
        indices: items of the datasets to draw.
        max_val: 3D error in metres at the top of the colour map.
    Returns:
        The written paths, in order.
    """
    if not isinstance(net_datasets, (list, tuple)):
        net_datasets = [net_datasets] * len(models)
    if len(net_datasets) != len(models):
        raise ValueError(f"{len(models)} models but {len(net_datasets)} network datasets")
    for dataset in net_datasets:
        if len(dataset) != len(display_dataset):
            raise ValueError(f"network and display datasets differ in length ({len(dataset)} vs "
                             f"{len(display_dataset)})")
    out_dir = Path(out_dir)
    paths: List[Path] = []
    bar = tqdm(total=len(indices), desc="figures", unit="img", disable=not progress)
    for start in range(0, len(indices), batch_size):
        chunk = [int(i) for i in indices[start:start + batch_size]]
        batches: Dict[int, Dict] = {}  # one collated batch per distinct dataset
        all_results = []
        for (name, model), dataset in zip(models, net_datasets):
            if id(dataset) not in batches:
                batches[id(dataset)] = collate_samples([dataset[i] for i in chunk])
            all_results.append(predict_batch([model], batches[id(dataset)], device)[0])
        for b, index in enumerate(chunk):
            shown = display_dataset[index]
            has_obj = K.OBJ_VERTS3D in shown and K.OBJ_FACES in shown
            num_obj = shown[K.OBJ_VERTS3D].shape[0] if has_obj else 0
            predictions = []
            for (name, _), results in zip(models, all_results):
                # Collate pads object vertices at the end, so the first num_obj are this frame's real vertices.
                obj = results["recov_objverts3d"][b, :num_obj].cpu() if has_obj else None
                corners = results["recov_objcorners3d"][b].cpu() if "recov_objcorners3d" in results else None
                predictions.append((name, results["recov_handverts3d"][b].cpu(), obj, corners))
            path = out_dir / f"render{len(paths):06d}.png"
            comparison_figure(
                shown[K.IMAGE_ORIG].numpy(), shown[K.CAM_INTR_ORIG], shown[K.HAND_VERTS3D],
                shown[K.OBJ_VERTS3D] if has_obj else None, _hand_faces(models[0][1], shown.get(K.SIDE, "right")).cpu(),
                shown[K.OBJ_FACES] if has_obj else None, predictions, path, max_error=max_val, device=device,
                gt_obj_corners=shown.get(K.OBJ_CORNERS3D))
            paths.append(path)
            bar.update(1)
    bar.close()
    return paths


# ------------------------------------------------------------------------------------------ visualize.py CLI
def visualize_parser() -> argparse.ArgumentParser:
    p = Parser(description="Ground truth vs. models comparison figures (visualize.py demo)")
    p.add_argument("--com", default="debug/", help="output folder checkpoints/{dataset}/{com}")
    p.add_argument("--manual_seed", type=non_negative_int, default=1)
    p.add_argument("--dataset", default="fhbhands", choices=["fhbhands", "ho3dv2"])
    p.add_argument("--split", default="test")
    p.add_argument("--mode", default="viz", choices=["viz", "full"],
                   help="viz: upstream's 10 fixed FPHAB test frames (10 evenly spread frames on smaller sets); "
                        "full: every frame")
    p.add_argument("--max_val", type=positive_float, default=0.1, help="3D error (m) at the top of the jet colour map")
    p.add_argument("--batch_size", type=positive_int, default=4)
    p.add_argument("--workers", type=non_negative_int, default=0,
                   help="accepted for compatibility; frames are read in-process")
    p.add_argument("--resumes", nargs="+", default=list(DEFAULT_RESUMES), help="checkpoints, one per model row")
    p.add_argument("--model_names", nargs="+", default=None,
                   help="row titles ('Ground Truth' is prepended); default: the release models' names for the "
                        "default --resumes, else each checkpoint's experiment folder name")
    p.add_argument("--data_root", default="data", help="folder holding fhbhands/ (or ho3dv2/), or the set itself")
    p.add_argument("--mano_root", default=None,
                   help="MANO folder (default: the one saved in each checkpoint)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--input_width", type=positive_int, default=None,
                   help="frame width fed to every network (default: each model's own training --input_width)")
    p.add_argument("--display_width", type=DISPLAY_WIDTH, default=None,
                   help=f"frame width in the figures, >= {MIN_DISPLAY_WIDTH} (default: stored)")
    p.add_argument("--out_dir", default=None, help="output folder (default checkpoints/{dataset}/{com})")
    p.add_argument("--max_images", type=positive_int, default=None, help="draw at most this many images")
    return p


def default_model_names(resumes: Sequence[str]) -> List[str]:
    """Row titles for --resumes: the release models' names for the default checkpoints, else the name of each
    checkpoint's experiment folder (the file's stem for a checkpoint outside one)."""
    if list(resumes) == list(DEFAULT_RESUMES):
        return list(DEFAULT_MODEL_NAMES)
    names = []
    for resume in resumes:
        path = Path(resume)
        names.append(path.name if path.is_dir() or not path.suffix else (path.parent.name or path.stem))
    return names


def run_visualize(argv: Optional[Sequence[str]] = None) -> List[Path]:
    """Parse flags, write the figures; returns their paths."""
    args = visualize_parser().parse_args(argv)
    if args.model_names is None:
        args.model_names = default_model_names(args.resumes)
    if len(args.resumes) != len(args.model_names):
        raise UsageError(f"--resumes has {len(args.resumes)} entries but --model_names has {len(args.model_names)}; "
                         f"give one name per checkpoint")
    check_checkpoints(args.resumes, args.model_names)
    set_all_seeds(args.manual_seed)
    device = resolve_device(args.device)
    out_dir = require_output_dir(Path(args.out_dir) if args.out_dir else Path("checkpoints") / args.dataset / args.com,
                                 "--out_dir" if args.out_dir else "--com")
    loaded = [load_trained_model(path, args.mano_root, device) for path in args.resumes]
    mano_root = args.mano_root or loaded[-1].opts["mano_root"]
    by_width: Dict[Optional[int], object] = {}  # one dataset per distinct network width
    net_datasets = []
    for item in loaded:
        width = args.input_width if args.input_width is not None else item.input_width
        if width not in by_width:
            by_width[width] = build_eval_dataset(args.dataset, args.data_root, args.split, mano_root, width)
        net_datasets.append(by_width[width])
    shown = build_eval_dataset(args.dataset, args.data_root, args.split, mano_root, args.display_width,
                               return_orig_image=True)
    indices, note = select_indices(len(shown), args.dataset, args.mode, args.max_images)
    if note:
        print(f"note: {note}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "opt.json").write_text(json.dumps({**vars(args), "argv": sys.argv, "indices": indices}, indent=1))
    models = [(name, item.model) for name, item in zip(args.model_names, loaded)]
    paths = write_comparison_figures(models, net_datasets, shown, indices, out_dir / "images", args.batch_size,
                                     args.max_val, device)
    print(f"wrote {len(paths)} figures to {out_dir / 'images'}")
    return paths


def visualize_main(argv: Optional[Sequence[str]] = None) -> int:
    """visualize.py entry point: 0; 1 with one "error: ..." line for a user mistake; 130 / 143 for a signal."""
    return run_main(run_visualize, argv, (FileNotFoundError,))
