"""Make FPHAB's Video_files_480 (480x270 frames) from Video_files (1920x1080).

    python reduce_fphab.py --data_root data/fhbhands [--workers 4] [--width 480]
    (same as python -m handobjectconsist.datasets.reduce_fphab ...)

Every frame under <data_root>/Video_files/Subject_*/<action>/<seq>/color/ is resized (PIL bilinear, antialiased)
and saved as JPEG at the same relative path under <data_root>/Video_files_<width>/. Frames already present are
skipped, so an interrupted run can simply be restarted. Each image is written to a temporary file in the target
folder and renamed into place (os.replace), so a killed run never leaves a half-written image under a frame name;
stale temporary files of earlier runs are removed at start.
"""

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from handobjectconsist.datasets.fphab_camera import height_for_width

TMP_MARK = ".tmp-reduce-"


def reduce_frame(job):
    """Resize one frame (src, dst, (W, H)) atomically; returns 1 if written."""
    src, dst, size = job
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f"{TMP_MARK}{os.getpid()}-{dst.name}"
    with Image.open(src) as img:
        img.convert("RGB").resize(size, Image.BILINEAR).save(tmp, format="JPEG")
    os.replace(tmp, dst)
    return 1


def list_jobs(data_root: Path, width: int):
    src_root = data_root / "Video_files"
    if not src_root.is_dir():
        raise SystemExit(f"missing {src_root}: expected the full-resolution FPHAB frames "
                         "Video_files/Subject_k/<action>/<seq>/color/color_XXXX.jpeg (from the FPHAB download)")
    dst_root = data_root / f"Video_files_{width}"
    size = (width, height_for_width(width))
    jobs, done, stale = [], 0, 0
    for src in sorted(src_root.glob("Subject_*/*/*/color/*.jpeg")):
        dst = dst_root / src.relative_to(src_root)
        if dst.is_file():
            done += 1
        else:
            jobs.append((src, dst, size))
    if dst_root.is_dir():
        for tmp in dst_root.glob(f"Subject_*/*/*/color/{TMP_MARK}*"):
            tmp.unlink()
            stale += 1
    return jobs, done, stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", default="data/fhbhands", help="FPHAB folder holding Video_files/")
    parser.add_argument("--workers", type=int, default=4, help="worker processes")
    parser.add_argument("--width", type=int, default=480, help="output width (height keeps 16:9)")
    args = parser.parse_args(argv)
    jobs, done, stale = list_jobs(Path(args.data_root), args.width)
    print(f"{len(jobs)} frames to resize, {done} already done, {stale} stale temporary files removed")
    if not jobs:
        return 0
    if args.workers <= 1:
        for job in tqdm(jobs, unit="frame"):
            reduce_frame(job)
    else:
        with Pool(args.workers) as pool:
            for _ in tqdm(pool.imap_unordered(reduce_frame, jobs, chunksize=16), total=len(jobs), unit="frame"):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
