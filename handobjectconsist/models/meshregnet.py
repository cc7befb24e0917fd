"""MeshRegNet: single image -> MANO hand mesh + rigidly posed object mesh in the camera frame, with its losses.

Upstream behaviour (docs/differences-from-upstream.md, K2) with these deliberate differences:
- the hand and object heads always run (upstream skipped a branch when its losses were off), so predictions are
  available for evaluation and figures; losses are still computed only where the ground truth is in the batch;
- object losses and metrics average over real vertices only (OBJ_VERTS_MASK), not over collate padding;
- `objverts3d` (centred, rotated object vertices) compares predicted and GT vertices each centred on its own
  vertex mean, because the datasets provide no pre-rotated canonical vertices;
- 2D losses divide pixel differences by 512 (upstream `(x - 256) / 512`; the offset cancels in the difference).
"""

from typing import Dict, Optional, Tuple

import torch
from torch import nn

from handobjectconsist.datasets import sample_keys as SK
from handobjectconsist.models.branches import AbsoluteBranch, ManoBranch
from handobjectconsist.models.encoder import build_encoder
from handobjectconsist.models.losses import masked_centroid, masked_mse, masked_smooth_l1
from handobjectconsist.models.project import recover_3d_proj
from handobjectconsist.models.skeleton import SkeletonRegressor, fallback_skeleton_matrix, load_skeleton_matrix
from libyana.camutils import project_points
from libyana.rotations import axis_angle_to_matrix
from libyana.transforms2d import apply_affine_2d

PIXEL_NORM = 512.0  # 2D losses compare (x - 256) / 512 (upstream normalize_pixel_out with inp_res 256)

# Loss weights and their upstream defaults (trainmeshreg flags of the same names).
LOSS_LAMBDA_DEFAULTS = {
    "mano_lambda_verts3d": 0.0,
    "mano_lambda_joints3d": 0.0,
    "mano_lambda_recov_joints3d": 0.5,
    "mano_lambda_recov_verts3d": 0.0,
    "mano_lambda_joints2d": 0.0,
    "mano_lambda_verts2d": 0.0,
    "mano_lambda_shape": 5e-7,
    "mano_lambda_pose_reg": 5e-6,
    "obj_lambda_recov_verts3d": 0.5,
    "obj_lambda_verts3d": 0.0,
    "obj_lambda_verts2d": 0.0,
}
# Options (names of the command-line flags) that define the model; a checkpoint's own values rebuild it.
MODEL_OPTION_KEYS = tuple(LOSS_LAMBDA_DEFAULTS) + (
    "obj_trans_factor",
    "obj_scale_factor",
    "mano_root",
    "mano_ncomps",
    "center_idx",
    "encoder_arch",
    "skeleton_regressor",
    "train_datasets",
)


def predicts_shape(mano_lambda_shape: float) -> bool:
    """Whether a MeshRegNet with this shape-prior weight has the shape head (upstream: only a weight > 0 adds it)."""
    return float(mano_lambda_shape) > 0


