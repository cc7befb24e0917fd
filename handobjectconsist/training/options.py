"""Command-line flags of trainmeshreg.py and trainmeshwarp.py, with upstream names/defaults, and their run folder names.

Upstream flags keep their names and defaults (docs/differences-from-upstream.md, K1; unused ones: D14).
Additions: --data_root, --mano_root, --device, --input_width, --pretrained (imagenet / none / a file), --encoder_arch,
--mano_ncomps, --skeleton_regressor, --checkpoint_root, --exp_dir, --train_batchnorm, --toy_size, --amp,
--channels_last. --workers defaults to "auto" (0 on CPU as upstream).
"""

import argparse

from handobjectconsist.entry import (
    Parser,
    finite_float,
    fraction_flag,
    non_negative_float,
    non_negative_int,
    number_flag,
    positive_float,
    positive_int,
)

# The original also listed its unreleased synthetic sets syntho3d / syntho3dv2; they cannot be read here, so they are
# not offered (the synthetic sets of this project are written in the FPHAB / HO3D-v2 layouts: synth/).
DATASET_CHOICES = ["ho3dv2", "fhbhands", "toy"]
WEIGHT = non_negative_float  # loss weights
MINI_FACTOR = number_flag(float, 1, description="a number >= 1 (1 keeps every frame)")

# Flags the original parsed but never used, kept so that its command lines run: dest -> why it has no effect
# (docs/differences-from-upstream.md, D14). trainmeshwarp adds UNUSED_WARP_FLAGS.
UNUSED_TRAINING_FLAGS = {
    "use_cache": "this project keeps no annotation cache; annotations are parsed at every start",
    "pyapt_id": "it named the original's cluster-bookkeeping marker file, which this project does not write",
    "criterion2d": "the original never read it (the 2D losses are squared errors); it only names trainmeshwarp's "
                   "run folder",
}
# trainmeshwarp flags the original parsed but never read (docs/differences-from-upstream.md, D14).
UNUSED_WARP_FLAGS = {
    "consist_mode": "the original never read it; the loss is always the photometric loss of the warped image",
    "consist_scale": "the original never read it; it only names the run folder",
}


