"""The `python -m handobjectconsist.synth fphab|ho3d` commands (fphab_main, ho3d_main): write, verify, preview.

The generators (synth.fphab, synth.ho3d) and the checker (synth.verify) know nothing of this command line.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from handobjectconsist.datasets.errors import MissingDataError
from handobjectconsist.entry import Parser, non_negative_int, positive_int
from handobjectconsist.errors import UsageError, require_output_dir
from handobjectconsist.synth import pipeline, verify
from handobjectconsist.synth.fphab import write_fphab
from handobjectconsist.synth.ho3d import write_ho3d


def contact_sheet(root, dataset: str, out_png, sequences: int = 6, frames: int = 4, width: int = 320) -> Path:
    """PNG grid: one row per sequence (up to `sequences`), `frames` frames spread over the sequence."""
    root = Path(root)
    if dataset == "fphab":
        folders = sorted(p for p in (root / "Video_files_480").glob("Subject_*/*/*/color"))
        pattern = "color_*.jpeg"
    else:
        folders = sorted(root.glob("*/*/rgb"))
        pattern = "*.png"
    if not folders:
        raise MissingDataError(root, f"frames of a {dataset} layout written by this tool")
    step = max(1, len(folders) // sequences)
    rows = []
    for folder in folders[::step][:sequences]:
        files = sorted(folder.glob(pattern))
        picks = [files[int(i)] for i in np.linspace(0, len(files) - 1, frames)]
        tiles = []
        for f in picks:
            img = Image.open(f).convert("RGB")
            tiles.append(np.asarray(img.resize((width, int(round(img.height * width / img.width))))))
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out_png)
    return out_png


def _parser(dataset: str) -> argparse.ArgumentParser:
    p = Parser(prog=f"python -m handobjectconsist.synth {dataset}",
               description=f"synthetic dataset in the {dataset.upper()} on-disk layout")
    p.add_argument("--out", help="dataset folder to write")
    p.add_argument("--preset", default="tiny", choices=("tiny", "demo", "bench"))
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--frames", type=positive_int, help="frames per sequence (overrides the preset)")
    p.add_argument("--workers", type=positive_int, default=1, help="rendering processes")
    p.add_argument("--supersample", type=positive_int, help="anti-aliasing factor (overrides the preset)")
    p.add_argument("--mano_root", help="folder with MANO_RIGHT.pkl; default: the synthetic hand (seed 0) "
                                       "written to a temporary folder")
    p.add_argument("--verify", metavar="DIR", help="re-read DIR, re-render from its annotations, print mismatch")
    p.add_argument("--verify_frames", type=positive_int, default=4, help="frames per sequence checked by --verify")
    p.add_argument("--preview", metavar="PNG", help="contact sheet of a few sequences of --out (or --verify DIR)")
    if dataset == "fphab":
        p.add_argument("--subjects", type=positive_int)
        p.add_argument("--seqs", type=positive_int, help="sequences per subject and action")
        p.add_argument("--full_res_frames", type=non_negative_int, help="first frames also written at 1920x1080")
    return p


def fphab_main(argv=None) -> int:
    """`python -m handobjectconsist.synth fphab ...`; returns the exit status."""
    return main("fphab", argv)


def ho3d_main(argv=None) -> int:
    """`python -m handobjectconsist.synth ho3d ...`; returns the exit status."""
    return main("ho3d", argv)


def main(dataset: str, argv=None) -> int:
    args = _parser(dataset).parse_args(argv)
    if not args.out and not args.verify:
        _parser(dataset).error("give --out DIR (write a dataset) and/or --verify DIR")
    check_paths(args)
    with pipeline.mano_root_or_synthetic(args.mano_root) as mano_root:
        _write_verify_preview(dataset, args, mano_root)
    return 0


def check_paths(args) -> None:
    """Before any work: --out must be a new or empty folder, or one this tool wrote (it is rewritten), never a folder
    of other files; --verify a folder this tool wrote; --preview a writable image file name (.png, .jpg, ...)."""
    if args.out:
        out = require_output_dir(args.out, "--out")
        if out.is_dir() and any(out.iterdir()) and not (out / pipeline.META_NAME).is_file():
            raise UsageError(f"--out {out}: the folder holds files not written by this tool (no "
                             f"{pipeline.META_NAME}); choose a new or empty folder")
    if args.verify:
        require_output_dir(args.verify, "--verify")
        if not (Path(args.verify) / pipeline.META_NAME).is_file():
            raise MissingDataError(Path(args.verify) / pipeline.META_NAME,
                                   "a dataset written by `python -m handobjectconsist.synth` (its settings file)")
    if args.preview:
        preview = Path(args.preview)
        if preview.suffix.lower() not in Image.registered_extensions() or preview.is_dir():
            raise UsageError(f"--preview {preview}: not an image file name; give a path ending in .png or .jpg")
        require_output_dir(preview.parent, "--preview")


def _write_verify_preview(dataset: str, args, mano_root: str) -> None:
    """--out (write and print statistics), then --verify, then --preview, with the MANO folder mano_root."""
    if args.out:
        timer = pipeline.Timer()
        overrides = {"frames": args.frames, "supersample": args.supersample}
        write = write_fphab if dataset == "fphab" else write_ho3d
        if dataset == "fphab":
            overrides.update(subjects=args.subjects, seqs=args.seqs, full_res_frames=args.full_res_frames)
        root = write(args.out, mano_root, preset=args.preset, seed=args.seed, workers=args.workers, **overrides)
        stats = json.loads((root / "hoc_synth.json").read_text())["stats"]
        stats.update({"seconds": round(timer(), 1), "size_mb": round(pipeline.dir_size_mb(root), 2)})
        print(json.dumps({"written": str(root), **stats}, indent=1))
    if args.verify:
        check = verify.verify_fphab if dataset == "fphab" else verify.verify_ho3d
        print(json.dumps({"verified": args.verify, **check(args.verify, mano_root, args.verify_frames)}, indent=1))
    if args.preview:
        path = contact_sheet(args.out or args.verify, dataset, args.preview)
        print(f"preview: {path}")
