"""`python -m handobjectconsist.predict` on frames of the synthetic FPHAB set (tiny preset), with a 1-epoch model.

The geometric checks do not need an accurate model: on the dataset's own frames the command must reproduce the
predictions the training/evaluation code computes on the same frames (same resize, same intrinsics, same
canonical object), its 2D joints must be the projection of its 3D joints, and a 2x larger copy of the frames with
2x intrinsics must give the same 3D meshes.
"""

import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.datasets.fphab_camera import intrinsics_for_width
from handobjectconsist.datasets.meshes import load_mesh
from handobjectconsist.predict import cli
from handobjectconsist.predict.videoio import AnimationWriter, read_animation
from handobjectconsist.training.checkpoints import load_trained_model
from handobjectconsist.training.trainmeshreg import run as run_supervised
from handobjectconsist.visualize.figures import build_eval_dataset
from libyana.camutils import scale_intrinsics

INPUT_WIDTH = 64
SEQ = "Subject_1/pour_milk/1"  # a test sequence of the tiny preset; its object is the milk carton
NUM_FRAMES = 6


def _flags(K_):
    return ["--intrinsics"] + [repr(float(v)) for v in (K_[0, 0], K_[1, 1], K_[0, 2], K_[1, 2])]


@pytest.fixture(scope="module")
def checkpoint(fphab_tiny_root, mano_root, tmp_path_factory):
    exp = tmp_path_factory.mktemp("predict_model")
    run_supervised(f"--train_datasets fhbhands --val_dataset fhbhands --data_root {fphab_tiny_root} --batch_size 4 "
                   f"--input_width {INPUT_WIDTH} --device cpu --mano_root {mano_root} --exp_dir {exp} --epochs 1 "
                   f"--eval_freq -1 --epoch_display_freq 0 --encoder_arch tiny".split())
    return exp / "checkpoint.pth"


@pytest.fixture(scope="module")
def frames_dir(fphab_tiny_root):
    return fphab_tiny_root / "Video_files_480" / SEQ / "color"


@pytest.fixture(scope="module")
def native_run(checkpoint, frames_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("native") / "out"
    summary = cli.run(["--resume", str(checkpoint), "--images", str(frames_dir), *_flags(intrinsics_for_width(480)),
                       "--object", "milk", "--out", str(out), "--device", "cpu", "--batch_size", "4",
                       "--no_progress"])
    return out, summary


def _joints(out, name):
    record = json.loads((out / "joints" / f"{name}.json").read_text())
    return np.asarray(record["joints3d_m"]), np.asarray(record["joints2d_px"]), record


def _mesh(path):
    mesh = trimesh.load(str(path), process=False, maintain_order=True, force="mesh")
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_writes_every_output_with_the_right_shapes(native_run, frames_dir, fphab_tiny_root):
    out, summary = native_run
    names = [f"color_{i:04d}" for i in range(NUM_FRAMES)]
    assert summary["frames"] == names and summary["network_size"] == [INPUT_WIDTH, 36]
    obj_verts, obj_faces = load_mesh(fphab_tiny_root / "Object_models" / "milk_model" / "milk_model.ply")
    for name in names:
        with Image.open(out / "overlays" / f"{name}.png") as overlay:
            assert overlay.size == (480, 270)
        hand_v, hand_f = _mesh(out / "meshes" / f"{name}_hand.obj")
        assert hand_v.shape == (778, 3) and hand_f.shape[1] == 3
        v, f = _mesh(out / "meshes" / f"{name}_object.obj")
        assert v.shape == obj_verts.shape and np.array_equal(f, obj_faces)  # file order kept
        joints3d, joints2d, record = _joints(out, name)
        assert joints3d.shape == (21, 3) and joints2d.shape == (21, 2) and len(record["joint_names"]) == 21
    animation = read_animation(out / "overlays.mp4")
    assert len(animation) == NUM_FRAMES and animation[0].shape == (270, 480, 3)
    assert not list(out.parent.glob(".*partial*"))


def test_predictions_equal_the_models_on_the_dataset_frames(native_run, checkpoint, fphab_tiny_root, mano_root):
    """Same resize, intrinsics and canonical object as the dataset reader at --input_width: same predictions."""
    out, _ = native_run
    dataset = build_eval_dataset("fhbhands", fphab_tiny_root, "test", mano_root, input_width=INPUT_WIDTH)
    samples = sorted((s for s in (dataset[i] for i in range(len(dataset))) if s[SK.SEQ_NAME] == SEQ),
                     key=lambda s: s[SK.FRAME_IDX])
    assert len(samples) == NUM_FRAMES
    model = load_trained_model(checkpoint).model
    with torch.no_grad():
        _, results, _ = model(collate_samples(samples))
    for b, sample in enumerate(samples):
        name = f"color_{sample[SK.FRAME_IDX]:04d}"
        joints3d, _, _ = _joints(out, name)
        np.testing.assert_allclose(joints3d, results["recov_joints3d"][b].numpy(), atol=2e-5)
        np.testing.assert_allclose(_mesh(out / "meshes" / f"{name}_hand.obj")[0],
                                   results["recov_handverts3d"][b].numpy(), atol=2e-5)
        np.testing.assert_allclose(_mesh(out / "meshes" / f"{name}_object.obj")[0],
                                   results["recov_objverts3d"][b].numpy(), atol=2e-5)


def test_2d_joints_are_the_projection_and_the_overlay_draws_them(native_run, frames_dir):
    out, _ = native_run
    K_ = intrinsics_for_width(480)
    for i in range(NUM_FRAMES):
        name = f"color_{i:04d}"
        joints3d, joints2d, _ = _joints(out, name)
        hom = joints3d @ K_.T
        np.testing.assert_allclose(joints2d, hom[:, :2] / hom[:, 2:], atol=5e-3)
        with Image.open(frames_dir / f"{name}.jpeg") as frame, Image.open(out / "overlays" / f"{name}.png") as ov:
            changed = np.abs(np.asarray(ov, dtype=int) - np.asarray(frame.convert("RGB"), dtype=int)).max(-1) > 40
        pixels = np.round(joints2d).astype(int)
        inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < 480) & (pixels[:, 1] >= 0) & (pixels[:, 1] < 270)
        assert inside.sum() >= 15
        on_mesh = changed[pixels[inside, 1], pixels[inside, 0]]
        assert on_mesh.mean() >= 0.8, (name, on_mesh.mean())


