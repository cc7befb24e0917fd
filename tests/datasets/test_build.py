"""datasets/build.py and datasets/locate.py: the reader chosen by name, its folder found under --data_root or as
--data_root itself, and the options passed through to the reader and HandObjectDataset."""

import numpy as np

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.build import build_eval_dataset, hand_object_dataset
from handobjectconsist.datasets.fphab import FPHAB
from handobjectconsist.datasets.ho3dv2 import HO3DV2
from handobjectconsist.datasets.locate import dataset_folder


def test_dataset_folder_nested_or_the_dataset_itself(tmp_path):
    (tmp_path / "ho3dv2").mkdir()
    assert dataset_folder(tmp_path, "ho3dv2") == tmp_path / "ho3dv2"
    evaluation_only = tmp_path / "eval_only"
    evaluation_only.mkdir()
    (evaluation_only / "evaluation.txt").write_text("SM1/0000\n")
    assert dataset_folder(evaluation_only, "ho3dv2") == evaluation_only
    fphab = tmp_path / "fphab"
    (fphab / "Hand_pose_annotation_v1").mkdir(parents=True)
    assert dataset_folder(fphab, "fhbhands") == fphab
    assert dataset_folder(tmp_path / "elsewhere", "fhbhands") == tmp_path / "elsewhere" / "fhbhands"


def test_eval_dataset_lists_every_frame_in_order_without_augmentation(fphab_tiny_root, mano_root):
    data = build_eval_dataset("fhbhands", fphab_tiny_root, "test", mano_root, input_width=96, return_orig_image=True)
    reader = data.pose_dataset
    assert isinstance(reader, FPHAB) and not data.augment and data.mode == "full"
    assert len(data) == len(reader.seq_names) and reader.image_size[0] == 96
    first, again = data[0], data[0]
    assert K.IMAGE_ORIG in first
    np.testing.assert_array_equal(first[K.IMAGE].numpy(), again[K.IMAGE].numpy())


def test_options_reach_reader_and_dataset(fphab_tiny_root, ho3d_tiny_root, mano_root):
    sparse = hand_object_dataset("fhbhands", fphab_tiny_root, "train", mano_root, mode="strong", fraction=0.25,
                                 sample_nb=None, augment=True, scale_jittering=0.1)
    full = hand_object_dataset("fhbhands", fphab_tiny_root, "train", mano_root)
    assert 0 < len(sparse) < len(full) and sparse.augment and sparse.scale_jittering == 0.1
    pairs = hand_object_dataset("fhbhands", fphab_tiny_root, "train", mano_root, fraction=0.25, sample_nb=2)
    assert len(pairs[0]) == 2
    paper = build_eval_dataset("ho3dv2", ho3d_tiny_root, "test", mano_root, split_mode="paper")
    assert isinstance(paper.pose_dataset, HO3DV2) and paper.pose_dataset.split_mode == "paper"
