"""Tests of the ground truth vs. models comparison figure (handobjectconsist/visualize/comparison.py)."""

import math

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from scipy import ndimage

from handobjectconsist.mano import ManoLayer
from handobjectconsist.render import rasterize
from handobjectconsist.visualize.comparison import (
    HAND_CONTOUR_COLOR,
    OBJ_CONTOUR_COLOR,
    Lighting,
    comparison_figure,
    render_row,
    rotate_about_centroid,
    silhouette_contour,
    square_box,
    union_box,
    vertex_error_colors,
)
from libyana.boxes import box_corners

HEIGHT, WIDTH = 60, 90
K_SMALL = torch.tensor([[110.0, 0.0, 44.0], [0.0, 110.0, 29.0], [0.0, 0.0, 1.0]])
UNSHADED = Lighting(ambient=1.0, diffuse=0.0)


def assert_pixels_are(picture, mask, rgb):
    """Every pixel of picture (H, W, 3) uint8 under mask equals the float colour rgb in [0, 1], to 1/255 (the
    colours are interpolated in float32 and e.g. 0.5 * 255 = 127.5 lies on a rounding boundary)."""
    assert mask.any()
    diff = np.abs(picture[mask].astype(np.int64) - np.asarray(rgb) * 255.0)
    assert diff.max() <= 1.0, f"pixels differ from {rgb} by up to {diff.max()} / 255"


@pytest.fixture(scope="module")
def scene(mano_root):
    """A posed synthetic hand 0.5 m in front of the camera, a box beside it, the closed hand faces, a grey image."""
    layer = ManoLayer(mano_root, ncomps=6, use_pca=True, flat_hand_mean=True, center_idx=9)
    pose = torch.tensor([[0.3, 0.5, 2.8, 0.5, -0.4, 0.3, 0.2, -0.1, 0.4]])
    with torch.no_grad():
        verts, _ = layer(pose)
    trans = torch.tensor([0.0, 0.0, 0.5])
    box = trimesh.creation.box(extents=(0.04, 0.1, 0.04)).subdivide().subdivide()
    obj_verts = torch.tensor(box.vertices, dtype=torch.float32) + trans + torch.tensor([0.03, 0.02, 0.03])
    image = np.full((HEIGHT, WIDTH, 3), 128, dtype=np.uint8)
    return {
        "hand": verts[0] + trans,
        "hand_faces": layer.closed_faces,
        "obj": obj_verts,
        "obj_faces": torch.tensor(box.faces, dtype=torch.long),
        "image": image,
    }


