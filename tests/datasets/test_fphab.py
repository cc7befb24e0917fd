"""FPHAB reader on a hand-written layout: geometry against independent formulas, splits, error messages."""

import numpy as np
import pytest
import torch
import trimesh

from handobjectconsist.datasets import fphab_camera as cam
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.errors import AnnotationFormatError, MissingDataError
from handobjectconsist.datasets.fphab import FPHAB
from tests.datasets.hand_made_fphab import write_hand_made_fphab

# File order [W, TMCP, IMCP, MMCP, RMCP, PMCP, TPIP, TDIP, TTIP, IPIP, IDIP, ITIP, MPIP, ...]; written out by name.
FILE_ORDER = ["W", "TMCP", "IMCP", "MMCP", "RMCP", "PMCP", "TPIP", "TDIP", "TTIP", "IPIP", "IDIP", "ITIP", "MPIP",
              "MDIP", "MTIP", "RPIP", "RDIP", "RTIP", "PPIP", "PDIP", "PTIP"]
PROJECT_ORDER = ["W"] + [f"{f}{j}" for f in "TIMRP" for j in ("MCP", "PIP", "DIP", "TIP")]


@pytest.fixture
def layout(tmp_path):
    return tmp_path, write_hand_made_fphab(tmp_path)


def test_joints_objects_and_cameras(layout):
    root, truth = layout
    data = FPHAB(root, split="train")
    assert len(data) == 3 and data.image_size == (480, 270)
    skel, poses = truth["Subject_1/open_milk/1"]
    ann = data.get_annotation(1)
    order = [FILE_ORDER.index(name) for name in PROJECT_ORDER]
    R, t = cam.EXTRINSIC_R, cam.EXTRINSIC_T_MM
    expected = np.stack([R @ skel[1][i] + t for i in order]) / 1000
    assert np.allclose(ann[K.JOINTS3D], expected, atol=1e-6)
    # Intrinsics at 480: focal /4, centre by the pixel-centre rule (c + 0.5) / 4 - 0.5.
    Kx = ann[K.CAM_INTR_ORIG]
    assert np.isclose(Kx[0, 0], 1395.749023 / 4) and np.isclose(Kx[0, 2], (935.732544 + 0.5) / 4 - 0.5)
    u = Kx[0, 0] * expected[:, 0] / expected[:, 2] + Kx[0, 2]
    assert np.allclose(ann[K.JOINTS2D][:, 0], u, atol=1e-3)
    model = trimesh.load(root / "Object_models/milk_model/milk_model.ply", process=False)
    world = (poses[1][:3, :3] @ (model.vertices.T * 1000)).T + poses[1][:3, 3]
    assert np.allclose(ann[K.OBJ_VERTS3D], (world @ R.T + t) / 1000, atol=1e-6)
    centre = (model.vertices.min(0) + model.vertices.max(0)) / 2
    assert np.allclose(ann[K.OBJ_CAN_VERTS], model.vertices - centre, atol=1e-6)
    assert ann[K.OBJ_NAME] == "milk" and ann[K.SEQ_NAME] == "Subject_1/open_milk/1" and ann[K.FRAME_IDX] == 1


def test_splits_input_width_and_image(layout):
    root, _ = layout
    assert len(FPHAB(root, split="test")) == 2 and len(FPHAB(root, split="all")) == 5
    assert set(FPHAB(root, split="test", split_type="subjects").seq_names) == {"Subject_2/put_salt/1"}
    assert set(FPHAB(root, split="test", split_type="objects", test_objects=("salt",)).seq_names) == {
        "Subject_2/put_salt/1"}
    small = FPHAB(root, split="train", input_width=240)
    assert small.image_size == (240, 135) and small.get_image(0).shape == (135, 240, 3)
    assert np.allclose(small.get_annotation(0)[K.CAM_INTR_ORIG], cam.intrinsics_for_width(240))
    assert FPHAB(root, split="all", fraction=0.5).sparse_map.strong_idxs.tolist() == [0, 2, 3, 4]
    mini = FPHAB(root, split="all", mini_factor=2)  # int(5 / 2) frames kept, in storage order
    assert len(mini) == 2 and mini.sparse_map.annotated.all()
    with pytest.raises(ValueError, match="mini_factor"):
        FPHAB(root, split="all", mini_factor=2, fraction=0.5)


def test_frames_at_several_widths_match_pil_decoding_and_resizing(layout):
    from PIL import Image

    root, _ = layout
    data = FPHAB(root, split="train", input_width=240)
    path = root / "Video_files_480" / data.seq_names[1] / "color" / f"color_{int(data.frame_ids[1]):04d}.jpeg"
    with Image.open(path) as img:
        decoded = img.convert("RGB")
        expected = [np.asarray(decoded.resize((240, 135), Image.BILINEAR)), np.asarray(decoded),
                    np.asarray(decoded.resize((120, 68), Image.BILINEAR))]
    frames = data.get_images(1, (None, 480, 120))
    assert all(np.array_equal(frame, want) for frame, want in zip(frames, expected, strict=True))
    assert np.array_equal(data.get_image(1, width=120), expected[2]) and frames[0].flags.writeable


def test_frames_at_several_widths_are_decoded_once(layout, monkeypatch):
    from handobjectconsist.datasets import frames as frames_module

    root, _ = layout
    data = FPHAB(root, split="train")
    opened = []
    real_open = frames_module.Image.open
    monkeypatch.setattr(frames_module.Image, "open", lambda path: opened.append(path) or real_open(path))
    data.get_images(0, (None, 240, 120))
    assert len(opened) == 1


def test_missing_and_malformed_inputs_name_the_path(layout):
    root, _ = layout
    with pytest.raises(MissingDataError, match="nowhere"):
        FPHAB(root / "nowhere")
    with pytest.raises(MissingDataError, match="fit_fphab"):
        FPHAB(root, mano_root=root)
    image = root / "Video_files_480/Subject_1/open_milk/1/color/color_0002.jpeg"
    image.unlink()
    with pytest.raises(MissingDataError, match="color_0002.jpeg"):
        FPHAB(root)
    data = FPHAB(root, skip_missing=True)
    assert len(data) == 2 and data.missing_count == 1
    skel = root / "Hand_pose_annotation_v1/Subject_1/open_milk/1/skeleton.txt"
    lines = skel.read_text().splitlines()
    lines[1] = lines[1] + " 7.0"
    skel.write_text("\n".join(lines) + "\n")
    with pytest.raises(AnnotationFormatError, match=r"skeleton.txt, line 2"):
        FPHAB(root, skip_missing=True)
    (root / "Object_models/milk_model/milk_model.ply").unlink()
    with pytest.raises(MissingDataError, match="milk_model.ply"):
        FPHAB(root, skip_missing=True)


def test_2d_ground_truth_maps_to_the_same_reference_pixels_at_any_input_width(layout):
    """Joints projected at width 128 and scaled by report_scale land where the 480-wide projection puts them."""
    from handobjectconsist.evaluation.evaluator import to_report_pixels

    root, _ = layout
    native, small = FPHAB(root, split="train"), FPHAB(root, split="train", input_width=128)
    assert np.allclose(native.report_scale(), [1.0, 1.0]) and np.allclose(small.report_scale(), [3.75, 3.75])
    joints_small = small.get_annotation(0)[K.JOINTS2D][None].astype(np.float64)
    mapped = to_report_pixels(torch.from_numpy(joints_small), torch.from_numpy(small.report_scale()[None]).double())
    np.testing.assert_allclose(mapped[0].numpy(), native.get_annotation(0)[K.JOINTS2D], atol=1e-3)
