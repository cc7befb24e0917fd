"""Make FPHAB's Video_files_480 (480x270 frames) from Video_files (1920x1080).

    python reduce_fphab.py --data_root data/fhbhands [--workers 4] [--width 480]
    (same as python -m handobjectconsist.datasets.reduce_fphab ...)

Every frame under <data_root>/Video_files/Subject_*/<action>/<seq>/color/ is resized (PIL bilinear, antialiased)
and saved as JPEG at the same relative path under <data_root>/Video_files_<width>/. Frames already present are
skipped, so an interrupted run can simply be restarted. Each image is written to a temporary file in the target
folder and renamed into place (os.replace), so a killed run never leaves a half-written image under a frame name;
stale temporary files of earlier runs are removed at start. A source frame that cannot be decoded (truncated or
not a JPEG) is named on one line and skipped; the other frames are still written and the command exits with
status 1 (handobjectconsist.entry's policy: one "error: ..." line per problem).
"""

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import Optional

from PIL import Image
from tqdm import tqdm

from handobjectconsist.datasets.errors import CorruptFileError, MissingDataError
from handobjectconsist.datasets.fphab_camera import height_for_width
from handobjectconsist.datasets.frames import DECODE_ERRORS
from handobjectconsist.entry import Parser, positive_int, run_main
from handobjectconsist.errors import UserError

TMP_MARK = ".tmp-reduce-"


class FramesFailedError(UserError):
    """Some source frames could not be converted (each was reported on its own line)."""


def reduce_frame(job):
    """Resize one frame (src, dst, (W, H)) atomically; returns 1 if written. A source that cannot be decoded
    raises CorruptFileError naming it; a failed write (disk full, ...) raises the OSError. Either way no file is
    left under dst."""
    src, dst, size = job
    try:
        with Image.open(src) as img:
            small = img.convert("RGB").resize(size, Image.BILINEAR)
    except DECODE_ERRORS as err:
        raise CorruptFileError(src, "an FPHAB colour frame (JPEG)", f"not a readable image ({err})") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f"{TMP_MARK}{os.getpid()}-{dst.name}"
    try:
        small.save(tmp, format="JPEG")
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return 1


def _try_reduce_frame(job) -> Optional[str]:
    """reduce_frame(job); the message of a CorruptFileError instead of raising it (None on success)."""
    try:
        reduce_frame(job)
    except CorruptFileError as err:
        return str(err)
    return None


def list_jobs(data_root: Path, width: int):
    src_root = data_root / "Video_files"
    if not src_root.is_dir():
        raise MissingDataError(src_root, "the full-resolution FPHAB frames "
                                         "Video_files/Subject_k/<action>/<seq>/color/color_XXXX.jpeg (from the FPHAB "
                                         "download)", "Point --data_root at the FPHAB folder")
    dst_root = data_root / f"Video_files_{width}"
    size = (width, height_for_width(width))
    jobs, done, stale = [], 0, 0
    others = [p for p in src_root.glob("Subject_*/*/*/color/*") if p.suffix != ".jpeg" and p.is_file()]
    if others:
        print(f"note: {len(others)} files in {src_root} are not .jpeg frames and are not resized (FPHAB frames are "
              f"color_XXXX.jpeg; e.g. {sorted(others)[0]})")
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


def parser() -> Parser:
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_root", default="data/fhbhands", help="FPHAB folder holding Video_files/")
    p.add_argument("--workers", type=positive_int, default=4, help="worker processes")
    p.add_argument("--width", type=positive_int, default=480, help="output width (height keeps 16:9)")
    return p


def run(argv=None) -> int:
    """Resize every missing frame; raises FramesFailedError after all others are done if some failed."""
    args = parser().parse_args(argv)
    jobs, done, stale = list_jobs(Path(args.data_root), args.width)
    print(f"{len(jobs)} frames to resize, {done} already done, {stale} stale temporary files removed")
    if args.workers <= 1:
        failures = [_try_reduce_frame(job) for job in tqdm(jobs, unit="frame")]
    else:
        with Pool(args.workers) as pool:
            failures = list(tqdm(pool.imap_unordered(_try_reduce_frame, jobs, chunksize=16), total=len(jobs),
                                 unit="frame"))
            pool.close()  # let the workers exit on their own rather than by the SIGTERM of Pool.terminate()
            pool.join()
    failures = [message for message in failures if message is not None]
    for message in failures:
        print(f"error: {message}", file=sys.stderr)
    if failures:
        raise FramesFailedError(f"{len(failures)} of {len(jobs)} frames could not be read (listed above); the "
                                f"other {len(jobs) - len(failures)} were written. Replace the listed source frames "
                                "and run again: finished frames are skipped")
    return 0


def main(argv=None) -> int:
    """Exit status 0; 1 with one "error: ..." line per problem; 130 / 143 for SIGINT / SIGTERM."""
    return run_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