def test_larger_frames_with_scaled_intrinsics_give_the_same_meshes(native_run, checkpoint, frames_dir, tmp_path):
    out, _ = native_run
    big = tmp_path / "big"
    big.mkdir()
    for i in range(NUM_FRAMES):
        with Image.open(frames_dir / f"color_{i:04d}.jpeg") as frame:
            frame.convert("RGB").resize((960, 540), Image.BILINEAR).save(big / f"color_{i:04d}.png")
    K_big = scale_intrinsics(intrinsics_for_width(480), 2.0, 2.0)
    out_big = tmp_path / "out_big"
    summary = cli.run(["--resume", str(checkpoint), "--images", str(big), *_flags(K_big), "--object", "milk",
                       "--out", str(out_big), "--device", "cpu", "--video_format", "gif", "--mesh_format", "ply",
                       "--no_progress"])
    assert summary["network_size"] == [INPUT_WIDTH, 36]
    np.testing.assert_allclose(summary["network_intrinsics"], np.asarray(native_run[1]["network_intrinsics"]),
                               rtol=1e-9, atol=1e-9)
    for i in range(NUM_FRAMES):
        name = f"color_{i:04d}"
        joints3d, joints2d, _ = _joints(out, name)
        big3d, big2d, _ = _joints(out_big, name)
        np.testing.assert_allclose(big3d, joints3d, atol=1e-3)  # metres: the same camera, other pixels
        np.testing.assert_allclose(big2d, 2 * joints2d + 0.5, atol=0.5)  # pixel-centre convention
        np.testing.assert_allclose(_mesh(out_big / "meshes" / f"{name}_hand.ply")[0],
                                   _mesh(out / "meshes" / f"{name}_hand.obj")[0], atol=1e-3)
        np.testing.assert_allclose(_mesh(out_big / "meshes" / f"{name}_object.ply")[0],
                                   _mesh(out / "meshes" / f"{name}_object.obj")[0], atol=1e-3)
        with Image.open(out_big / "overlays" / f"{name}.png") as overlay:
            assert overlay.size == (960, 540)
    assert len(read_animation(out_big / "overlays.gif")) == NUM_FRAMES


