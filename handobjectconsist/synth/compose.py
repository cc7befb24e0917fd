"""Render a hand-object frame: rasterise both meshes, texture every pixel from its rest-frame position, shade with
one directional light, composite over a procedural background.

Per-pixel (not per-vertex) texturing keeps labels and skin detail sharp at any mesh resolution; the texture is a
function of the rest-frame point, so it sticks to the surface as it moves.
"""

import numpy as np
import torch

from handobjectconsist.render import interpolate_attributes, rasterize, vertex_normals
from handobjectconsist.synth.textures import background_image, skin_texture


def skin_params(mano_layer, betas: np.ndarray, seed: int) -> dict:
    """Rest-frame hand data for skin_texture: crease lines at the finger joints, nail centres, back-of-hand side."""
    from handobjectconsist.synth.grasp import palm_frame

    with torch.no_grad():
        verts, joints = mano_layer(torch.zeros(1, 48), torch.as_tensor(betas, dtype=torch.float32)[None])
    verts, joints = verts[0].double().numpy(), joints[0].double().numpy()
    axes, _ = palm_frame(joints, verts)
    creases = []
    for finger in range(5):
        chain = [1 + 4 * finger + k for k in range(4)]
        for a, b in zip(chain[:-1], chain[1:]):
            axis = joints[b] - joints[a]
            creases.append([joints[a], axis / np.linalg.norm(axis)])
    tips = verts[mano_layer.tip_vertex_ids]
    dips = joints[[3, 7, 11, 15, 19]]
    nails = dips + 0.6 * (tips - dips) - axes[:, 0] * 0.004  # on the back (-n side) near the tip
    return {
        "seed": int(seed),
        "creases": torch.as_tensor(np.array(creases), dtype=torch.float32),
        "nails": torch.as_tensor(nails, dtype=torch.float32),
        "nail_normal": torch.as_tensor(-axes[:, 0], dtype=torch.float32),
    }


class FrameRenderer:
    """Renders frames of one sequence (fixed camera, background, light, subject and object).

    Args:
        hand_faces: (F_h, 3) long; hand_rest: (V_h, 3) rest-frame hand vertices (metres) for the skin texture;
        skin: skin_params(...) dict; obj: objects.ObjectModel; K: (3, 3) intrinsics; image_size: (H, W);
        appearance: scenes.make_appearance dict; supersample: render at s x the size and box-filter (anti-aliasing).
    """

    def __init__(self, hand_faces, hand_rest, skin, obj, K, image_size, appearance, supersample: int = 1):
        self.hand_faces = torch.as_tensor(hand_faces, dtype=torch.long)
        self.obj = obj
        self.obj_faces = torch.as_tensor(obj.faces, dtype=torch.long)
        self.num_hand_verts = int(hand_rest.shape[0])
        self.faces = torch.cat([self.hand_faces, self.obj_faces + self.num_hand_verts])
        self.num_hand_faces = int(self.hand_faces.shape[0])
        self.rest = torch.cat([torch.as_tensor(hand_rest, dtype=torch.float32),
                               torch.as_tensor(obj.verts, dtype=torch.float32)])
        self.skin = skin
        self.skin_tone = torch.as_tensor(appearance["skin_tone"], dtype=torch.float32)
        self.appearance = appearance
        self.supersample = int(supersample)
        height, width = image_size
        self.image_size = (height, width)
        s = self.supersample
        K = np.asarray(K, dtype=np.float64).copy()
        # Pixel-centre convention: a fine pixel centre u' maps to the coarse pixel coordinate (u' + 0.5)/s - 0.5.
        K_fine = K.copy()
        K_fine[:2, :2] *= s
        K_fine[:2, 2] = (K[:2, 2] + 0.5) * s - 0.5
        self.K_fine = torch.as_tensor(K_fine, dtype=torch.float32)
        self.background = background_image(height * s, width * s, appearance["background"])
        self.light_dir = torch.nn.functional.normalize(
            torch.as_tensor(appearance["light_dir"], dtype=torch.float32), dim=0)
        self.light_colour = torch.as_tensor(appearance["light_colour"], dtype=torch.float32)

    def render(self, hand_verts: torch.Tensor, obj_verts: torch.Tensor) -> dict:
        """Render B frames.

        Args:
            hand_verts: (B, V_h, 3), obj_verts: (B, V_o, 3) camera-frame metres.
        Returns:
            {"rgb": (B, H, W, 3) uint8, "hand_mask": (B, H, W) bool, "obj_mask": (B, H, W) bool} where a mask
            pixel is set when that mesh covers the pixel centre (at the output resolution, majority of samples).
        """
        verts = torch.cat([hand_verts, obj_verts], dim=1).float()
        batch = verts.shape[0]
        s = self.supersample
        height, width = self.image_size[0] * s, self.image_size[1] * s
        K = self.K_fine[None].expand(batch, 3, 3)
        frags = rasterize(verts, self.faces, K, (height, width))
        normals = vertex_normals(verts, self.faces)
        attrs = torch.cat([self.rest[None].expand(batch, -1, -1), normals], dim=-1)
        pix = interpolate_attributes(frags, self.faces, attrs)  # (B, 6, H, W)
        covered = frags.mask
        is_obj = covered & (frags.face_index >= self.num_hand_faces)
        is_hand = covered & ~is_obj

        rest = pix[:, :3].permute(0, 2, 3, 1)  # (B, H, W, 3)
        albedo = torch.zeros(batch, height, width, 3)
        if is_hand.any():
            albedo[is_hand] = skin_texture(rest[is_hand], self.skin_tone, self.skin)
        if is_obj.any():
            albedo[is_obj] = self.obj.texture(rest[is_obj])

        # Shading: two-sided Lambert + a little specular, per pixel.
        n = torch.nn.functional.normalize(pix[:, 3:].permute(0, 2, 3, 1), dim=-1, eps=1e-12)
        Kinv = torch.linalg.inv(self.K_fine)
        v, u = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                              indexing="ij")
        rays = torch.stack([u, v, torch.ones_like(u)], dim=-1) @ Kinv.T
        view = -torch.nn.functional.normalize(rays, dim=-1)[None]
        flip = (n * view).sum(-1, keepdim=True) < 0
        n = torch.where(flip, -n, n)
        to_light = -self.light_dir
        lambert = (n @ to_light).clamp(min=0.0).unsqueeze(-1)
        half = torch.nn.functional.normalize(view + to_light, dim=-1)
        spec_power = torch.where(is_obj, 40.0, 12.0).unsqueeze(-1)
        spec_gain = torch.where(is_obj, 0.25, 0.06).unsqueeze(-1)
        spec = spec_gain * (n * half).sum(-1, keepdim=True).clamp(min=0.0) ** spec_power
        app = self.appearance
        shaded = (albedo * (app["ambient"] + app["diffuse"] * lambert) + spec) * self.light_colour
        image = torch.where(covered[..., None], shaded, self.background.permute(1, 2, 0)[None])
        image = image.clamp(0.0, 1.0)
        hand_cov, obj_cov = is_hand.float(), is_obj.float()
        if s > 1:
            pool = lambda x: torch.nn.functional.avg_pool2d(x, s)  # noqa: E731
            image = pool(image.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            hand_cov = pool(hand_cov[:, None])[:, 0]
            obj_cov = pool(obj_cov[:, None])[:, 0]
        rgb = (image * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
        return {"rgb": rgb, "hand_mask": (hand_cov > 0.5).numpy(), "obj_mask": (obj_cov > 0.5).numpy()}
