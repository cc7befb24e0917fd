"""Pure-PyTorch rendering: rasterisation, attribute interpolation, shading, procedural textures.

Public API:
    rasterize(verts (B,V,3), faces (F,3)|(B,F,3), K (B,3,3), image_size (H,W), near=0.1, far=100.0) -> Fragments
    Fragments: face_index (B,H,W) long (-1 background), bary (B,H,W,3), depth (B,H,W), mask (B,H,W) bool
    interpolate_attributes(fragments, faces, attributes (B,V,C)) -> (B,C,H,W), differentiable w.r.t. attributes
    vertex_normals(verts, faces) -> (B,V,3)
    shade_mesh(verts, faces, K, image_size, vertex_colors, background=None, ...) -> dict(rgb, mask, face_index, depth)
    to_uint8(images (B,3,H,W)) -> np.uint8 (B,H,W,3)
    textures: checker, stripes, smooth_noise, random_vertex_colors (per-vertex colours, UV-free)
Optional backends (handobjectconsist.render.backends) wrap PyTorch3D when it is installed.

Differences from upstream (neural_renderer; docs/differences-from-upstream.md, D1-D2), all deliberate:
- images are rendered at their own (H, W), not as a max(W, H) square cropped afterwards (same result for the
  cropped region, less work);
- pixel (i, j) samples (u=j, v=i), not (j+0.5, i+0.5): the project's single pixel convention, shared with
  projection and warping (align_corners=True);
- no back-face culling, so no fill_back face duplication: face indices are those of the input faces only, and
  face_index is in image orientation (no vertical flip);
- visibility is computed without gradient and attributes are interpolated with detached perspective-correct
  barycentrics, which reproduces upstream's gradients (detach_renders=True, detach_textures=False).
"""

from handobjectconsist.render import textures
from handobjectconsist.render.interpolate import interpolate_attributes
from handobjectconsist.render.normals import vertex_normals
from handobjectconsist.render.rasterize import Fragments, rasterize
from handobjectconsist.render.shading import shade_mesh, to_uint8

__all__ = [
    "Fragments",
    "interpolate_attributes",
    "rasterize",
    "shade_mesh",
    "textures",
    "to_uint8",
    "vertex_normals",
]