def test_vertex_error_colors_follow_jet_definition():
    gen = np.random.default_rng(0)
    gt = gen.normal(size=(5, 3))
    directions = gen.normal(size=(5, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    errors = np.array([0.0, 0.05, 0.1, 0.3, 0.0125])  # metres; max_error 0.1 -> 0, 0.5, 1, clipped 1, 0.125
    colors = vertex_error_colors(gt + errors[:, None] * directions, gt, max_error=0.1)
    # Jet (piecewise linear): 0 -> dark blue (0, 0, 0.5); 1 -> dark red (0.5, 0, 0); 0.5 -> about (0.48, 1, 0.48);
    # 0.125 -> blue (0, 0, 1). Tolerance covers the 256-entry lookup table.
    expected = np.array([[0, 0, 0.5], [0.48, 1, 0.48], [0.5, 0, 0], [0.5, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(colors, expected, atol=0.03)
    batched = vertex_error_colors(torch.tensor(gt + 0.1)[None], torch.tensor(gt)[None], max_error=0.1)
    assert batched.shape == (1, 5, 3)


def test_rotate_about_centroid_is_the_axis_angle_rotation():
    points = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, -1.0, 1.0]], dtype=torch.float64)
    rotated = rotate_about_centroid(points, (0.0, 1.0, 1.0))
    centroid = points.mean(0)
    torch.testing.assert_close(rotated.mean(0), centroid)
    torch.testing.assert_close(torch.cdist(rotated, rotated), torch.cdist(points, points))
    axis = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64) / math.sqrt(2)
    rel, rel_rot = points - centroid, rotated - centroid
    # Components along the axis are kept; the perpendicular parts turn by |theta| = sqrt(2) rad.
    torch.testing.assert_close(rel_rot @ axis, rel @ axis)
    perp, perp_rot = rel - (rel @ axis)[:, None] * axis, rel_rot - (rel_rot @ axis)[:, None] * axis
    cosines = (perp * perp_rot).sum(1) / (perp.norm(dim=1) * perp_rot.norm(dim=1))
    torch.testing.assert_close(cosines, torch.full((4,), math.cos(math.sqrt(2)), dtype=torch.float64))
    # Right-handed: (perp x perp_rot) points along +axis.
    assert (torch.cross(perp, perp_rot, dim=1) @ axis > 0).all()


def test_crop_boxes_are_enlarged_squares():
    mask = np.zeros((50, 60), dtype=bool)
    mask[10:20, 20:40] = True  # pixel edges x in [19.5, 39.5], y in [9.5, 19.5]: 20 px wide, 10 px tall
    assert square_box(mask, scale=1.2) == pytest.approx((29.5 - 12, 14.5 - 12, 29.5 + 12, 14.5 + 12))
    assert square_box(np.zeros((5, 5), dtype=bool)) is None
    # Union of (0, 0, 10, 10) and (20, 4, 26, 10): x spans 26 -> a 26-wide square centred on (13, 5).
    assert union_box([(0, 0, 10, 10), None, (20, 4, 26, 10)], 99) == pytest.approx((0, -8, 26, 18))
    assert union_box([None], 8) == pytest.approx((-0.5, -0.5, 7.5, 7.5))


def test_silhouette_contour_is_the_eroded_boundary(scene):
    fragments = rasterize(scene["hand"][None], scene["hand_faces"], K_SMALL[None], (HEIGHT, WIDTH))
    mask = fragments.mask[0].numpy()
    assert 50 < mask.sum() < mask.size
    full = np.ones((3, 3), dtype=bool)
    boundary = mask & ~ndimage.binary_erosion(mask, structure=full, border_value=0)
    np.testing.assert_array_equal(silhouette_contour(mask, width=1), boundary)
    np.testing.assert_array_equal(silhouette_contour(mask, width=3), ndimage.binary_dilation(boundary, full))
    # Silhouettes cut by the image border get a contour along the border: of a 6x3 block touching three image
    # sides, only the pixels with all 8 neighbours inside (rows 1-4 of column 1) are not on the contour.
    edge = np.zeros((6, 6), dtype=bool)
    edge[:, :3] = True
    expected = edge.copy()
    expected[1:5, 1] = False
    np.testing.assert_array_equal(silhouette_contour(edge, width=1), expected)


def test_render_row_perfect_prediction_is_jet_zero_and_contours_match(scene):
    hand_colors = torch.as_tensor(vertex_error_colors(scene["hand"], scene["hand"]))
    obj_colors = torch.as_tensor(vertex_error_colors(scene["obj"], scene["obj"]))
    panels = render_row(scene["image"], K_SMALL, scene["hand"], scene["hand_faces"], hand_colors,
                        scene["obj"], scene["obj_faces"], obj_colors, lighting=UNSHADED, contour_width=3)
    covered = panels.hand_mask | panels.obj_mask
    assert panels.hand_mask.sum() > 50 and panels.obj_mask.sum() > 20
    assert not (panels.hand_mask & panels.obj_mask).any()
    assert_pixels_are(panels.overlay, covered, (0, 0, 0.5))
    np.testing.assert_array_equal(panels.overlay[~covered], scene["image"][~covered])

    full = np.ones((3, 3), dtype=bool)

    def thick_boundary(mask):
        return ndimage.binary_dilation(mask & ~ndimage.binary_erosion(mask, full, border_value=0), full)

    hand_line, obj_line = thick_boundary(panels.hand_mask), thick_boundary(panels.obj_mask)
    drawn = (panels.image_with_contours != scene["image"]).any(-1)
    np.testing.assert_array_equal(drawn, hand_line | obj_line)
    np.testing.assert_array_equal(panels.image_with_contours[hand_line],
                                  np.tile(HAND_CONTOUR_COLOR, (hand_line.sum(), 1)))
    only_obj = obj_line & ~hand_line
    np.testing.assert_array_equal(panels.image_with_contours[only_obj],
                                  np.tile(OBJ_CONTOUR_COLOR, (only_obj.sum(), 1)))

    side = max(HEIGHT, WIDTH)
    assert panels.rotated.shape == (side, side, 3) and panels.rotated_mask.any()
    np.testing.assert_array_equal(panels.rotated[~panels.rotated_mask], 255)
    assert_pixels_are(panels.rotated, panels.rotated_mask, (0, 0, 0.5))


def test_render_row_flat_colours_and_error_colours(scene):
    flat_hand = torch.tensor([0.3, 0.3, 1.0]).expand(scene["hand"].shape[0], 3)
    panels = render_row(scene["image"], K_SMALL, scene["hand"], scene["hand_faces"], flat_hand, lighting=UNSHADED)
    assert not panels.obj_mask.any()
    assert_pixels_are(panels.overlay, panels.hand_mask, (0.3, 0.3, 1.0))
    # A prediction off by max_error everywhere renders dark red (jet(1)) with shading off.
    pred = scene["hand"] + torch.tensor([0.0, 0.0, 0.1])
    colors = torch.as_tensor(vertex_error_colors(pred, scene["hand"], max_error=0.1))
    panels = render_row(scene["image"], K_SMALL, pred, scene["hand_faces"], colors, lighting=UNSHADED)
    assert_pixels_are(panels.overlay, panels.hand_mask, (0.5, 0, 0))


def test_comparison_figure_writes_png(scene, tmp_path):
    noisy = torch.Generator().manual_seed(0)
    predictions = [
        ("exact", scene["hand"], scene["obj"]),
        ("noisy", scene["hand"] + 0.01 * torch.randn(scene["hand"].shape, generator=noisy),
         scene["obj"] + torch.tensor([0.02, 0.0, 0.0])),
    ]
    common = dict(image=scene["image"], K=K_SMALL.numpy(), gt_hand_verts=scene["hand"].numpy(),
                  gt_obj_verts=scene["obj"], hand_faces=scene["hand_faces"], obj_faces=scene["obj_faces"], dpi=40)
    two = comparison_figure(predictions=predictions[:1], out_path=tmp_path / "a" / "two_rows.png", **common)
    three = comparison_figure(predictions=predictions, out_path=tmp_path / "three_rows.png", **common)
    assert two == tmp_path / "a" / "two_rows.png" and two.is_file() and three.is_file()
    with Image.open(two) as img_two, Image.open(three) as img_three:
        assert img_two.format == "PNG" and img_two.width == img_three.width
        assert img_three.height > img_two.height
        # Each row is three square panels side by side (plus a title line): about 3 row heights wide.
        row_height = img_three.height - img_two.height
        assert 2.4 < img_three.width / row_height < 3.6
    assert not list(tmp_path.glob("**/.*.png"))  # no temporary file left behind

    with pytest.raises(ValueError, match="'bad'.*hand verts"):
        comparison_figure(predictions=[("bad", scene["hand"][:-1], scene["obj"])], out_path=tmp_path / "x.png",
                          **common)


def test_box_corners_are_projected_and_drawn(scene, tmp_path):
    lo, hi = scene["obj"].min(0).values, scene["obj"].max(0).values
    corners = torch.tensor(box_corners(lo.numpy(), hi.numpy()), dtype=torch.float32)
    panels = render_row(scene["image"], K_SMALL, scene["hand"], scene["hand_faces"],
                        torch.ones_like(scene["hand"]), obj_corners=corners)
    uv = corners.double().numpy() @ K_SMALL.double().numpy().T
    np.testing.assert_allclose(panels.box2d, uv[:, :2] / uv[:, 2:], atol=1e-3)
    assert render_row(scene["image"], K_SMALL, scene["hand"], scene["hand_faces"],
                      torch.ones_like(scene["hand"])).box2d is None

    common = dict(image=scene["image"], K=K_SMALL.numpy(), gt_hand_verts=scene["hand"].numpy(),
                  gt_obj_verts=scene["obj"], hand_faces=scene["hand_faces"], obj_faces=scene["obj_faces"], dpi=40)
    plain = comparison_figure(predictions=[("m", scene["hand"], scene["obj"])], out_path=tmp_path / "plain.png",
                              **common)
    boxed = comparison_figure(predictions=[("m", scene["hand"], scene["obj"], corners + 0.01)],
                              out_path=tmp_path / "boxed.png", gt_obj_corners=corners, **common)
    with Image.open(plain) as a, Image.open(boxed) as b:
        assert a.size == b.size
        assert np.abs(np.asarray(a, dtype=np.int64) - np.asarray(b, dtype=np.int64)).sum() > 0
    with pytest.raises(ValueError, match=r"\(8, 3\)"):
        comparison_figure(predictions=[("m", scene["hand"], scene["obj"])], out_path=tmp_path / "x.png",
                          gt_obj_corners=corners[:7], **common)