def test_video_input_and_mesh_file_object(checkpoint, frames_dir, fphab_tiny_root, native_run, tmp_path):
    video = tmp_path / "clip.mp4"
    writer = AnimationWriter(video, "mp4", 10, (480, 270))
    for i in range(NUM_FRAMES):
        with Image.open(frames_dir / f"color_{i:04d}.jpeg") as frame:
            writer.add(np.asarray(frame.convert("RGB")))
    writer.close()
    ply = fphab_tiny_root / "Object_models" / "milk_model" / "milk_model.ply"
    out = tmp_path / "out"
    summary = cli.run(["--resume", str(checkpoint), "--images", str(video), *_flags(intrinsics_for_width(480)),
                       "--object", str(ply), "--out", str(out), "--device", "cpu", "--no_progress"])
    assert summary["input_kind"] == "video"
    assert summary["frames"] == [f"frame_{i:06d}" for i in range(NUM_FRAMES)]
    assert len(read_animation(out / "overlays.mp4")) == NUM_FRAMES
    # The mesh file and the training-object name give the same canonical object (MPEG-4 frames differ slightly).
    v_file, _ = _mesh(out / "meshes" / "frame_000000_object.obj")
    v_name, _ = _mesh(native_run[0] / "meshes" / "color_0000_object.obj")
    centred = lambda v: v - v.mean(0)  # noqa: E731
    np.testing.assert_allclose(np.linalg.norm(centred(v_file), axis=1), np.linalg.norm(centred(v_name), axis=1),
                               atol=1e-4)


@pytest.mark.parametrize("case", ["checkpoint", "no_frames", "corrupt_frame", "intrinsics", "mesh", "object_name",
                                  "out_not_empty"])
def test_user_errors_are_one_line_and_leave_no_output(case, checkpoint, frames_dir, tmp_path, capsys):
    out = tmp_path / "new" / "out"
    args = {"--resume": str(checkpoint), "--images": str(frames_dir), "--object": "milk", "--out": str(out)}
    intrinsics = [repr(float(v)) for v in (349.0, 349.0, 233.5, 134.8)]
    expected = []
    if case == "checkpoint":
        args["--resume"] = str(tmp_path / "missing.pth")
        expected = ["--resume", "missing.pth"]
    elif case == "no_frames":
        (tmp_path / "empty").mkdir()
        args["--images"] = str(tmp_path / "empty")
        expected = ["--images", "no frames found"]
    elif case == "corrupt_frame":
        (tmp_path / "frames").mkdir()
        (tmp_path / "frames" / "f_0001.png").write_bytes(b"not a png")
        args["--images"] = str(tmp_path / "frames")
        expected = ["f_0001.png", "not a readable image"]
    elif case == "intrinsics":
        intrinsics = intrinsics[:3]
        expected = ["--intrinsics", "expected 4 numbers"]
    elif case == "mesh":
        (tmp_path / "broken.obj").write_text("this is not a mesh\n")
        args["--object"] = str(tmp_path / "broken.obj")
        expected = ["--object", "broken.obj"]
    elif case == "object_name":
        args["--object"] = "teapot"
        expected = ["--object teapot", "milk"]
    elif case == "out_not_empty":
        out.mkdir(parents=True)
        (out / "keep.txt").write_text("user file")
        expected = ["--out", "not empty", "--overwrite"]
    argv = [item for pair in args.items() for item in pair] + ["--intrinsics", *intrinsics, "--device", "cpu",
                                                               "--no_progress"]
    if case == "intrinsics":  # a flag error: found while parsing, exit status 2 (handobjectconsist.entry.Parser)
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
    else:
        assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for text in expected:
        assert text in err, (text, err)
    if case == "out_not_empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not (tmp_path / "new").exists()


def test_a_failure_midway_leaves_no_folder(checkpoint, frames_dir, tmp_path, monkeypatch):
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(cli, "write_frame_outputs", failing_write)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="simulated"):
        cli.run(["--resume", str(checkpoint), "--images", str(frames_dir), *_flags(intrinsics_for_width(480)),
                 "--out", str(out), "--device", "cpu", "--no_progress"])
    assert list(tmp_path.iterdir()) == []