class MeshRegNet(nn.Module):
    """Image -> hand and object meshes in the camera frame (metres), plus supervised losses.

    forward(batch) -> (total_loss (scalar tensor), results dict, losses dict); results keys as upstream (2.8).
    """

    def __init__(
        self,
        mano_root: str,
        encoder_arch: str = "resnet18",
        pretrained: Optional[str] = None,
        mano_ncomps: int = 15,
        center_idx: int = 9,
        dataset_skeleton: bool = False,
        skeleton_regressor: Optional[str] = None,
        obj_trans_factor: float = 100.0,
        obj_scale_factor: float = 1e-4,
        **loss_lambdas: float,
    ):
        """
        Args:
            mano_root: folder with MANO_RIGHT.pkl / MANO_LEFT.pkl.
            encoder_arch: resnet18 | resnet34 | resnet50.
            pretrained: local file with torchvision ImageNet weights (None: random init).
            mano_ncomps: number of MANO PCA pose coefficients.
            center_idx: root joint for centring (9 = middle MCP).
            dataset_skeleton: regress the 21 dataset joints from the mesh (FPHAB) instead of using MANO joints.
            skeleton_regressor: file with a (21, V) regressor; None: MANO J_regressor + tips (used only when
                dataset_skeleton is set).
            obj_trans_factor, obj_scale_factor: multipliers on the raw translation/scale outputs (hand and object).
            loss_lambdas: any of LOSS_LAMBDA_DEFAULTS (unknown names raise); mano_lambda_shape > 0 enables the
                shape head.
        """
        super().__init__()
        unknown = set(loss_lambdas) - set(LOSS_LAMBDA_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown loss weights {sorted(unknown)}; "
                            f"expected names from {sorted(LOSS_LAMBDA_DEFAULTS)}")
        self.lambdas = {**LOSS_LAMBDA_DEFAULTS, **{k: float(v) for k, v in loss_lambdas.items()}}
        self.center_idx = center_idx
        self.trans_factor = obj_trans_factor
        self.scale_factor = obj_scale_factor
        self.base_net = build_encoder(encoder_arch, pretrained)
        self.autocast_dtype: Optional[torch.dtype] = None  # set_encoder_precision
        self.channels_last = False
        feat = self.base_net.feature_dim
        self.mano_branch = ManoBranch(
            mano_root,
            feature_dim=feat,
            ncomps=mano_ncomps,
            use_shape=predicts_shape(self.lambdas["mano_lambda_shape"]),
            center_idx=center_idx,
        )
        self.scaletrans_branch = AbsoluteBranch(feat, 3)
        self.scaletrans_branch_obj = AbsoluteBranch(feat, 6)
        self.adaptor = None
        if dataset_skeleton:
            layer = self.mano_branch.mano_layer_right
            if skeleton_regressor:
                matrix = load_skeleton_matrix(skeleton_regressor, layer.num_verts)
            else:
                matrix = fallback_skeleton_matrix(layer.J_regressor.float(), layer.tip_vertex_ids)
            self.adaptor = SkeletonRegressor(matrix)

    @classmethod
    def from_options(cls, opts: dict, pretrained: Optional[str] = None) -> "MeshRegNet":
        """Build from a flag dictionary (command line or a checkpoint's saved options)."""
        lambdas = {key: opts[key] for key in LOSS_LAMBDA_DEFAULTS if key in opts}
        return cls(
            mano_root=opts["mano_root"],
            encoder_arch=opts.get("encoder_arch", "resnet18"),
            pretrained=pretrained,
            mano_ncomps=opts.get("mano_ncomps", 15),
            center_idx=opts.get("center_idx", 9),
            dataset_skeleton="fhbhands" in opts.get("train_datasets", []),
            skeleton_regressor=opts.get("skeleton_regressor"),
            obj_trans_factor=opts.get("obj_trans_factor", 100.0),
            obj_scale_factor=opts.get("obj_scale_factor", 1e-4),
            **lambdas,
        )

    # ----------------------------------------------------------------------------------------------------- heads
    def predict_hand(self, features: torch.Tensor, K: torch.Tensor, input_res, sides=None) -> Dict:
        """Hand mesh, root-centred and in the camera frame. features (B, C); K (B, 3, 3); input_res (W, H)."""
        mano = self.mano_branch(features, sides)
        verts, joints = mano["verts3d"], mano["joints3d"]
        if self.adaptor is not None:
            regressed = self.adaptor(verts)
            root = regressed[:, self.center_idx : self.center_idx + 1]
            joints, verts = regressed - root, verts - root
        raw = self.scaletrans_branch(features)
        hand_prescale, hand_pretrans = raw[:, :1], raw[:, 1:3]
        hand_scale = hand_prescale * self.scale_factor
        hand_trans = hand_pretrans * self.trans_factor
        recov_joints3d, centre = recover_3d_proj(joints, K, hand_scale, hand_trans, input_res)
        recov_handverts3d = verts + centre
        return {
            "verts3d": verts,
            "joints3d": joints,
            "shape": mano["shape"],
            "pose": mano["pose"],
            "recov_joints3d": recov_joints3d,
            "recov_handverts3d": recov_handverts3d,
            "joints2d": project_points(recov_joints3d, K),
            "verts2d": project_points(recov_handverts3d, K),
            "hand_pretrans": hand_pretrans,
            "hand_prescale": hand_prescale,
            "hand_trans": hand_trans,
            "hand_scale": hand_scale,
        }

    def predict_object(self, features: torch.Tensor, can_verts: torch.Tensor, K: torch.Tensor, input_res,
                       can_corners: Optional[torch.Tensor] = None) -> Dict:
        """Rigidly posed object: rotation R and centre c from the object head, posed point = R p + c.

        Args:
            features: (B, C) encoder features.
            can_verts: (B, N, 3) bbox-centred model vertices (metres).
            K: (B, 3, 3) intrinsics of the network input; input_res (W, H) of the input image.
            can_corners: (B, 8, 3) the model's bounding-box corners centred like can_verts (OBJ_CAN_CORNERS), or
                None (FPHAB): then no corner outputs.
        Returns:
            obj_verts3d (B, N, 3) R p, recov_objverts3d (B, N, 3) camera-frame metres, obj_verts2d (B, N, 2) input
            pixels, the raw and scaled head outputs; with can_corners also obj_corners3d (B, 8, 3),
            recov_objcorners3d (B, 8, 3) and obj_corners2d (B, 8, 2), the corners through the same R and c.
        """
        raw = self.scaletrans_branch_obj(features)
        obj_prescale, obj_pretrans, obj_prerot = raw[:, :1], raw[:, 1:3], raw[:, 3:6]
        obj_scale = obj_prescale * self.scale_factor
        obj_trans = obj_pretrans * self.trans_factor
        rotmat = axis_angle_to_matrix(obj_prerot)
        obj_verts3d = can_verts @ rotmat.transpose(1, 2)
        recov_objverts3d, centre = recover_3d_proj(obj_verts3d, K, obj_scale, obj_trans, input_res)
        results = {
            "obj_verts3d": obj_verts3d,
            "recov_objverts3d": recov_objverts3d,
            "obj_verts2d": project_points(recov_objverts3d, K),
            "obj_scale": obj_scale,
            "obj_prescale": obj_prescale,
            "obj_prerot": obj_prerot,
            "obj_trans": obj_trans,
            "obj_pretrans": obj_pretrans,
        }
        if can_corners is not None:
            obj_corners3d = can_corners.to(rotmat.dtype) @ rotmat.transpose(1, 2)
            recov_objcorners3d = obj_corners3d + centre
            results.update({
                "obj_corners3d": obj_corners3d,
                "recov_objcorners3d": recov_objcorners3d,
                "obj_corners2d": project_points(recov_objcorners3d, K),
            })
        return results

    # ---------------------------------------------------------------------------------------------------- losses
    def compute_losses(self, batch: Dict, results: Dict) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]]]:
        """Every loss whose ground truth is in the batch; the total sums those with a positive weight."""
        lam = self.lambdas
        losses: Dict[str, Optional[torch.Tensor]] = {}
        weighted = {}
        K = batch[SK.CAM_INTR]
        affine = batch.get(SK.AFFINE)
        gt_joints = batch.get(SK.JOINTS3D)
        gt_verts = batch.get(SK.HAND_VERTS3D)
        gt_root = None if gt_joints is None else gt_joints[:, self.center_idx : self.center_idx + 1]

        def add(name, weight_key, value):
            losses[name] = value
            if value is not None and lam[weight_key] > 0:
                weighted[name] = lam[weight_key] * value

        if "joints3d" in results:
            if gt_verts is not None and gt_root is not None:
                add("mano_verts3d", "mano_lambda_verts3d", masked_mse(results["verts3d"], gt_verts - gt_root))
            if gt_joints is not None:
                add("mano_joints3d", "mano_lambda_joints3d", masked_mse(results["joints3d"], gt_joints - gt_root))
                add("recov_joint3d", "mano_lambda_recov_joints3d", masked_mse(results["recov_joints3d"], gt_joints))
            if gt_verts is not None:
                add("recov_handverts3d", "mano_lambda_recov_verts3d",
                    masked_mse(results["recov_handverts3d"], gt_verts))
                gt_verts2d = project_points(gt_verts, K)
                add("verts2d", "mano_lambda_verts2d",
                    masked_mse(results["verts2d"] / PIXEL_NORM, gt_verts2d / PIXEL_NORM))
            if SK.JOINTS2D in batch and affine is not None:
                gt_joints2d = apply_affine_2d(batch[SK.JOINTS2D], affine)
                add("joints2d", "mano_lambda_joints2d",
                    masked_mse(results["joints2d"] / PIXEL_NORM, gt_joints2d / PIXEL_NORM))
            shape = results["shape"]
            shape_loss = None if shape is None else masked_mse(shape, torch.zeros_like(shape))
            add("mano_shape", "mano_lambda_shape", shape_loss)
            pca = results["pose"][:, 3:]
            add("pose_reg", "mano_lambda_pose_reg", masked_mse(pca, torch.zeros_like(pca)))
            reg = lam["mano_lambda_pose_reg"] * losses["pose_reg"]
            if shape_loss is not None:
                reg = reg + lam["mano_lambda_shape"] * shape_loss
            losses["mano_reg_loss"] = reg

        if "recov_objverts3d" in results:
            mask = batch.get(SK.OBJ_VERTS_MASK)
            if SK.OBJ_VERTS3D in batch:
                gt_obj = batch[SK.OBJ_VERTS3D]
                add("recov_objverts3d", "obj_lambda_recov_verts3d",
                    masked_mse(results["recov_objverts3d"], gt_obj, mask))
                pred_c = results["obj_verts3d"] - masked_centroid(results["obj_verts3d"], mask)
                gt_c = gt_obj - masked_centroid(gt_obj, mask)
                add("objverts3d", "obj_lambda_verts3d", masked_smooth_l1(pred_c, gt_c, mask))
            if SK.OBJ_VERTS2D in batch and affine is not None:
                gt_obj2d = apply_affine_2d(batch[SK.OBJ_VERTS2D], affine)
                add("objverts2d", "obj_lambda_verts2d",
                    masked_mse(results["obj_verts2d"] / PIXEL_NORM, gt_obj2d / PIXEL_NORM, mask))

        hand_terms = [weighted[n] for n in ("mano_verts3d", "mano_joints3d", "mano_shape", "pose_reg") if n in weighted]
        if hand_terms:
            losses["mano_total_loss"] = torch.stack(hand_terms).sum()
        if weighted:
            total = torch.stack(list(weighted.values())).sum()
        else:
            total = results["pose"].sum() * 0.0  # keeps the graph connected when nothing is supervised
        losses["total_loss"] = total
        return total, losses

    def set_encoder_precision(self, autocast_dtype: Optional[torch.dtype] = None, channels_last: bool = False):
        """Speed settings of the image encoder (training.session.apply_speed_flags: --amp, --channels_last).

        Args:
            autocast_dtype: run the encoder under torch.autocast with this dtype (torch.bfloat16), on the device of
                the images; None: float32. Only the encoder: its features are cast back to float32, so the heads,
                MANO, geometry and losses stay float32 (bfloat16's 8-bit mantissa would put ~0.4 % of quantisation
                on the scale/translation outputs, i.e. millimetres of depth, for < 1 % of the compute).
            channels_last: encoder weights and input images in channels-last memory format.
        """
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        if channels_last:
            self.base_net.to(memory_format=torch.channels_last)
        return self

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> float32 features (B, C), with the settings of set_encoder_precision."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if self.autocast_dtype is None:
            return self.base_net(images)
        with torch.autocast(device_type=images.device.type, dtype=self.autocast_dtype):
            features = self.base_net(images)
        return features.float()

    def forward(self, batch: Dict) -> Tuple[torch.Tensor, Dict, Dict]:
        """batch: collated sample dict (sample_keys) on the model's device. Needs IMAGE and CAM_INTR."""
        images = batch[SK.IMAGE]
        K = batch[SK.CAM_INTR]
        input_res = (images.shape[3], images.shape[2])
        features = self.encode(images)
        results = self.predict_hand(features, K, input_res, batch.get(SK.SIDE))
        if SK.OBJ_CAN_VERTS in batch:
            results.update(self.predict_object(features, batch[SK.OBJ_CAN_VERTS], K, input_res,
                                               batch.get(SK.OBJ_CAN_CORNERS)))
        total, losses = self.compute_losses(batch, results)
        return total, results, losses
