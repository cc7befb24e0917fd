"""HandObjectDataset with a hand-made reader: modes, pairs sharing augmentation, reproducible seeding."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_pairs, collate_samples
from handobjectconsist.datasets.handobjset import HandObjectDataset, seed_worker
from tests.datasets.fake_reader import FakeReader


def test_modes_and_plain_sample_contents():
    reader = FakeReader()  # strong: 0,4,8,9,10,14,16,17,21,25
    assert len(HandObjectDataset(reader, mode="strong")) == 10
    assert len(HandObjectDataset(reader, mode="weak")) == 16
    full = HandObjectDataset(reader, mode="full")
    assert [int(full.indices[i]) for i in (0, 9, 10)] == [0, 25, 1]
    sample = full[10]  # weak frame 1 of seq0
    assert sample[K.IMAGE].shape == (3, 48, 64) and sample[K.IMAGE].dtype == torch.float32
    expected = torch.from_numpy(reader.get_image(1)).permute(2, 0, 1).float() / 255 - 0.5
    assert torch.allclose(sample[K.IMAGE], expected)
    assert sample[K.IMAGE].min() >= -0.5 and sample[K.IMAGE].max() <= 0.5
    assert sample[K.JITTER_MASK].min() == 1 and torch.equal(sample[K.AFFINE], torch.eye(3))
    assert sample[K.ANNOTATED] is False and sample[K.DIST2STRONG] == 1 and sample[K.DIST2QUERY] == 0


def test_augmented_intrinsics_project_joints_onto_shifted_pixels():
    dataset = HandObjectDataset(FakeReader(), mode="strong", augment=True, center_jittering=0.2, blur_radius=0,
                                brightness=0, contrast=0, saturation=0, hue=0)
    torch.manual_seed(0)
    sample = dataset[3]
    orig = FakeReader().get_image(int(dataset.indices[3]))
    shift = -sample[K.AFFINE][:2, 2].numpy()
    assert np.all(shift == np.round(shift)) and np.abs(shift).max() > 0
    du, dv = int(shift[0]), int(shift[1])
    # Every real output pixel equals the original pixel (u + du, v + dv) (no colour change requested).
    image = ((sample[K.IMAGE] + 0.5) * 255).round().byte().permute(1, 2, 0).numpy()
    mask = sample[K.JITTER_MASK][0].numpy() > 0
    vs, us = np.nonzero(mask)
    assert np.array_equal(image[vs, us], orig[vs + dv, us + du])
    assert np.all(image[~mask] == 0)
    # cam_intr projects the 3D joints to the original 2D joints moved by the same shift.
    joints = sample[K.JOINTS3D].double().numpy()
    proj = joints @ sample[K.CAM_INTR].double().numpy().T
    assert np.allclose(proj[:, :2] / proj[:, 2:], sample[K.JOINTS2D].numpy() - shift, atol=1e-3)


def test_pair_frames_share_spatial_and_colour_augmentation():
    # Identical images for all frames: with the blur off, a shared augmentation gives identical inputs.
    dataset = HandObjectDataset(FakeReader(same_image=True), mode="weak", sample_nb=2, augment=True,
                                blur_radius=0.0)
    torch.manual_seed(1)
    for item in range(4):
        query, ref = dataset[item]
        assert torch.equal(query[K.AFFINE], ref[K.AFFINE])
        assert torch.equal(query[K.IMAGE], ref[K.IMAGE])
        assert query[K.ANNOTATED] is False and ref[K.ANNOTATED] is True
        assert ref[K.DIST2QUERY] == query[K.DIST2STRONG]
    # Two different items get different augmentations (the check above is not vacuous).
    assert not torch.equal(dataset[0][0][K.IMAGE], dataset[1][0][K.IMAGE])


def test_pair_indices_follow_sparse_map():
    reader = FakeReader()
    dataset = HandObjectDataset(reader, mode="weak", sample_nb=3, spacing=1)
    query, nxt, prev = dataset[int(np.flatnonzero(dataset.indices == 22)[0])]
    assert (query[K.FRAME_IDX], nxt[K.FRAME_IDX], prev[K.FRAME_IDX]) == (5, 8, 4)  # seq2 starts at global 17
    assert (nxt[K.DIST2QUERY], prev[K.DIST2QUERY]) == (3, 1)


def _first_batches(num_workers, seed):
    dataset = HandObjectDataset(FakeReader(), mode="full", sample_nb=2, augment=True)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=num_workers, collate_fn=collate_pairs,
                        worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(seed))
    batches = []
    for i, batch in enumerate(loader):
        batches.append(batch)
        if i == 1:
            break
    return batches


def test_augmentation_reproducible_given_generator_and_independent_of_worker_count():
    a, b = _first_batches(1, seed=5), _first_batches(2, seed=5)
    c = _first_batches(1, seed=6)
    for x, y in zip(a, b):
        assert torch.equal(x[0][K.IMAGE], y[0][K.IMAGE]) and torch.equal(x[1][K.AFFINE], y[1][K.AFFINE])
    assert not torch.equal(a[0][0][K.IMAGE], c[0][0][K.IMAGE])


def test_collated_single_frames_have_object_masks():
    dataset = HandObjectDataset(FakeReader(), mode="strong")
    batch = collate_samples([dataset[0], dataset[3]])  # reader indices 0 and 9: object sizes 4 and 6
    assert batch[K.OBJ_VERTS3D].shape == (2, 6, 3)
    assert batch[K.OBJ_VERTS_MASK].sum(1).tolist() == [4, 6]


def test_rotation_is_refused():
    with pytest.raises(NotImplementedError):
        HandObjectDataset(FakeReader(), max_rot=0.5)


# --------------------------------------------------------------------------------------------- consist options
def _tiny_pairs(fphab_tiny_root, mano_root, input_width, consist_width, augment=True, scale_jittering=0.0):
    from handobjectconsist.datasets import FPHAB

    reader = FPHAB(fphab_tiny_root, split="train", fraction=0.5, input_width=input_width, mano_root=mano_root)
    return HandObjectDataset(reader, mode="weak", sample_nb=2, augment=augment, scale_jittering=scale_jittering,
                             consist_width=consist_width)


def test_consist_frames_at_the_input_width_are_the_network_input(fphab_tiny_root, mano_root):
    dataset = _tiny_pairs(fphab_tiny_root, mano_root, 128, 128)
    torch.manual_seed(3)
    item = dataset[0]
    for frame in item:
        assert torch.equal(frame[K.CONSIST_IMAGE], frame[K.IMAGE])
        assert torch.equal(frame[K.CONSIST_JITTER_MASK], frame[K.JITTER_MASK])
        assert torch.equal(frame[K.CONSIST_CAM_INTR], frame[K.CAM_INTR])
    plain = HandObjectDataset(dataset.pose_dataset, mode="weak", sample_nb=2, augment=True)
    torch.manual_seed(3)
    for frame, other in zip(item, plain[0]):  # the option adds keys and changes nothing else
        assert K.CONSIST_IMAGE not in other
        assert all(torch.equal(frame[key], value) if isinstance(value, torch.Tensor) else frame[key] == value
                   for key, value in other.items())


@pytest.mark.parametrize("scale_jittering", [0.0, 0.2])
def test_consist_frames_show_the_same_crop_at_twice_the_width(fphab_tiny_root, mano_root, scale_jittering):
    """Each frame at width 256 with the item's augmentation, area-averaged 2x, matches its 128-wide network input
    (both come from the same stored frame); a one-pixel misalignment would not. Its intrinsics put the GT joints at
    the matching place: (u + 0.5) * 2 - 0.5."""
    dataset = _tiny_pairs(fphab_tiny_root, mano_root, 128, 256, scale_jittering=scale_jittering)
    for item in range(2):
        torch.manual_seed(item)
        for frame in dataset[item]:
            big, small = frame[K.CONSIST_IMAGE], frame[K.IMAGE]
            assert big.shape == (3, 144, 256) and frame[K.CONSIST_JITTER_MASK].shape == (1, 144, 256)
            real = (frame[K.JITTER_MASK][0] > 0) & (torch.nn.functional.avg_pool2d(frame[K.CONSIST_JITTER_MASK],
                                                                                    2)[0] == 1)
            assert real.float().mean() > 0.5
            averaged = torch.nn.functional.avg_pool2d(big[None], 2)[0]
            error = (averaged - small).abs().mean(0)[real].mean()
            shifted = (averaged - torch.roll(small, 1, dims=2)).abs().mean(0)[real].mean()
            assert error < 0.04 and error < 0.5 * shifted, (float(error), float(shifted))
            joints = frame[K.JOINTS3D].double()
            uv_small = joints @ frame[K.CAM_INTR].double().T
            uv_big = joints @ frame[K.CONSIST_CAM_INTR].double().T
            uv_small, uv_big = uv_small[:, :2] / uv_small[:, 2:], uv_big[:, :2] / uv_big[:, 2:]
            torch.testing.assert_close(uv_big, (uv_small + 0.5) * 2 - 0.5, atol=1e-3, rtol=0)


def test_max_gap_keeps_the_items_within_k_frames():
    reader = FakeReader()
    sparse, frame_ids = reader.sparse_map, reader.frame_ids
    for gap in (0, 1, 2):
        dataset = HandObjectDataset(reader, mode="full", sample_nb=2, max_gap=gap)
        expected = [int(i) for i in np.concatenate([sparse.strong_idxs, sparse.weak_idxs])
                    if sparse.dist2strong[i] <= gap]
        assert [int(i) for i in dataset.indices] == expected
        for item in range(len(dataset)):
            assert dataset[item][1][K.DIST2QUERY] <= gap
        weak = int((sparse.dist2strong[sparse.weak_idxs] <= gap).sum())
        assert f"{weak} of {len(sparse.weak_idxs)} unannotated frames kept" in dataset.gap_summary()
    unbounded = HandObjectDataset(reader, mode="full", sample_nb=2)
    assert len(unbounded) == len(frame_ids) and "no bound" in unbounded.gap_summary()
    with pytest.raises(ValueError, match="give sample_nb"):
        HandObjectDataset(reader, mode="full", max_gap=2)
