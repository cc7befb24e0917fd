import pytest

from handobjectconsist.training.options import experiment_name, trainmeshreg_parser

# Upstream's flag defaults (docs/differences-from-upstream.md, K1); --workers None is "auto", 0 on CPU as upstream.
UPSTREAM_DEFAULTS = {
    "com": "debug/", "train_datasets": ["fhbhands"], "val_dataset": "fhbhands", "train_splits": ["train"],
    "val_split": "test", "split_mode": "objects", "mini_factor": 1, "fraction": 1, "use_cache": False,
    "no_augm": False, "block_rot": False, "max_rot": 0, "version": 3, "center_idx": 9, "center_jittering": 0.1,
    "scale_jittering": 0, "resume": None, "freeze_batchnorm": False, "evaluate": False, "manual_seed": 0,
    "batch_size": 8, "workers": None, "pyapt_id": None, "epochs": 10000, "lr_decay_step": 100, "lr_decay_gamma": 1,
    "lr": 5e-5, "momentum": 0.9, "optimizer": "adam", "weight_decay": 0, "criterion2d": "l2",
    "mano_lambda_verts3d": 0, "mano_lambda_joints3d": 0, "mano_lambda_recov_joints3d": 0.5,
    "mano_lambda_recov_verts3d": 0, "mano_lambda_joints2d": 0, "mano_lambda_verts2d": 0,
    "mano_lambda_shape": 5e-7, "mano_lambda_pose_reg": 5e-6, "obj_lambda_recov_verts3d": 0.5,
    "obj_lambda_verts3d": 0, "obj_lambda_verts2d": 0, "obj_trans_factor": 100, "obj_scale_factor": 1e-4,
    "eval_freq": 10, "display_freq": 500, "epoch_display_freq": 1, "snapshot": 100,
}


def test_upstream_defaults():
    args = vars(trainmeshreg_parser().parse_args([]))
    for key, value in UPSTREAM_DEFAULTS.items():
        assert args[key] == value, key


@pytest.mark.parametrize("argv", [
    "--freeze_batchnorm --workers 8 --block_rot",
    "--freeze_batchnorm --workers 8 --fraction 0.00625 --eval_freq 50",
])
def test_readme_command_lines_parse(argv):
    trainmeshreg_parser().parse_args(argv.split())


def test_folder_name_matches_upstream_example():
    # Upstream's folder name for this command line, without its date level (K1).
    args = trainmeshreg_parser().parse_args("--freeze_batchnorm --fraction 0.00625".split())
    assert experiment_name(args, "trainmeshreg") == (
        "fhbhands_train_mini1.0/debug/_frac6.3e-03lr5e-05_mom0.9_bs8__lmbeta5.0e-07_lmpr5.0e-06"
        "_lmrj3d5.0e-01_lovr3d5.0e-01seed0_fbn"
    )
