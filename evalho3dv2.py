"""HO3D-v2 CodaLab submission from a trained checkpoint.

As upstream's evalho3dv2.py; docs/differences-from-upstream.md, K7.

    python evalho3dv2.py --resume <checkpoint.pth> --val_split test --json_folder jsonres/res \
        --data_root data --mano_root assets/mano

Runs the model (rebuilt from its checkpoint's own options, BatchNorm in eval mode) over every frame of the
HO3D-v2 split (split_mode "paper": "test" is the official evaluation set of evaluation.txt), without augmentation, in
list order, and writes pred.json and pred.zip (pred.json at the archive root) in --out_dir (default: the working
directory, as upstream) and a copy {json_folder}/{val_split}.json (a relative --json_folder is under --out_dir):
[xyz_list, verts_list], HO3D joint order, OpenGL camera frame, metres, 5 decimals. Flags of the original that do
nothing here are accepted (its command lines run) and each one given prints one line saying why it has no effect
(UNUSED_FLAGS).
"""

import argparse
import logging
import shutil
import sys

from handobjectconsist.devices import resolve_device
from handobjectconsist.entry import (
    Parser,
    finite_float,
    non_negative_int,
    number_flag,
    positive_int,
    run_main,
    warn_unused_flags,
)
from handobjectconsist.errors import UsageError, require_output_dir
from handobjectconsist.evaluation.ho3d_inference import PAPER_SPLITS, ho3d_eval_loader, predict_submission
from handobjectconsist.models.trained import load_trained_model
from libyana.seeding import set_all_seeds

LOGGER = logging.getLogger("evalho3dv2")
_TRAINING_ONLY = "a training flag; this command only predicts"
_FROM_CHECKPOINT = "the model is rebuilt from its checkpoint's own options"
# Flags of the original's evalho3dv2.py that have no effect here: dest -> (type or "flag", why).
UNUSED_FLAGS = {
    "max_verts": (int, "the original never read it"),
    "version": (int, "the HO3D-v2 'paper' split has no version variants"),
    "render_freq": (int, "the original never read it; no renders are written"),
    "display_freq": (int, _TRAINING_ONLY),
    "epochs": (int, _TRAINING_ONLY),
    "snapshot": (int, _TRAINING_ONLY),
    "criterion2d": (str, _TRAINING_ONLY),
    "mask_threshold": (float, "the original never read it"),
    "pyapt_id": (str, "it named the original's cluster-bookkeeping marker file, which is not written"),
    "obj_trans_factor": (float, _FROM_CHECKPOINT),
    "obj_scale_factor": (float, _FROM_CHECKPOINT),
    "use_cache": ("flag", "this project keeps no annotation cache"),
    "synth": ("flag", "the original never read it"),
    "dump_results": ("flag", "the submission is always written"),
    "render_results": ("flag", "no renders are written"),
    "freeze_batchnorm": ("flag", "the model always predicts with BatchNorm in eval mode"),
    "mode": (None, "every frame of the split is predicted (the paper split annotates all frames)"),
}


def parser() -> argparse.ArgumentParser:
    p = Parser(description="HO3D-v2 CodaLab submission (pred.json, pred.zip)")
    p.add_argument("--com", default="debug/")
    p.add_argument("--val_dataset", default="ho3dv2", choices=["ho3dv2"])
    p.add_argument("--val_split", default="val", choices=list(PAPER_SPLITS),
                   help="'test' = the official evaluation set (upstream README); default 'val' as upstream")
    p.add_argument("--mini_factor", type=finite_float, default=1, help="must be 1 (a submission needs every frame)")
    p.add_argument("--fraction", type=finite_float, default=1, help="must be 1 (split_mode 'paper')")
    p.add_argument("--mode", default="strong", choices=["strong", "weak", "full"],
                   help="no effect: every frame is predicted (the paper split annotates all frames)")
    p.add_argument("--center_idx", type=number_flag(int, 0, 20), default=9)
    p.add_argument("--true_root", action="store_true", help="replace the predicted wrist by the dataset's wrist")
    p.add_argument("--resume", required=True, help="checkpoint .pth written by trainmeshreg.py / trainmeshwarp.py")
    p.add_argument("--manual_seed", type=non_negative_int, default=0)
    p.add_argument("--batch_size", type=positive_int, default=4)
    p.add_argument("--workers", type=non_negative_int, default=8)
    p.add_argument("--json_folder", default="jsonres/res",
                   help="also writes {json_folder}/{val_split}.json (a relative folder is under --out_dir)")
    p.add_argument("--out_dir", default=".", help="where pred.json and pred.zip go")
    p.add_argument("--data_root", default="data", help="folder holding ho3dv2/ (or the HO3D-v2 folder itself)")
    p.add_argument("--mano_root", default=None, help="MANO folder (default: the one saved in the checkpoint)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--input_width", type=positive_int, default=None,
                   help="frame width fed to the network (default: the checkpoint's training --input_width)")
    for dest, (kind, _) in UNUSED_FLAGS.items():
        if kind == "flag":
            p.add_argument(f"--{dest}", action="store_true", help=argparse.SUPPRESS)
        elif kind is not None:
            p.add_argument(f"--{dest}", type=kind, default=None, help=argparse.SUPPRESS)
    return p


def run(argv=None):
    """Parse flags, predict, write; returns the SubmissionPaths of pred.json / pred.zip."""
    flags = parser()
    args = flags.parse_args(argv)
    warn_unused_flags(args, flags, {dest: why for dest, (_, why) in UNUSED_FLAGS.items()}, LOGGER)
    if args.mini_factor != 1 or args.fraction != 1:
        raise UsageError("--mini_factor and --fraction must be 1: a submission predicts every frame of the split")
    out_dir = require_output_dir(args.out_dir, "--out_dir")
    json_copy = require_output_dir(out_dir / args.json_folder, "--json_folder") / f"{args.val_split}.json"
    set_all_seeds(args.manual_seed)
    device = resolve_device(args.device)
    loaded = load_trained_model(args.resume, args.mano_root, device)
    mano_root = args.mano_root or loaded.opts["mano_root"]
    input_width = args.input_width if args.input_width is not None else loaded.input_width
    loader = ho3d_eval_loader(args.data_root, args.val_split, mano_root, input_width, args.batch_size, args.workers)
    writer = predict_submission(loaded.model, loader, device, true_root=args.true_root)
    paths = writer.write(out_dir, expected_frames=len(loader.dataset))
    json_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.json, json_copy)
    print(f"wrote {len(writer)} frames: {paths.json}, {paths.zip} (and {json_copy})")
    return paths


def main(argv=None) -> int:
    """Exit status 0; 1 with one "error: ..." line for a user mistake; 130 / 143 for SIGINT / SIGTERM."""
    return run_main(run, argv, (FileNotFoundError,))


if __name__ == "__main__":
    sys.exit(main())
