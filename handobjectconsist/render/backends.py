"""Optional rasteriser backends with the same outputs as ``rasterize`` (for speed on GPU or cross-checking).

Only PyTorch3D is wrapped (neural_renderer is not: it culls back faces and uses a half-pixel convention). Nothing
here is imported by the rest of the package; importing PyTorch3D happens inside the function, so this module
imports fine without it and ``rasterize_pytorch3d`` raises ImportError with an explanation instead.
"""

from typing import Sequence

import torch

from handobjectconsist.render.rasterize import Fragments
from libyana.camutils import project_points


def _import_pytorch3d():
    try:
        from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
        from pytorch3d.structures import Meshes
    except ImportError as error:
        raise ImportError(
            "rasterize_pytorch3d needs PyTorch3D (not installed; see https://github.com/facebookresearch/pytorch3d "
            "INSTALL.md). The pure-PyTorch handobjectconsist.render.rasterize gives the same outputs."
        ) from error
    return rasterize_meshes, Meshes


@torch.no_grad()
def rasterize_pytorch3d(
    verts: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    image_size: Sequence[int],
    near: float = 0.1,
    far: float = 100.0,
) -> Fragments:
    """Same contract as ``handobjectconsist.render.rasterize`` (OpenCV pixels, no culling, whole-face near culling),
    computed with PyTorch3D's ``rasterize_meshes``.

    The projected vertices are mapped to PyTorch3D's non-square NDC (+X left, +Y up, shorter side spanning [-1, 1],
    pixel centres at half-integers), x = (W - 1 - 2u) / S and y = (H - 1 - 2v) / S with S = min(H, W), so that its
    pixel (i, j) samples (u=j, v=i); z stays the camera depth, as PyTorch3D's perspective correction expects.
    Faces that ``rasterize`` would drop (a vertex nearer than ``near``, all beyond ``far``) are made degenerate.

    Args/returns: see ``rasterize``.
    """
    rasterize_meshes, Meshes = _import_pytorch3d()
    batch_size = verts.shape[0]
    height, width = int(image_size[0]), int(image_size[1])
    faces = faces.long()
    if faces.dim() == 2:
        faces = faces.unsqueeze(0).expand(batch_size, -1, -1)
    num_faces = faces.shape[1]
    z = verts[..., 2]
    tri_z = torch.gather(z, 1, faces.reshape(batch_size, -1)).view(batch_size, num_faces, 3)
    dropped = (tri_z.amin(-1) < near) | (tri_z.amin(-1) > far)
    faces = torch.where(dropped.unsqueeze(-1), torch.zeros_like(faces), faces)

    uv = project_points(verts, K.to(verts.dtype))
    short = float(min(height, width))
    ndc = torch.stack([(width - 1 - 2 * uv[..., 0]) / short, (height - 1 - 2 * uv[..., 1]) / short, z], -1)
    meshes = Meshes(verts=list(ndc.float()), faces=list(faces))
    pix_to_face, zbuf, bary, _ = rasterize_meshes(
        meshes,
        image_size=(height, width),
        blur_radius=0.0,
        faces_per_pixel=1,
        perspective_correct=True,
        clip_barycentric_coords=False,
        cull_backfaces=False,
    )
    face_index = pix_to_face[..., 0]
    depth = zbuf[..., 0]
    offsets = (torch.arange(batch_size, device=verts.device) * num_faces).view(-1, 1, 1)
    mask = (face_index >= 0) & (depth <= far)
    face_index = torch.where(mask, face_index - offsets, torch.full_like(face_index, -1))
    return Fragments(
        face_index=face_index,
        bary=torch.where(mask.unsqueeze(-1), bary[..., 0, :], torch.zeros_like(bary[..., 0, :])).to(verts.dtype),
        depth=torch.where(mask, depth, torch.zeros_like(depth)).to(verts.dtype),
        mask=mask,
    )
