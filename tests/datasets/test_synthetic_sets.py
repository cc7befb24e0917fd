"""Readers and HandObjectDataset on the synthetic FPHAB / HO3D-v2 fixtures (real on-disk layouts).

Independent checks: the rasterised GT hand + object silhouette (render module) lies on strong image edges of the
(augmented) network input; joints2d equal a hand-written projection; the skeleton equals the joints of the MANO fit
(reorder + extrinsic + fits agree); HO3D joints equal the raw meta values flipped once.
"""

import pickle

import numpy as np
import pytest
import torch
from scipy import ndimage

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.collate import collate_pairs
from handobjectconsist.datasets.fphab import FPHAB
from handobjectconsist.datasets.hand_gt import gt_mano_layer, mano_mesh
from handobjectconsist.datasets.handobjset import HandObjectDataset
from handobjectconsist.datasets.ho3dv2 import HO3D_TO_PROJECT, HO3DV2
from handobjectconsist.render import rasterize
from libyana.meshutils import concat_meshes


def _silhouette_edge_ratio(sample, hand_faces):
    """Mean image-gradient magnitude on the rendered silhouette boundary / the best of shifted boundaries."""
    image = (sample[K.IMAGE] + 0.5).mean(0).numpy()
    verts, faces = concat_meshes([sample[K.HAND_VERTS3D][None], sample[K.OBJ_VERTS3D][None]],
                                 [hand_faces, sample[K.OBJ_FACES]])
    mask = rasterize(verts, faces, sample[K.CAM_INTR][None], image_size=image.shape).mask[0].numpy()
    edges = np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1)) * sample[K.JITTER_MASK][0].numpy()

    def score(shift):
        shifted = np.roll(mask, shift, axis=(0, 1))
        return edges[shifted ^ ndimage.binary_erosion(shifted)].mean()

    return score((0, 0)) / max(score(s) for s in [(3, 0), (0, 3), (-3, 0), (0, -3)])


@pytest.fixture(scope="module")
def fphab(fphab_tiny_root, mano_root):
    return FPHAB(fphab_tiny_root, split="all", mano_root=mano_root, fraction=0.25)


def test_fphab_geometry_matches_images(fphab, mano_root):
    faces = gt_mano_layer(mano_root).faces
    dataset = HandObjectDataset(fphab, mode="full", sample_nb=2, augment=True, blur_radius=0)
    torch.manual_seed(0)
    query, ref = dataset[len(dataset) - 1]
    assert torch.equal(query[K.AFFINE], ref[K.AFFINE]) and query[K.AFFINE][:2, 2].abs().max() > 0
    for sample in (query, ref):
        assert _silhouette_edge_ratio(sample, faces) > 1.3


def test_fphab_annotations_against_independent_formulas(fphab, mano_root):
    fx, fy, cx, cy = 1395.749023 / 4, 1395.749268 / 4, (935.732544 + 0.5) / 4 - 0.5, (540.681030 + 0.5) / 4 - 0.5
    for idx in (0, len(fphab) - 1):
        ann = fphab.get_annotation(idx)
        x, y, z = ann[K.JOINTS3D].T.astype(np.float64)
        assert np.allclose(ann[K.JOINTS2D], np.stack([fx * x / z + cx, fy * y / z + cy], 1), atol=1e-3)
        # The synthetic skeleton is the MANO joints of the exact fit: reorder, extrinsic and fits must agree.
        verts, joints = mano_mesh(mano_root, ann[K.HAND_POSE], ann[K.HAND_SHAPE], fphab.fits["trans"][idx])
        assert np.abs(joints - ann[K.JOINTS3D]).max() < 1e-4
        # The reader's batched GT hand mesh is the per-frame MANO forward, to float precision.
        assert np.abs(verts - ann[K.HAND_VERTS3D]).max() < 1e-6
    assert fphab.sparse_map.annotated.sum() < len(fphab)  # fraction 0.25 leaves weak frames


def test_fphab_loader_pairs(fphab):
    dataset = HandObjectDataset(fphab, mode="weak", sample_nb=2, augment=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=collate_pairs)
    query, ref = next(iter(loader))
    assert query[K.IMAGE].shape == (3, 3, 270, 480) and not query[K.ANNOTATED].any() and ref[K.ANNOTATED].all()
    assert torch.equal(ref[K.DIST2QUERY], query[K.DIST2STRONG])
    assert query[K.OBJ_VERTS_MASK].shape == query[K.OBJ_VERTS3D].shape[:2]


def test_ho3d_flip_once_and_geometry(ho3d_tiny_root, mano_root):
    data = HO3DV2(ho3d_tiny_root, split="train", split_mode="paper", mano_root=mano_root)
    with open(ho3d_tiny_root / "train" / data.seq_names[0] / "meta" / f"{data.frame_ids[0]:04d}.pkl", "rb") as f:
        meta = pickle.load(f)
    ann = data.get_annotation(0)
    raw = np.asarray(meta["handJoints3D"])[list(HO3D_TO_PROJECT)]
    assert np.allclose(ann[K.JOINTS3D], raw * [1, -1, -1], atol=1e-6) and (ann[K.JOINTS3D][:, 2] > 0).all()
    # MANO mesh from the meta parameters is flipped the same way: its joints match the flipped joints.
    _, mano_joints = mano_mesh(mano_root, meta["handPose"], meta["handBeta"], meta["handTrans"])
    assert np.abs(mano_joints * [1, -1, -1] - ann[K.JOINTS3D]).max() < 2e-3
    sample = HandObjectDataset(data, mode="strong", augment=False)[0]
    assert _silhouette_edge_ratio(sample, gt_mano_layer(mano_root).faces) > 1.3
