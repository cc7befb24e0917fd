"""Offline HO3D-v2 scorer: the challenge's published hand measures, computed here instead of on the CodaLab server.

    python -m handobjectconsist.evaluation.ho3d_score --pred pred.json --gt DIR [--out DIR]

Inputs:
    --pred  pred.json or pred.zip as written by evalho3dv2.py (HO3DSubmissionWriter): [xyz_list, verts_list], per
            evaluation frame 21 joints in HO3D order (16 MANO joints, then the 5 tips) and the hand vertices, metres,
            OpenGL camera frame.
    --gt    a folder with the challenge's reference files evaluation_xyz.json (per frame 21 joints) and
            evaluation_verts.json (per frame 778 MANO vertices), same order, frame and units; the synthetic HO3D
            generator writes them at the root of its dataset.
Writes to --out (default: the folder of --pred) scores.txt ("key: value" lines, %f, with the key names of the
challenge's scoring program's scores.txt, listed below) and pck_curves.png, and prints the scores.

Measures (all over every frame, as the challenge computes them):
    xyz_*         21 joints. Mean 3D error in cm and the area under the PCK curve over 0-5 cm (100 thresholds,
                  a joint counts when its error is <= the threshold; the area is normalised to [0, 1]).
        xyz_mean3d / xyz_auc3d                               unaligned (the prediction as submitted)
        xyz_procrustes_al_mean3d / xyz_procrustes_al_auc3d   after Procrustes alignment ("aligned" in the challenge):
            both point sets centred on their mean and divided by their Frobenius norm, the orthogonal matrix and scale
            of the orthogonal Procrustes problem map the prediction onto the ground truth, and the result is mapped
            back to the ground truth's norm and centroid. As in the challenge the orthogonal matrix may be a
            reflection.
        xyz_scale_trans_al_mean3d / xyz_scale_trans_al_auc3d  after scale-translation alignment: the prediction
            scaled so that the distance between joints 0 and 4 (wrist and middle MCP in HO3D order) equals the ground
            truth's, then translated so that joint 0 coincides.
    mesh_*        the 778 hand vertices, unaligned (mesh_mean3d, mesh_auc3d) and Procrustes-aligned on the vertices
                  (mesh_al_mean3d, mesh_al_auc3d). Only when the prediction has as many vertices as the reference;
                  otherwise -1 (as the challenge).
    f_score_5, f_score_15, f_al_score_5, f_al_score_15   F-score of the vertices at 5 mm and 15 mm, unaligned and
                  aligned (Procrustes on the vertices, or with the joints' transform when the vertex counts differ),
                  averaged over frames: precision = share of ground-truth vertices whose nearest predicted vertex is
                  closer than the threshold, recall = share of predicted vertices whose nearest ground-truth vertex
                  is, F = 2PR / (P + R) (0 when both are 0). The threshold test is strict (<).
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from handobjectconsist.entry import Parser, run_main
from handobjectconsist.errors import require_output_dir
from handobjectconsist.evaluation.ho3d_submission import (
    HO3DFileError,
    MissingHO3DFileError,
    frames_array,
    read_submission,
)
from handobjectconsist.evaluation.pck import area_under_curve, pck_curve
from handobjectconsist.mano.joints import NUM_JOINTS
from libyana.fileio import atomic_path, atomic_write_text
from libyana.procrustes import apply_similarity, similarity_transform

REFERENCE_XYZ = "evaluation_xyz.json"
REFERENCE_VERTS = "evaluation_verts.json"
SCORES_NAME = "scores.txt"
PLOT_NAME = "pck_curves.png"
PCK_RANGE_M = (0.0, 0.05, 100)  # PCK thresholds: linspace(0, 5 cm, 100)
FSCORE_THRESHOLDS_M = (0.005, 0.015)
SCALE_JOINTS = (0, 4)  # HO3D order: wrist and middle MCP
MISSING = -1.0  # the challenge's value for mesh errors it cannot compute

# Order of scores.txt; (key, meaning) as documented above.
SCORE_KEYS = (
    ("xyz_mean3d", "joints, unaligned, mean error (cm)"),
    ("xyz_auc3d", "joints, unaligned, AUC of PCK 0-5 cm"),
    ("xyz_procrustes_al_mean3d", "joints, Procrustes-aligned, mean error (cm)"),
    ("xyz_procrustes_al_auc3d", "joints, Procrustes-aligned, AUC of PCK 0-5 cm"),
    ("xyz_scale_trans_al_mean3d", "joints, scale-translation-aligned, mean error (cm)"),
    ("xyz_scale_trans_al_auc3d", "joints, scale-translation-aligned, AUC of PCK 0-5 cm"),
    ("mesh_mean3d", "vertices, unaligned, mean error (cm)"),
    ("mesh_auc3d", "vertices, unaligned, AUC of PCK 0-5 cm"),
    ("mesh_al_mean3d", "vertices, Procrustes-aligned, mean error (cm)"),
    ("mesh_al_auc3d", "vertices, Procrustes-aligned, AUC of PCK 0-5 cm"),
    ("f_score_5", "F-score at 5 mm, unaligned"),
    ("f_al_score_5", "F-score at 5 mm, Procrustes-aligned"),
    ("f_score_15", "F-score at 15 mm, unaligned"),
    ("f_al_score_15", "F-score at 15 mm, Procrustes-aligned"),
)
# PCK curve name -> (error key, AUC key, legend label)
CURVES = {
    "xyz": ("xyz_mean3d", "xyz_auc3d", "joints"),
    "xyz_procrustes_al": ("xyz_procrustes_al_mean3d", "xyz_procrustes_al_auc3d", "joints, Procrustes-aligned"),
    "xyz_scale_trans_al": ("xyz_scale_trans_al_mean3d", "xyz_scale_trans_al_auc3d",
                           "joints, scale-translation-aligned"),
    "mesh": ("mesh_mean3d", "mesh_auc3d", "vertices"),
    "mesh_al": ("mesh_al_mean3d", "mesh_al_auc3d", "vertices, Procrustes-aligned"),
}


# --------------------------------------------------------------------------------------------- alignments


def procrustes_transform(pred: np.ndarray, gt: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The challenge's Procrustes alignment of pred onto gt as a similarity: aligned = scale * pred @ R.T + t.

    The least-squares similarity with R any orthogonal matrix: like the challenge's orthogonal Procrustes, R may be a
    reflection (det -1), so a mirrored prediction aligns exactly. pred, gt: (N, D) or (B, N, D).
    Returns scale (B,) or (), R (B, D, D) or (D, D), t (B, D) or (D,).
    """
    return similarity_transform(pred, gt, allow_reflection=True)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """pred (N, D) or (B, N, D) after the challenge's Procrustes alignment onto gt (see procrustes_transform)."""
    return apply_similarity(pred, *procrustes_transform(pred, gt))