def add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data_root", default="data",
                       help="folder holding the datasets (data_root/fhbhands, data_root/ho3dv2)")
    group.add_argument("--train_datasets", nargs="+", default=["fhbhands"], choices=DATASET_CHOICES,
                       help="'toy' is a tiny in-memory synthetic set for smoke tests")
    group.add_argument("--val_dataset", default="fhbhands", choices=DATASET_CHOICES)
    group.add_argument("--train_splits", nargs="+", default=["train"])
    group.add_argument("--val_split", default="test", choices=["test", "train", "val", "trainval"])
    group.add_argument("--val_frames", default="all", choices=["all", "unannotated"],
                       help="frames of --val_split to evaluate: all of them, or only those left unannotated by "
                            "--fraction (with --val_split train: the frames the photometric loss is applied to)")
    group.add_argument("--split_mode", default="objects", choices=["objects", "paper"], help="HO3D split family")
    group.add_argument("--mini_factor", type=MINI_FACTOR, default=1,
                       help="keep a random 1/mini_factor of the frames, >= 1 (debugging only)")
    group.add_argument("--fraction", type=fraction_flag, default=1,
                       help="fraction of annotated ('strong') frames, in (0, 1]")
    group.add_argument("--use_cache", action="store_true", help="no effect (no annotation cache is kept)")
    group.add_argument("--no_augm", action="store_true", help="disable all train augmentation")
    group.add_argument("--block_rot", action="store_true", help="force rotation augmentation to 0")
    group.add_argument("--max_rot", type=non_negative_float, default=0, help="rotation augmentation range (radians)")
    group.add_argument("--version", type=number_flag(int), default=3, help="HO3D/synthetic set version")
    group.add_argument("--center_idx", type=number_flag(int, 0, 20), default=9, help="root joint (9 = middle MCP)")
    group.add_argument("--center_jittering", type=non_negative_float, default=0.1)
    group.add_argument("--scale_jittering", type=number_flag(float, 0, 1, open_maximum=True), default=0)
    group.add_argument("--input_width", type=positive_int, default=None,
                       help="resize frames to this width (keeps the aspect ratio); default: native width")
    group.add_argument("--toy_size", type=positive_int, default=16, help="number of samples of the 'toy' dataset")
    group.add_argument("--workers", type=non_negative_int, default=None,
                       help="data-loader worker processes (trainmeshwarp: split over its two train loaders, each "
                            "keeping at least 1); default: 0 on CPU (upstream), min(8, CPUs of this process / local "
                            "processes) on CUDA")
    group.add_argument("--batch_size", type=positive_int, default=8,
                       help="per process (global batch = this x world size)")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--mano_root", default="assets/mano", help="folder with MANO_RIGHT.pkl / MANO_LEFT.pkl")
    group.add_argument("--encoder_arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50", "tiny"],
                       help="torchvision ResNet; 'tiny' is a 3-layer conv net for tests and smoke runs")
    group.add_argument("--pretrained", default=None,
                       help="the encoder's initial weights: 'imagenet' (default, as the original: torchvision's "
                            "ImageNet weights, downloaded once into torch's hub cache), 'none' (random), or the path "
                            "of a local torchvision state dict; the 'tiny' test encoder is always random; with "
                            "--resume the weights come from the checkpoint")
    group.add_argument("--mano_ncomps", type=positive_int, default=15, help="MANO PCA pose coefficients")
    group.add_argument("--skeleton_regressor", default=None,
                       help="(21, V) vertex-to-FPHAB-skeleton regressor file (.npy/.npz/.pkl 'adaptor'); "
                            "default: MANO J_regressor + finger tips")
    group.add_argument("--criterion2d", default="l2", choices=["l2", "l1", "smooth_l1"],
                       help="no effect, as upstream (kept for the folder name)")
    group.add_argument("--mano_lambda_verts3d", type=WEIGHT, default=0, help="root-centred hand-vertex MSE")
    group.add_argument("--mano_lambda_joints3d", type=WEIGHT, default=0, help="root-centred hand-joint MSE")
    group.add_argument("--mano_lambda_recov_joints3d", type=WEIGHT, default=0.5, help="camera-space hand-joint MSE")
    group.add_argument("--mano_lambda_recov_verts3d", type=WEIGHT, default=0, help="camera-space hand-vertex MSE")
    group.add_argument("--mano_lambda_joints2d", type=WEIGHT, default=0, help="2D joint MSE (pixels / 512)")
    group.add_argument("--mano_lambda_verts2d", type=WEIGHT, default=0, help="2D hand-vertex MSE (pixels / 512)")
    group.add_argument("--mano_lambda_shape", type=WEIGHT, default=5e-7,
                       help="beta regulariser; > 0 also enables shape prediction")
    group.add_argument("--mano_lambda_pose_reg", type=WEIGHT, default=5e-6, help="PCA-coefficient regulariser")
    group.add_argument("--obj_lambda_recov_verts3d", type=WEIGHT, default=0.5, help="camera-space object-vertex MSE")
    group.add_argument("--obj_lambda_verts3d", type=WEIGHT, default=0, help="centred rotated object vertices (L1)")
    group.add_argument("--obj_lambda_verts2d", type=WEIGHT, default=0, help="2D object-vertex MSE (pixels / 512)")
    group.add_argument("--obj_trans_factor", type=positive_float, default=100,
                       help="translation multiplier (hand and object)")
    group.add_argument("--obj_scale_factor", type=positive_float, default=1e-4,
                       help="scale multiplier (hand and object)")


def add_optim_args(parser: argparse.ArgumentParser, epochs: int = 10000) -> None:
    group = parser.add_argument_group("optimisation")
    group.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    group.add_argument("--lr", type=positive_float, default=5e-5)
    group.add_argument("--momentum", type=number_flag(float, 0, 1), default=0.9, help="SGD only")
    group.add_argument("--weight_decay", type=non_negative_float, default=0)
    group.add_argument("--epochs", type=non_negative_int, default=epochs, help="last epoch index (exclusive)")
    group.add_argument("--lr_decay_step", type=positive_float, default=100, help="StepLR step, in epochs")
    group.add_argument("--lr_decay_gamma", type=non_negative_float, default=1,
                       help="StepLR gamma (1: constant LR; 0: no scheduler, constant LR -- upstream crashed)")
    group.add_argument("--freeze_batchnorm", action="store_true",
                       help="BN momentum 0 (BN already runs in eval mode, as upstream); adds _fbn to the folder")
    group.add_argument("--train_batchnorm", action="store_true",
                       help="run BatchNorm in train mode (batch statistics) instead of upstream's eval mode")


