"""`python -m handobjectconsist.predict`: run a trained model on your own frames (see the package docstring)."""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from handobjectconsist.devices import resolve_device
from handobjectconsist.entry import Parser, positive_float, positive_int, run_main
from handobjectconsist.interrupts import check_interrupt
from handobjectconsist.models.trained import load_trained_model
from handobjectconsist.predict.errors import PredictError
from handobjectconsist.predict.export import MESH_FORMATS, joints_record, write_frame_outputs
from handobjectconsist.predict.frames import FrameSource, open_frames
from handobjectconsist.predict.inference import FramePredictor, network_width, parse_intrinsics
from handobjectconsist.predict.objects import load_object
from handobjectconsist.predict.overlay import render_overlays
from handobjectconsist.predict.staging import check_output_folder, staged_folder
from handobjectconsist.predict.videoio import ANIMATION_FORMATS, AnimationWriter

DEFAULT_IMAGE_FPS = 10.0


class _IntrinsicsAction(argparse.Action):
    """--intrinsics fx fy cx cy: checked while parsing (four numbers, positive focal lengths); stores (3, 3)."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, parse_intrinsics(values))
        except PredictError as err:
            raise argparse.ArgumentError(self, str(err).removeprefix("--intrinsics: ")) from None


def predict_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m handobjectconsist.predict",
        description="Run a trained model (trainmeshreg.py / trainmeshwarp.py checkpoint) on your own frames: writes "
                    "per frame an overlay PNG, the hand and object meshes (camera frame, metres) and the 21 joints "
                    "(3D metres and 2D pixels) as JSON, and for a video or several images an MP4/GIF of the "
                    "overlays. A model trained on the synthetic data will not work on real images.")
    p.add_argument("--resume", required=True, help="checkpoint .pth (or its experiment folder)")
    p.add_argument("--images", required=True,
                   help="a folder of images (PNG/JPEG/..., natural name order, all one size), one image, or a video "
                        "file (MP4/AVI/MOV/MKV/..., decoded with OpenCV)")
    p.add_argument("--intrinsics", required=True, nargs="+", type=float, metavar="F", action=_IntrinsicsAction,
                   help="fx fy cx cy of your frames in pixels (pixel (row i, col j) centred at (u=j, v=i)); frames "
                        "are resized to the model's input width with these scaled to match")
    p.add_argument("--object", default=None,
                   help="the object's mesh file (OBJ/PLY/STL, metres; vertices are not merged) or the name of an "
                        "object of the checkpoint's training set (FPHAB: juice_bottle, liquid_soap, milk, salt; "
                        "HO3D-v2: the YCB folder names of modelsprocess/), looked up under the checkpoint's "
                        "--data_root. Omit for hand-only outputs")
    p.add_argument("--object_scale", type=positive_float, default=1.0,
                   help="multiplies the mesh vertices (0.001 for a mesh in millimetres)")
    p.add_argument("--out", required=True, help="output folder (written completely or not at all)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch_size", type=positive_int, default=8, help="frames per network and rendering pass")
    p.add_argument("--side", default="right", choices=["right", "left"], help="which hand (MANO layer)")
    p.add_argument("--mano_root", default=None,
                   help="MANO folder (default: the one saved in the checkpoint; use the one it was trained with)")
    p.add_argument("--data_root", default=None,
                   help="where to look up --object names (default: the checkpoint's --data_root)")
    p.add_argument("--input_width", type=positive_int, default=None,
                   help="frame width fed to the network (default: the checkpoint's --input_width, else 480 for "
                        "FPHAB and 640 for HO3D-v2 models)")
    p.add_argument("--mesh_format", default="obj", choices=MESH_FORMATS)
    p.add_argument("--video_format", default="mp4", choices=ANIMATION_FORMATS,
                   help="animation of the overlays for a video or several images (mp4: MPEG-4 Part 2 via OpenCV)")
    p.add_argument("--fps", type=positive_float, default=None,
                   help=f"frame rate of the animation (default: the video's, {DEFAULT_IMAGE_FPS:g} for images)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    return p


def _batches(source: FrameSource, batch_size: int):
    names: List[str] = []
    frames: List[np.ndarray] = []
    for name, frame in source.frames():
        names.append(name)
        frames.append(frame)
        if len(frames) == batch_size:
            yield names, frames
            names, frames = [], []
    if frames:
        yield names, frames


def _device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except RuntimeError as err:
        raise PredictError(str(err)) from None


def _write_predictions(folder: Path, source: FrameSource, predictor: FramePredictor, obj, args,
                       device: torch.device) -> Tuple[List[str], Optional[str]]:
    """Predict every frame in batches and write its files (export.write_frame_outputs) and the animation into
    folder; returns (frame names, animation file name or None)."""
    intrinsics = predictor.intrinsics
    hand_faces = predictor.hand_faces.numpy()
    obj_faces = None if obj is None else torch.as_tensor(obj.faces, device=device)
    animation = None
    if source.is_sequence:
        fps = args.fps or source.fps or DEFAULT_IMAGE_FPS
        animation = AnimationWriter(folder / f"overlays.{args.video_format}", args.video_format, fps, source.size)
    names: List[str] = []
    bar = tqdm(total=len(source), unit="frame", desc="predict", disable=args.no_progress)
    for batch_names, frames in _batches(source, args.batch_size):
        check_interrupt()
        pred = predictor(frames)
        overlays = render_overlays(
            np.stack(frames), torch.as_tensor(intrinsics, device=device),
            torch.as_tensor(pred.hand_verts, device=device), predictor.hand_faces,
            None if pred.obj_verts is None else torch.as_tensor(pred.obj_verts, device=device), obj_faces)
        for b, name in enumerate(batch_names):
            record = joints_record(name, pred.joints3d[b], pred.joints2d[b], intrinsics, source.size, args.side)
            write_frame_outputs(folder, name, overlays[b], pred.hand_verts[b], hand_faces,
                                None if pred.obj_verts is None else pred.obj_verts[b],
                                None if obj is None else obj.faces, record, args.mesh_format)
            if animation is not None:
                animation.add(overlays[b])
            names.append(name)
        bar.update(len(batch_names))
    bar.close()
    return names, None if animation is None else animation.close().name


# Smallest frame side (pixels) predicted on: below it the network sees no hand (and the frame is surely not a photo).
MIN_FRAME_SIDE = 16


def check_frames_and_intrinsics(size: Tuple[int, int], intrinsics: np.ndarray, images) -> None:
    """PredictError for frames smaller than MIN_FRAME_SIDE; one warning line on stderr when the principal point
    (cx, cy) of --intrinsics lies outside the (W, H) frames (intrinsics for another image size, most often)."""
    width, height = size
    if min(width, height) < MIN_FRAME_SIDE:
        raise PredictError(f"--images {images}: frames are {width}x{height} pixels; give frames of at least "
                           f"{MIN_FRAME_SIDE}x{MIN_FRAME_SIDE}")
    cx, cy = float(intrinsics[0, 2]), float(intrinsics[1, 2])
    if not (0 <= cx <= width and 0 <= cy <= height):
        print(f"warning: --intrinsics principal point ({cx:g}, {cy:g}) lies outside the {width}x{height} frames; "
              "predicting anyway (check that fx fy cx cy are in pixels of these frames)", file=sys.stderr)


def run(argv: Optional[Sequence[str]] = None) -> Dict:
    """Parse flags, check every input, then predict and write the output folder; returns a summary dict."""
    args = predict_parser().parse_args(argv)
    start = time.time()
    intrinsics = args.intrinsics  # (3, 3), checked by _IntrinsicsAction
    out = check_output_folder(args.out, args.overwrite)
    source = open_frames(args.images)
    check_frames_and_intrinsics(source.size, intrinsics, args.images)
    device = _device(args.device)
    loaded = load_trained_model(args.resume, args.mano_root, device)
    obj = None if args.object is None else load_object(args.object, loaded.opts, args.data_root, args.object_scale)
    width = network_width(loaded, source.size[0], args.input_width)
    predictor = FramePredictor(loaded, intrinsics, source.size, width, obj, args.side, device)

    with staged_folder(out, args.overwrite) as tmp:
        names, animation_path = _write_predictions(tmp, source, predictor, obj, args, device)
        summary = {
            "checkpoint": str(loaded.path), "epoch": loaded.epoch, "images": str(args.images),
            "input_kind": source.kind, "frames": names, "frame_size": list(source.size),
            "intrinsics": intrinsics.tolist(), "network_size": list(predictor.net_size),
            "network_intrinsics": predictor.net_intrinsics.tolist(), "side": args.side,
            "object": None if obj is None else {"name": obj.name, "source": str(obj.source),
                                                "vertices": int(obj.can_verts.shape[0]),
                                                "scale": args.object_scale},
            "mesh_format": args.mesh_format, "animation": animation_path, "device": str(device),
            "seconds": round(time.time() - start, 2),
        }
        (tmp / "predict.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {len(names)} frames to {out}: overlays/, meshes/, joints/"
          + (f", {animation_path}" if animation_path else "") + f", predict.json ({summary['seconds']} s)")
    return {**summary, "out": str(out)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit status under the project's entry-point policy (handobjectconsist.entry): 0; 1 with one line
    "error: ..." for a user error; 2 for a bad flag (while parsing); 130 / 143 on SIGINT / SIGTERM."""
    return run_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