def scale_translation_align(pred: np.ndarray, gt: np.ndarray, joints: Sequence[int] = SCALE_JOINTS) -> np.ndarray:
    """pred (B, 21, 3) scaled so that |pred[j1] - pred[j0]| equals the ground truth's, then translated so that
    pred[j0] = gt[j0] (j0, j1 = joints; a prediction with pred[j1] = pred[j0] is only translated)."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    j0, j1 = joints
    len_p = np.linalg.norm(pred[:, j1] - pred[:, j0], axis=-1)
    len_g = np.linalg.norm(gt[:, j1] - gt[:, j0], axis=-1)
    scale = np.where(len_p > 0, len_g / np.where(len_p > 0, len_p, 1.0), 1.0)
    return scale[:, None, None] * (pred - pred[:, j0:j0 + 1]) + gt[:, j0:j0 + 1]


# --------------------------------------------------------------------------------------------- measures


def fscore(gt: np.ndarray, pred: np.ndarray, thresholds: Sequence[float]) -> Tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray]:
    """F-score of one frame's point sets gt (M, 3) and pred (K, 3) at each threshold (metres).

    precision = share of gt points whose nearest pred point is closer than the threshold, recall = share of pred
    points whose nearest gt point is (the challenge's naming); F = 2PR / (P + R), 0 when P + R = 0.
    Returns f, precision, recall, each (T,).
    """
    from scipy.spatial import cKDTree

    gt_to_pred, _ = cKDTree(pred).query(gt)
    pred_to_gt, _ = cKDTree(gt).query(pred)
    thresholds = np.asarray(thresholds, dtype=np.float64)[:, None]
    precision = (gt_to_pred[None] < thresholds).mean(axis=1)
    recall = (pred_to_gt[None] < thresholds).mean(axis=1)
    total = precision + recall
    f = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1.0), 0.0)
    return f, precision, recall


def error_measures(distances: np.ndarray, pck_range: Tuple[float, float, int] = PCK_RANGE_M) -> Dict:
    """Point errors (N frames, K points) in metres -> {"mean_cm", "auc", "pck" (T,), "thresholds_m" (T,)}.

    As the challenge's keypoint evaluator: mean over points of the per-point mean error, PCK per point (error <=
    threshold) averaged over points, and its normalised trapezoid area (the mean of the per-point areas)."""
    thresholds = np.linspace(*pck_range)
    curve = np.mean([pck_curve(distances[:, k], thresholds) for k in range(distances.shape[1])], axis=0)
    return {"mean_cm": float(100.0 * distances.mean(axis=0).mean()), "auc": area_under_curve(curve, thresholds),
            "pck": curve, "thresholds_m": thresholds}


@dataclass
class HO3DScores:
    """scores: key -> value in SCORE_KEYS order (cm, AUC in [0, 1], F-scores in [0, 1]; -1 = not computable);
    curves: PCK curve name (CURVES) -> (T,) values at thresholds_m; mesh_scored: whether mesh_* were computed."""

    scores: Dict[str, float]
    curves: Dict[str, np.ndarray]
    thresholds_m: np.ndarray
    num_frames: int
    mesh_scored: bool
    notes: List[str] = field(default_factory=list)


def score_submission(pred_xyz: np.ndarray, pred_verts: np.ndarray, gt_xyz: np.ndarray, gt_verts: np.ndarray,
                     progress: bool = False) -> HO3DScores:
    """Score predictions against the reference, all in the same frame and joint order, metres.

    Args:
        pred_xyz (N, 21, 3), pred_verts (N, V, 3), gt_xyz (N, 21, 3), gt_verts (N, 778, 3); progress: show a
        progress bar over the frames for the F-scores (the slow part: about 4 ms a frame on one CPU core).
    """
    from tqdm import tqdm

    pred_xyz, gt_xyz = np.asarray(pred_xyz, dtype=np.float64), np.asarray(gt_xyz, dtype=np.float64)
    pred_verts, gt_verts = np.asarray(pred_verts, dtype=np.float64), np.asarray(gt_verts, dtype=np.float64)
    num = len(gt_xyz)
    if not (pred_xyz.shape == gt_xyz.shape == (num, NUM_JOINTS, 3) and len(pred_verts) == len(gt_verts) == num
            and pred_verts.ndim == gt_verts.ndim == 3 and pred_verts.shape[2] == gt_verts.shape[2] == 3):
        raise ValueError(f"shapes do not match: pred xyz {pred_xyz.shape}, verts {pred_verts.shape}; gt xyz "
                         f"{gt_xyz.shape}, verts {gt_verts.shape}")
    if num == 0:
        raise ValueError("nothing to score: the reference has no frames")
    scores: Dict[str, float] = {}
    curves: Dict[str, np.ndarray] = {}
    notes: List[str] = []

    def add(name: str, distances: np.ndarray) -> None:
        measures = error_measures(distances)
        mean_key, auc_key, _ = CURVES[name]
        scores[mean_key], scores[auc_key], curves[name] = measures["mean_cm"], measures["auc"], measures["pck"]

    def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - b, axis=-1)

    add("xyz", dist(pred_xyz, gt_xyz))
    joint_transform = procrustes_transform(pred_xyz, gt_xyz)
    add("xyz_procrustes_al", dist(apply_similarity(pred_xyz, *joint_transform), gt_xyz))
    add("xyz_scale_trans_al", dist(scale_translation_align(pred_xyz, gt_xyz), gt_xyz))
    mesh_scored = pred_verts.shape[1] == gt_verts.shape[1]
    if mesh_scored:
        add("mesh", dist(pred_verts, gt_verts))
        verts_aligned = procrustes_align(pred_verts, gt_verts)
        add("mesh_al", dist(verts_aligned, gt_verts))
    else:
        for key in ("mesh_mean3d", "mesh_auc3d", "mesh_al_mean3d", "mesh_al_auc3d"):
            scores[key] = MISSING
        verts_aligned = apply_similarity(pred_verts, *joint_transform)
        notes.append(f"the prediction has {pred_verts.shape[1]} vertices per frame, the reference "
                     f"{gt_verts.shape[1]}: mesh errors not computed (-1), aligned F-scores use the joints' "
                     "Procrustes transform")
    f_plain, f_al = np.zeros(len(FSCORE_THRESHOLDS_M)), np.zeros(len(FSCORE_THRESHOLDS_M))
    for i in tqdm(range(num), desc="F-scores", unit="frame", disable=not progress, leave=False):
        f_plain += fscore(gt_verts[i], pred_verts[i], FSCORE_THRESHOLDS_M)[0] / num
        f_al += fscore(gt_verts[i], verts_aligned[i], FSCORE_THRESHOLDS_M)[0] / num
    for threshold, plain, aligned in zip(FSCORE_THRESHOLDS_M, f_plain, f_al):
        mm = int(round(threshold * 1000))
        scores[f"f_score_{mm}"], scores[f"f_al_score_{mm}"] = float(plain), float(aligned)
    ordered = {key: scores[key] for key, _ in SCORE_KEYS}
    return HO3DScores(ordered, curves, np.linspace(*PCK_RANGE_M), num, mesh_scored, notes)


# --------------------------------------------------------------------------------------------- files


def _load_json(path: Path, what: str):
    if not path.is_file():
        raise MissingHO3DFileError(f"{path}: no such file; --gt must be the folder holding the challenge's "
                                   f"reference {REFERENCE_XYZ} and {REFERENCE_VERTS} ({what})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HO3DFileError(f"{path}: not valid JSON ({err}); it must hold {what}") from None


def load_reference(gt_dir: Union[str, Path]) -> Tuple[np.ndarray, np.ndarray]:
    """(xyz (N, 21, 3), verts (N, V, 3)) from gt_dir/evaluation_xyz.json and gt_dir/evaluation_verts.json."""
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise MissingHO3DFileError(f"{gt_dir}: no such folder; --gt must be the folder holding {REFERENCE_XYZ} "
                                   f"and {REFERENCE_VERTS}")
    xyz_path, verts_path = gt_dir / REFERENCE_XYZ, gt_dir / REFERENCE_VERTS
    xyz = frames_array(_load_json(xyz_path, "per frame 21 [x, y, z] joints"), xyz_path, "the reference joints",
                       NUM_JOINTS)
    verts = frames_array(_load_json(verts_path, "per frame the [x, y, z] hand vertices"), verts_path,
                         "the reference vertices")
    if len(xyz) != len(verts):
        raise HO3DFileError(f"{xyz_path} has {len(xyz)} frames but {verts_path} has {len(verts)}; both must list "
                            "every evaluation frame")
    if len(xyz) == 0:
        raise HO3DFileError(f"{xyz_path}: no frames to score against")
    return xyz, verts


def load_and_check(pred_path: Union[str, Path], gt_dir: Union[str, Path]) -> Tuple[np.ndarray, ...]:
    """(pred_xyz, pred_verts, gt_xyz, gt_verts) read and checked against each other (frame counts)."""
    pred_xyz, pred_verts = read_submission(pred_path)
    gt_xyz, gt_verts = load_reference(gt_dir)
    if len(pred_xyz) != len(gt_xyz):
        raise HO3DFileError(f"{pred_path}: {len(pred_xyz)} frames, but the reference in {gt_dir} has "
                            f"{len(gt_xyz)}; predict every evaluation frame in evaluation.txt order "
                            "(python evalho3dv2.py --val_split test)")
    if pred_verts.shape[1] == 0:
        raise HO3DFileError(f"{pred_path}: verts_list has no vertices per frame; submit the hand mesh vertices")
    return pred_xyz, pred_verts, gt_xyz, gt_verts


def format_scores(result: HO3DScores) -> str:
    """scores.txt text: one "key: value" line per score (the challenge's format, %f)."""
    return "".join(f"{key}: {result.scores[key]:f}\n" for key, _ in SCORE_KEYS)


def plot_pck_curves(result: HO3DScores, path: Union[str, Path]) -> Path:
    """PNG of the PCK curves (x: threshold in cm, y: share of points within it), legend with mean error and AUC.

    Uses whatever matplotlib backend is active (the command line selects Agg)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    try:
        for name, curve in result.curves.items():
            mean_key, auc_key, label = CURVES[name]
            ax.plot(100 * result.thresholds_m, curve, label=f"{label}: {result.scores[mean_key]:.2f} cm, "
                                                            f"AUC {result.scores[auc_key]:.3f}")
        ax.set_xlabel("threshold (cm)")
        ax.set_ylabel("PCK (share of points within the threshold)")
        ax.set_xlim(0, 100 * result.thresholds_m[-1])
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"HO3D-v2 offline score, {result.num_frames} frames")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


# --------------------------------------------------------------------------------------------- command line


def parser() -> Parser:
    p = Parser(description="Offline HO3D-v2 challenge scorer (scores.txt and PCK curves)")
    p.add_argument("--pred", required=True, help="pred.json or pred.zip written by evalho3dv2.py")
    p.add_argument("--gt", required=True, help=f"folder holding {REFERENCE_XYZ} and {REFERENCE_VERTS}")
    p.add_argument("--out", default=None, help=f"where {SCORES_NAME} and {PLOT_NAME} go (default: --pred's folder)")
    return p


def run(argv: Optional[List[str]] = None) -> HO3DScores:
    """Parse flags, score, write scores.txt and the PCK plot, print the scores."""
    args = parser().parse_args(argv)
    out = require_output_dir(args.out if args.out is not None else Path(args.pred).parent, "--out")
    result = score_submission(*load_and_check(args.pred, args.gt), progress=True)
    atomic_write_text(out / SCORES_NAME, format_scores(result))
    plot_pck_curves(result, out / PLOT_NAME)
    for note in result.notes:
        print(f"note: {note}")
    width = max(len(key) for key, _ in SCORE_KEYS)
    for key, meaning in SCORE_KEYS:
        print(f"{key:<{width}}  {result.scores[key]:9.4f}  {meaning}")
    print(f"{result.num_frames} frames; wrote {out / SCORES_NAME} and {out / PLOT_NAME}")
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0; 1 with one line "error: ..." for a missing or malformed input (or an unwritable --out)."""
    return run_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