def add_run_args(parser: argparse.ArgumentParser, epoch_display_freq: int = 1) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--com", default="debug/", help="prefix of the run folder name")
    group.add_argument("--checkpoint_root", default="checkpoints", help="root of the experiment folders")
    group.add_argument("--exp_dir", default=None, help="explicit experiment folder (overrides the derived name)")
    group.add_argument("--resume", default=None, help="checkpoint .pth (or its folder) to continue from")
    group.add_argument("--evaluate", action="store_true", help="one validation pass (needs --resume)")
    group.add_argument("--manual_seed", type=non_negative_int, default=0)
    group.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    group.add_argument("--amp", action="store_true",
                       help="CUDA only: run the image encoder under bfloat16 autocast (heads, MANO, rasteriser, warp "
                            "and losses stay float32); no effect on CPU (a warning says so)")
    group.add_argument("--channels_last", action="store_true",
                       help="CUDA only: encoder weights and input images in channels-last memory format; no effect "
                            "on CPU (a warning says so)")
    group.add_argument("--pyapt_id", default=None, help="no effect (the original's cluster marker file)")
    group.add_argument("--eval_freq", type=number_flag(int, 1, also=(-1,)), default=10,
                       help="validate after epochs 1, 1+N, 1+2N, ... (the original's rule: 0-based epoch index %% N "
                            "== 0) and after the last epoch (--epochs; an addition); -1: never")
    group.add_argument("--display_freq", type=non_negative_int, default=500,
                       help="save a sample figure every N batches (0: never)")
    group.add_argument("--epoch_display_freq", type=non_negative_int, default=epoch_display_freq,
                       help="... in epochs where epoch %% N == 0")
    group.add_argument("--snapshot", type=non_negative_int, default=100,
                       help="keep checkpoint_{epoch}.pth every N epochs (0: never)")


def trainmeshreg_parser() -> argparse.ArgumentParser:
    parser = Parser(description="Supervised training / evaluation of MeshRegNet")
    add_data_args(parser)
    add_model_args(parser)
    add_optim_args(parser)
    add_run_args(parser)
    return parser


def trainmeshwarp_parser() -> argparse.ArgumentParser:
    """trainmeshreg's shared flags with trainmeshwarp's defaults, plus the consistency flags (K1)."""
    parser = Parser(description="Fine-tune MeshRegNet with photometric consistency")
    add_data_args(parser)
    add_model_args(parser)
    add_optim_args(parser, epochs=2000)
    add_run_args(parser, epoch_display_freq=20)
    group = parser.add_argument_group("consistency")
    group.add_argument("--consist_dataset", default="fhbhands", choices=DATASET_CHOICES)
    group.add_argument("--consist_split", default="train")
    group.add_argument("--no_consist_augm", action="store_true", help="no augmentation on the consist dataset")
    group.add_argument("--consist_mode", default="warp", choices=["flow", "warp"], help="no effect, as upstream")
    group.add_argument("--consist_scale", type=finite_float, default=1,
                       help="no effect, as upstream (names the folder)")
    group.add_argument("--consist_criterion", default="l1", choices=["l1", "l2", "ssim"])
    group.add_argument("--progressive_consist_steps", type=non_negative_int, default=1000,
                       help="lambda_consist ramp length in consist batches (0: no ramp)")
    group.add_argument("--consist_gt_refs", action="store_true", help="reference frames use their GT meshes")
    group.add_argument("--consist_use_backward", action="store_true", help="add the reverse photometric term")
    group.add_argument("--sample_nb", type=positive_int, default=2,
                       help="frames per consist item (query + sample_nb-1 refs)")
    group.add_argument("--spacing", type=number_flag(int), default=0,
                       help="0: nearest annotated frame; >0: next annotated first; <0: previous first")
    group.add_argument("--lambda_consist", type=WEIGHT, default=0.001, help="photometric weight (ramped)")
    group.add_argument("--lambda_data", type=non_negative_float, default=0.999,
                       help="supervised weight (minus the current ramped lambda_consist)")
    group.add_argument("--occlusion_threshold", type=non_negative_float, default=0.03,
                       help="forward-backward flow tolerance, fraction of the image side")
    group.add_argument("--consist_width", type=positive_int, default=None,
                       help="compute the flow, warp, masks and photometric error on the consist frames loaded at "
                            "this width (same augmentation), the network still sees --input_width; default: the "
                            "network input (upstream)")
    group.add_argument("--consist_scales", type=positive_int, nargs="+", default=[1],
                       help="average the photometric loss over area-downsampled copies by these factors, e.g. 1 2 4 "
                            "(each level a mean over its valid pixels); 1: no pyramid")
    group.add_argument("--consist_params", default="all", choices=["all", "global", "lateral"],
                       help="what the photometric gradient moves: all (upstream); global: hand root rotation, "
                            "scale, translation and the object's pose (finger articulation and shape detached); "
                            "lateral: global without depth (the scales, i.e. depths, detached)")
    group.add_argument("--consist_max_gap", type=non_negative_int, default=None,
                       help="leave out of the consist pairs the frames more than this many frames from their "
                            "reference (default: no bound)")
    return parser


