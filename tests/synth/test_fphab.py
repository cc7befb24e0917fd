"""Synthetic FPHAB layout: exact file layout, annotation round trip against the generator's truth, joints on the
rendered hand, determinism."""

import pickle
import re
from pathlib import Path

import numpy as np
from PIL import Image

from handobjectconsist.datasets import fphab_camera as cam
from handobjectconsist.synth import fphab
from handobjectconsist.synth.pipeline import hand_mesh, hand_model

# Reader's reorder (docs/differences-from-upstream.md, K4), written here independently of the generator.
FILE_TO_PROJECT = [0, 1, 6, 7, 8, 2, 9, 10, 11, 3, 12, 13, 14, 4, 15, 16, 17, 5, 18, 19, 20]


def _extr():
    extr = np.eye(4)
    extr[:3, :3], extr[:3, 3] = cam.EXTRINSIC_R, cam.EXTRINSIC_T_MM
    return extr


def _rows(path):
    return [line.split() for line in Path(path).read_text().splitlines() if line.strip()]


def _split(root):
    lines = (root / "data_split_action_recognition.txt").read_text().splitlines()
    assert re.fullmatch(r"Training \d+", lines[0])
    test_at = next(i for i, line in enumerate(lines) if line.startswith("Test"))
    train = [line.split() for line in lines[1:test_at]]
    test = [line.split() for line in lines[test_at + 1 :] if line.strip()]
    assert int(lines[0].split()[1]) == len(train)
    return train, test


def test_layout_matches_upstream_listing(fphab_tiny_root):
    root = Path(fphab_tiny_root)
    for name in ("juice", "liquid_soap", "milk", "salt"):
        assert (root / "Object_models" / f"{name}_model" / f"{name}_model.ply").is_file()
    train, test = _split(root)
    assert train and test
    seqs = [entry[0] for entry in train + test]
    for rel in seqs:
        subject, action, seq = rel.split("/")
        info = _rows(root / "Subjects_info" / f"{subject}_info.txt")[3:]
        n_frames = int(next(r[2] for r in info if r[0] == action and r[1] == seq))
        frames = sorted((root / "Video_files_480" / rel / "color").iterdir())
        assert [f.name for f in frames] == [f"color_{t:04d}.jpeg" for t in range(n_frames)]
        assert Image.open(frames[0]).size == (480, 270)
        skel = _rows(root / "Hand_pose_annotation_v1" / rel / "skeleton.txt")
        pose = _rows(root / "Object_6D_pose_annotation_v1_1" / rel / "object_pose.txt")
        assert [len(r) for r in skel] == [64] * n_frames and [int(r[0]) for r in skel] == list(range(n_frames))
        assert [len(r) for r in pose] == [17] * n_frames and [int(r[0]) for r in pose] == list(range(n_frames))
        with open(root / "fhbhands_fits" / rel / "pkls.pkl", "rb") as handle:
            fits = pickle.load(handle)
        assert sorted(fits) == [f"{t:06d}.pkl" for t in range(n_frames)]
        assert {k: v.shape for k, v in fits["000000.pkl"].items()} == {"fullpose": (48,), "trans": (3,),
                                                                     "shape": (10,)}
        full = root / "Video_files" / rel / "color" / "color_0000.jpeg"
        assert Image.open(full).size == (1920, 1080)


def test_annotations_round_trip_to_generator_truth(fphab_tiny_root, mano_root):
    root = Path(fphab_tiny_root)
    config, seqs = fphab.plan("tiny")
    layer, _ = hand_model(mano_root)
    extr = _extr()
    for spec in seqs:
        truth = fphab.sequence_truth(spec, 0, mano_root)
        with open(root / "fhbhands_fits" / spec.rel / "pkls.pkl", "rb") as handle:
            fits = pickle.load(handle)
        pose = np.stack([fits[f"{t:06d}.pkl"]["fullpose"] for t in range(spec.n_frames)])
        np.testing.assert_array_equal(pose, truth.fullpose)
        np.testing.assert_array_equal(fits["000000.pkl"]["trans"], truth.trans[0])
        _, joints = hand_mesh(layer, truth.fullpose, truth.betas, truth.trans)
        skel = np.array(_rows(root / "Hand_pose_annotation_v1" / spec.rel / "skeleton.txt"), dtype=float)
        world = skel[:, 1:].reshape(-1, 21, 3)[:, FILE_TO_PROJECT]
        colour_m = (np.concatenate([world, np.ones((*world.shape[:2], 1))], -1) @ extr.T)[..., :3] / 1000.0
        np.testing.assert_allclose(colour_m, joints.double().numpy(), atol=1e-6)
        rows = np.array(_rows(root / "Object_6D_pose_annotation_v1_1" / spec.rel / "object_pose.txt"), dtype=float)
        for t, row in enumerate(rows):
            model_mm_to_world = row[1:].reshape(4, 4).T
            colour = extr @ model_mm_to_world
            np.testing.assert_allclose(colour[:3, :3], truth.obj_R[t], atol=1e-6)
            np.testing.assert_allclose(colour[:3, 3] / 1000.0, truth.obj_t[t], atol=1e-6)
            np.testing.assert_allclose(colour[3], [0, 0, 0, 1], atol=1e-9)


def test_projected_joints_fall_on_rendered_hand(fphab_tiny_root, mano_root):
    from handobjectconsist.synth.verify import verify_fphab

    report = verify_fphab(fphab_tiny_root, mano_root, max_frames=2)
    assert report["joints_on_hand_or_object"] >= 0.8
    assert report["joints_on_hand"] >= 0.5
    assert report["mad_covered"] < 8.0  # re-render from the files vs stored JPEG: compression noise only
    assert report["skeleton_vs_fit_mm"] < 1e-3


def test_same_seed_gives_identical_annotation_files(tmp_path, mano_root):
    small = {"subjects": 1, "actions": ("pour_milk",), "frames": 3, "full_res_frames": 0}
    a = fphab.write_fphab(tmp_path / "a", mano_root, seed=5, **small)
    b = fphab.write_fphab(tmp_path / "b", mano_root, seed=5, **small)
    c = fphab.write_fphab(tmp_path / "c", mano_root, seed=6, **small)
    rel = "Subject_1/pour_milk/1"
    files = [f"Hand_pose_annotation_v1/{rel}/skeleton.txt", f"Object_6D_pose_annotation_v1_1/{rel}/object_pose.txt",
             f"fhbhands_fits/{rel}/pkls.pkl", "data_split_action_recognition.txt",
             "Object_models/milk_model/milk_model.ply"]
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / files[0]).read_bytes() != (c / files[0]).read_bytes()