def experiment_name(args, trainer: str) -> str:
    """Upstream run folder name of `trainer` without the date level (so that a rerun finds the same folder).

    trainmeshreg:  {datasets}_{splits}_mini{m}/{com}_frac{f:.1e}lr{lr}_mom{mom}_bs{bs}__lmbeta.._lmpr.._lmrj3d..
                   _lovr3d..seed{s}, plus _no_augm / _block_rot / _fbn.
    trainmeshwarp: {datasets}_warp{consist_dataset}_mini{m}/{com}_frac.._ld.._lc..crit..sca..opt.._lr.._crit..
                   _mom.._bs.._lmj3d.._lmbeta.._lmpr.._lmrj3d.._lmrw3d.._lov2d.._lov3d.._lovr3d..cj..seed..
                   sample_nb.._spac..csteps.., plus _no_augm / _noconsaugm / _block_rot / _gt_refs, then
                   _cw{consist_width} / _cs{consist_scales} / _cp{consist_params} / _cmg{consist_max_gap} where they
                   differ from the defaults.
    """
    datasets, mini = "_".join(args.train_datasets), f"_mini{float(args.mini_factor)}"
    if trainer == "trainmeshreg":
        top = f"{datasets}_{'_'.join(args.train_splits)}{mini}"
        name = (f"{args.com}_frac{args.fraction:.1e}lr{args.lr}_mom{args.momentum}_bs{args.batch_size}"
                f"__lmbeta{args.mano_lambda_shape:.1e}_lmpr{args.mano_lambda_pose_reg:.1e}"
                f"_lmrj3d{args.mano_lambda_recov_joints3d:.1e}_lovr3d{args.obj_lambda_recov_verts3d:.1e}"
                f"seed{args.manual_seed}")
        suffixes = (("no_augm", "_no_augm"), ("block_rot", "_block_rot"), ("freeze_batchnorm", "_fbn"))
    elif trainer == "trainmeshwarp":
        top = f"{datasets}_warp{args.consist_dataset}{mini}"
        name = (f"{args.com}_frac{args.fraction:.1e}_ld{args.lambda_data:.1e}_lc{args.lambda_consist:.1e}"
                f"crit{args.consist_criterion}sca{args.consist_scale}opt{args.optimizer}_lr{args.lr}"
                f"_crit{args.criterion2d}_mom{args.momentum}_bs{args.batch_size}"
                f"_lmj3d{args.mano_lambda_joints3d:.1e}_lmbeta{args.mano_lambda_shape:.1e}"
                f"_lmpr{args.mano_lambda_pose_reg:.1e}_lmrj3d{args.mano_lambda_recov_joints3d:.1e}"
                f"_lmrw3d{args.mano_lambda_recov_verts3d:.1e}_lov2d{args.obj_lambda_verts2d:.1e}"
                f"_lov3d{args.obj_lambda_verts3d:.1e}_lovr3d{args.obj_lambda_recov_verts3d:.1e}"
                f"cj{args.center_jittering}seed{args.manual_seed}"
                f"sample_nb{args.sample_nb}_spac{args.spacing}csteps{args.progressive_consist_steps}")
        suffixes = (("no_augm", "_no_augm"), ("no_consist_augm", "_noconsaugm"), ("block_rot", "_block_rot"),
                    ("consist_gt_refs", "_gt_refs"))

    else:
        raise ValueError(f"unknown trainer {trainer!r}")
    name += "".join(suffix for flag, suffix in suffixes if getattr(args, flag))
    if trainer == "trainmeshwarp":  # this project's consistency options, named only where they are not upstream's
        if args.consist_width is not None:
            name += f"_cw{args.consist_width}"
        if list(args.consist_scales) != [1]:
            name += "_cs" + "-".join(str(s) for s in args.consist_scales)
        if args.consist_params != "all":
            name += f"_cp{args.consist_params}"
        if args.consist_max_gap is not None:
            name += f"_cmg{args.consist_max_gap}"
    return f"{top}/{name}"
