"""Basin of the photometric loss: do rigid fits by the loss alone end closer to the truth?

On unannotated training frames of a synthetic FPHAB-layout set, each paired with its closest annotated frame (the
consist pairs of trainmeshwarp.py at --fraction), the query's TRUE hand and object meshes are moved by a known
rigid offset (a translation of --offsets_mm in a random direction and a --rotation_deg rotation about a random axis,
drawn per pair, the same directions for every size and candidate), then only their rotation and translation are
fitted by the photometric loss against the reference frame (consistency.posefit, --steps Adam steps, lr 1 degree /
1 mm per step). Candidates:
  - the loss's resolution: each width of --widths (frames loaded at that width, as --consist_width loads them) and
    the pyramid --pyramid_scales at --pyramid_width (--consist_scales);
  - depth: fitted ("depth": what --consist_params all / global move for a rigid part, rotation and the three
    translations) or held ("lateral": --consist_params lateral detaches the predicted scale, i.e. the depth, so the
    translation moves the part parallel to the image plane at its depth);
  - the reference distance bound K of --max_gaps (--consist_max_gap; "none": every pair): a subset of the pairs,
    the fits do not depend on it.
Reported per candidate and start offset, by reference-distance bucket: the share of pairs that end closer (mean
vertex error after the fit below the one at the start), the median end error (mm) for the hand and the object; the
pairs and unannotated frames each K keeps; the time per fit step (one pair, forward + backward, this process's
threads). Writes <out>/results.json (per-fit rows) and <out>/table.md.

The pairs: --pairs pairs over --sequences training sequences (pair i in sequence i mod S), reference distances
evenly spread over 1 .. (sequence length / 2 - 1), the query before the last annotated frame for odd i, after the
first one for even i. When --data_root holds no set, only those training sequences of the --preset set of
--data_seed are generated (each sequence is deterministic in the seed and its name, so they are the very
sequences of the full set; the split file lists only them).

    python experiments/photometric_basin.py --data_root data/synth_bench_val_basin --data_seed 1 \
        --mano_root assets/mano_synth --fraction 0.00625 --pairs 36 --sequences 18 --out experiments/results/NAME
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.sparsesup.data import dataset_dir, ensure_mano  # noqa: E402
from handobjectconsist.consistency.posefit import fit_rigid_motions, move_rigidly  # noqa: E402
from handobjectconsist.datasets import FPHAB, HandObjectDataset  # noqa: E402
from handobjectconsist.datasets import sample_keys as K  # noqa: E402
from handobjectconsist.entry import Parser, fraction_flag, positive_int, run_main  # noqa: E402
from handobjectconsist.errors import UsageError  # noqa: E402
from handobjectconsist.mano import ManoLayer  # noqa: E402
from handobjectconsist.visualize.posefit_demo import pose_errors  # noqa: E402

BUCKETS = ((1, 15), (16, 30), (31, 45), (46, 60))
PARTS = ("hand", "object")


def parser() -> argparse.ArgumentParser:
    p = Parser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_root", required=True, help="FPHAB folder (or a folder holding fhbhands/); generated "
                                                      "(the --sequences training sequences only) when missing")
    p.add_argument("--mano_root", required=True, help="folder with MANO_RIGHT.pkl (the synthetic hand is written "
                                                      "there when missing)")
    p.add_argument("--preset", default="bench", choices=["tiny", "demo", "bench"], help="synthetic set to generate")
    p.add_argument("--data_seed", type=int, default=1, help="seed of the generated set (1: the validation set)")
    p.add_argument("--fraction", type=fraction_flag, default=0.00625, help="annotated fraction (the pairing)")
    p.add_argument("--pairs", type=positive_int, default=36)
    p.add_argument("--sequences", type=positive_int, default=18, help="training sequences the pairs come from")
    p.add_argument("--offsets_mm", type=float, nargs="+", default=[20.0, 40.0], help="start translations (mm)")
    p.add_argument("--rotation_deg", type=float, default=12.0, help="start rotation of each part (degrees)")
    p.add_argument("--widths", type=positive_int, nargs="+", default=[480, 240, 120], help="loss widths")
    p.add_argument("--pyramid_width", type=positive_int, default=480, help="width of the pyramid's finest level")
    p.add_argument("--pyramid_scales", type=positive_int, nargs="*", default=[1, 2, 4],
                   help="pyramid factors (none: no pyramid candidate)")
    p.add_argument("--depth", nargs="+", default=["depth", "lateral"], choices=["depth", "lateral"],
                   help="fit the translations' depth, or hold it")
    p.add_argument("--max_gaps", nargs="+", default=["none", "30", "15"],
                   help="reference distance bounds K (frames; 'none': no bound)")
    p.add_argument("--steps", type=positive_int, default=100)
    p.add_argument("--lr", type=float, default=1.0, help="Adam lr, degrees / mm per step")
    p.add_argument("--seed", type=int, default=0, help="seed of the offset directions")
    p.add_argument("--out", required=True, help="folder for results.json and table.md")
    p.add_argument("--from_results", action="store_true",
                   help="fit nothing: rebuild table.md and the summary from the rows of <out>/results.json")
    return p


# ------------------------------------------------------------------------------------------------------ data
def ensure_subset(data_root, mano_root, preset: str, seed: int, sequences: int) -> Path:
    """The FPHAB folder of data_root; when missing, `sequences` training sequences of the preset, spread evenly over
    its training list, are generated there (via <folder>.partial, renamed at the end)."""
    folder = dataset_dir(data_root)
    if folder.is_dir():
        return folder
    import shutil

    from handobjectconsist.synth import fphab, pipeline

    config, seqs = fphab.plan(preset)
    train = [s for s in seqs if s.split == "train"]
    chosen = [train[int(i)] for i in np.unique(np.linspace(0, len(train) - 1, min(sequences, len(train))).round())]
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    print(f"[data] generating {len(chosen)} training sequences of the {preset} set, seed {seed}, in {folder}",
          flush=True)
    fphab._write_static_files(partial, config, chosen)
    pipeline.write_sequences(fphab._write_sequence, partial, chosen, config, seed, mano_root, 1, "fphab", preset)
    partial.rename(folder)
    return folder


def pick_pairs(reader: FPHAB, count: int) -> List[Dict]:
    """Up to count (sequence, query frame, reference frame, distance) over the reader's sequences (see module doc;
    a query that falls on an annotated frame is skipped)."""
    sequences = sorted(set(reader.seq_names))
    sparse = reader.sparse_map
    index = {(s, int(f)): i for i, (s, f) in enumerate(zip(reader.seq_names, reader.frame_ids))}
    pairs = []
    for i in range(count):
        seq = sequences[i % len(sequences)]
        frames = sorted(int(f) for s, f in zip(reader.seq_names, reader.frame_ids) if s == seq)
        max_distance = max(1, len(frames) // 2 - 1)
        distance = int(round(1 + i * (max_distance - 1) / max(count - 1, 1)))
        query = frames[0] + distance if i % 2 == 0 else frames[-1] - distance
        idx = index[(seq, query)]
        if sparse.annotated[idx]:  # only at fractions that annotate more than the ends: skip this pair
            continue
        ref = int(sparse.closest[idx])
        pairs.append({"sequence": seq, "query_frame": query, "reference_frame": int(reader.frame_ids[ref]),
                      "distance": int(abs(int(reader.frame_ids[ref]) - query)), "index": idx})
    return pairs


def kept_frames(reader: FPHAB, max_gap: Optional[int]) -> Dict:
    """Unannotated frames of the reader whose closest annotated frame is at most max_gap frames away."""
    sparse = reader.sparse_map
    weak = np.asarray(sparse.weak_idxs)
    gaps = np.asarray(sparse.dist2strong)[weak]
    kept = int(len(weak) if max_gap is None else (gaps <= max_gap).sum())
    return {"unannotated": int(len(weak)), "kept": kept, "share": kept / max(len(weak), 1)}


def offsets(pair_number: int, seed: int, size_mm: float, rotation_deg: float) -> Dict:
    """part -> (axis-angle radians (3,), translation metres (3,)): random directions per pair, given sizes."""
    rng = np.random.default_rng([seed, pair_number])
    out = {}
    for part in PARTS:
        axis, direction = rng.normal(size=3), rng.normal(size=3)
        axis, direction = axis / np.linalg.norm(axis), direction / np.linalg.norm(direction)
        out[part] = (torch.tensor(axis * np.radians(rotation_deg), dtype=torch.float32),
                     torch.tensor(direction * size_mm / 1000.0, dtype=torch.float32))
    return out


# ------------------------------------------------------------------------------------------------------ fits
def candidates(args) -> List[Dict]:
    """Loss resolutions x depth modes: {"name", "width", "scales", "depth"}."""
    resolutions = [(f"width {w}", w, (1,)) for w in args.widths]
    if args.pyramid_scales:
        scales = tuple(args.pyramid_scales)
        resolutions.append((f"pyramid {args.pyramid_width}/{'-'.join(map(str, scales))}", args.pyramid_width, scales))
    return [{"name": f"{name}, {mode}", "resolution": name, "width": width, "scales": list(scales), "depth": mode}
            for name, width, scales in resolutions for mode in args.depth]


def run_fits(args, root: Path, pairs: List[Dict], layer: ManoLayer) -> List[Dict]:
    rows = []
    hand_faces, wrist_ids = layer.closed_faces, layer.wrist_face_ids
    cands = candidates(args)
    for width in sorted({c["width"] for c in cands}):
        reader = FPHAB(root, split="train", fraction=args.fraction, input_width=width, mano_root=args.mano_root)
        dataset = HandObjectDataset(reader, mode="full", sample_nb=2, augment=False)
        position = {int(idx): pos for pos, idx in enumerate(dataset.indices)}
        for number, pair in enumerate(pairs):
            query, ref = dataset[position[pair["index"]]]
            hand_gt, obj_gt = query[K.HAND_VERTS3D], query[K.OBJ_VERTS3D]
            for size in args.offsets_mm:
                moves = offsets(number, args.seed, size, args.rotation_deg)
                hand_start = move_rigidly(hand_gt, *moves["hand"])
                obj_start = move_rigidly(obj_gt, *moves["object"])
                names = [c["name"] for c in cands if c["width"] == width]
                for cand in (c for c in cands if c["width"] == width):
                    start_time = time.perf_counter()
                    states = fit_rigid_motions(
                        query[K.IMAGE], ref[K.IMAGE], query[K.CAM_INTR], ref[K.CAM_INTR], hand_start, obj_start,
                        ref[K.HAND_VERTS3D], ref[K.OBJ_VERTS3D], hand_faces, query[K.OBJ_FACES], wrist_ids,
                        steps=args.steps, lr=args.lr, optimise_depth=cand["depth"] == "depth",
                        scales=cand["scales"])
                    seconds = time.perf_counter() - start_time
                    errors = [pose_errors(s.hand_verts, s.obj_verts, hand_gt, obj_gt, query[K.CAM_INTR_ORIG],
                                          query[K.REPORT_SCALE]) for s in (states[0], states[-1])]
                    rows.append({**{k: v for k, v in pair.items() if k != "index"}, "pair": number,
                                 "offset_mm": size, "candidate": cand["name"], "start": errors[0], "end": errors[1],
                                 "loss_start": states[0].loss, "loss_end": states[-1].loss,
                                 "seconds_per_step": seconds / (args.steps + 1)})
                done = [r for r in rows[-len(cands):] if r["offset_mm"] == size and r["pair"] == number]
                print(f"width {width}: pair {number + 1}/{len(pairs)} ({pair['distance']} frames), {size:g} mm: "
                      + "; ".join(f"{r['candidate']} hand {r['start']['hand_mm']:.1f}->{r['end']['hand_mm']:.1f} "
                                  f"object {r['start']['object_mm']:.1f}->{r['end']['object_mm']:.1f}"
                                  for r in done if r["candidate"] in names), flush=True)
    return rows


# ------------------------------------------------------------------------------------------------------ report
def parse_gap(text: str) -> Optional[int]:
    if text == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"--max_gaps: {text!r} is neither 'none' nor a number of frames >= 0")
    return value


def summarise(rows: List[Dict], cands: List[Dict], gaps: List[Optional[int]], offsets_mm: List[float],
              frames_kept: Dict) -> List[Dict]:
    """One entry per (candidate, K): per offset and bucket (and all) the pair count, the share ending closer and the
    median end error per part; the mean share over parts and offsets; the frames K keeps; seconds per step."""
    out = []
    for cand in cands:
        for gap in gaps:
            entry = {"candidate": cand["name"], "resolution": cand["resolution"], "depth": cand["depth"],
                     "width": cand["width"], "scales": cand["scales"], "max_gap": gap,
                     "frames": frames_kept["none" if gap is None else str(gap)], "by_offset": {}}
            chosen = [r for r in rows if r["candidate"] == cand["name"] and (gap is None or r["distance"] <= gap)]
            shares = []
            for size in offsets_mm:
                sized = [r for r in chosen if r["offset_mm"] == size]
                buckets = {}
                for label, low, high in [(f"{a}-{b}", a, b) for a, b in BUCKETS] + [("all", 0, 10 ** 9)]:
                    selected = [r for r in sized if low <= r["distance"] <= high]
                    cell = {"pairs": len(selected)}
                    for part in PARTS:
                        closer = [r["end"][f"{part}_mm"] < r["start"][f"{part}_mm"] for r in selected]
                        ends = [r["end"][f"{part}_mm"] for r in selected]
                        cell[f"{part}_closer"] = float(np.mean(closer)) if selected else None
                        cell[f"{part}_median_end_mm"] = float(np.median(ends)) if selected else None
                        cell[f"{part}_median_start_mm"] = (float(np.median([r["start"][f"{part}_mm"]
                                                                            for r in selected]))
                                                           if selected else None)
                    buckets[label] = cell
                entry["by_offset"][f"{size:g}"] = buckets
                shares += [buckets["all"]["hand_closer"], buckets["all"]["object_closer"]]
            entry["mean_closer"] = float(np.mean([s for s in shares if s is not None])) if chosen else None
            times = [r["seconds_per_step"] for r in rows if r["candidate"] == cand["name"]]
            entry["seconds_per_step"] = float(np.median(times)) if times else None
            out.append(entry)
    return out


def select(summary: List[Dict], min_share: float = 0.25, tie: float = 0.02) -> Dict:
    """The rule of experiments/README.md: among the (candidate, K) entries whose K keeps at least min_share of the
    unannotated frames, the highest mean share of pairs ending closer; entries within `tie` of it are ties, broken by
    the cheaper loss (the median time per fit step of its resolution, both depth modes), then the larger K (none
    first), then fitting depth. Returns the chosen entry with "flags" (the trainmeshwarp flags it maps to) and
    "tied" (the names of the tied entries)."""
    eligible = [e for e in summary if e["frames"]["share"] >= min_share and e["mean_closer"] is not None]
    best = max(e["mean_closer"] for e in eligible)
    tied = [e for e in eligible if e["mean_closer"] >= best - tie - 1e-12]
    cost = {}
    for entry in summary:
        cost.setdefault(entry["resolution"], []).append(entry["seconds_per_step"])
    cost = {name: float(np.median(values)) for name, values in cost.items()}

    def order(entry):
        gap = float("inf") if entry["max_gap"] is None else entry["max_gap"]
        return cost[entry["resolution"]], -gap, 0 if entry["depth"] == "depth" else 1

    chosen = dict(min(tied, key=order))
    flags = [f"--consist_width {chosen['width']}"]
    if chosen["scales"] != [1]:
        flags.append("--consist_scales " + " ".join(str(s) for s in chosen["scales"]))
    flags.append("--consist_params " + ("global" if chosen["depth"] == "depth" else "lateral"))
    if chosen["max_gap"] is not None:
        flags.append(f"--consist_max_gap {chosen['max_gap']}")
    chosen["flags"] = " ".join(flags)
    chosen["tied"] = [f"{e['candidate']}, K {'none' if e['max_gap'] is None else e['max_gap']}"
                      for e in sorted(tied, key=order)]
    chosen["resolution_cost_s_per_step"] = cost
    return chosen


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def _mm(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(summary: List[Dict], args, pairs: List[Dict], frames_kept: Dict, root: Path) -> str:
    gaps_text = ", ".join(f"K {k}: {v['kept']}/{v['unannotated']} unannotated frames ({100 * v['share']:.1f} %), "
                          f"{sum(1 for p in pairs if k == 'none' or p['distance'] <= int(k))} of {len(pairs)} pairs"
                          for k, v in frames_kept.items())
    lines = [f"Photometric basin: rigid fits by the loss alone ({args.steps} Adam steps, lr {args.lr:g} deg / mm) on "
             f"{len(pairs)} consist pairs of the train split of {root} (fraction {args.fraction:g}), start: the truth "
             f"moved by {' / '.join(f'{s:g}' for s in args.offsets_mm)} mm and {args.rotation_deg:g} degrees "
             f"(random directions per pair). 'closer': the mean vertex error after the fit is below the one at the "
             f"start. Kept by K: {gaps_text}.", "",
             "Summary (mean share of pairs ending closer over hand, object and the start offsets; time per fit step "
             "of one pair, forward + backward of the consistency path):", "",
             "| candidate | K | pairs | unannotated frames kept | mean share closer | s per step |",
             "|---|---|---|---|---|---|"]
    for entry in summary:
        size = f"{args.offsets_mm[0]:g}"
        lines.append(f"| {entry['candidate']} | {'none' if entry['max_gap'] is None else entry['max_gap']} | "
                     f"{entry['by_offset'][size]['all']['pairs']} | {100 * entry['frames']['share']:.1f} % | "
                     f"{_pct(entry['mean_closer'])} | {entry['seconds_per_step']:.4f} |")
    chosen = select(summary)
    lines += ["", f"**Chosen by the rule** (experiments/README.md): {chosen['candidate']}, K "
                  f"{'none' if chosen['max_gap'] is None else chosen['max_gap']} (mean share closer "
                  f"{_pct(chosen['mean_closer'])}; tied within 2 points: {'; '.join(chosen['tied'])}) -> "
                  f"`{chosen['flags']}`."]
    for size in args.offsets_mm:
        lines += ["", f"Start offset {size:g} mm (and {args.rotation_deg:g} degrees); per reference-distance bucket: "
                      "share closer hand / object, median end error hand / object (mm):", "",
                  "| candidate | K | " + " | ".join(f"{a}-{b} frames" for a, b in BUCKETS) + " | all |",
                  "|---|---|" + "---|" * (len(BUCKETS) + 1)]
        for entry in summary:
            cells = []
            for label in [f"{a}-{b}" for a, b in BUCKETS] + ["all"]:
                cell = entry["by_offset"][f"{size:g}"][label]
                if not cell["pairs"]:
                    cells.append("-")
                    continue
                cells.append(f"({cell['pairs']}) {_pct(cell['hand_closer'])} / {_pct(cell['object_closer'])}, "
                             f"{_mm(cell['hand_median_end_mm'])} / {_mm(cell['object_median_end_mm'])}")
            gap = "none" if entry["max_gap"] is None else entry["max_gap"]
            lines.append(f"| {entry['candidate']} | {gap} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(argv=None) -> int:
    args = parser().parse_args(argv)
    gaps = [parse_gap(text) for text in args.max_gaps]
    out = Path(args.out)
    if args.from_results:
        return rebuild(args, gaps, out)
    torch.set_grad_enabled(True)
    mano_root = ensure_mano(args.mano_root)
    root = ensure_subset(args.data_root, mano_root, args.preset, args.data_seed, args.sequences)
    reader = FPHAB(root, split="train", fraction=args.fraction, mano_root=mano_root)
    pairs = pick_pairs(reader, args.pairs)
    frames_kept = {("none" if gap is None else str(gap)): kept_frames(reader, gap) for gap in gaps}
    layer = ManoLayer(mano_root)
    start = time.time()
    rows = run_fits(args, root, pairs, layer)
    summary = summarise(rows, candidates(args), gaps, args.offsets_mm, frames_kept)
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(summary, args, pairs, frames_kept, root)
    (out / "table.md").write_text(table)
    command = "python experiments/photometric_basin.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "results.json").write_text(json.dumps(
        {"command": command, "args": vars(args), "threads": torch.get_num_threads(),
         "wall_seconds": time.time() - start, "pairs": pairs, "frames_kept": frames_kept, "summary": summary,
         "chosen": select(summary), "rows": rows}, indent=1))
    print(table)
    print(f"wrote {out / 'table.md'} and {out / 'results.json'} ({time.time() - start:.0f} s of fits)")
    return 0


def rebuild(args, gaps: List[Optional[int]], out: Path) -> int:
    """--from_results: the summary, the choice and table.md again from the saved rows (the fitting flags are those
    the results were made with)."""
    path = out / "results.json"
    if not path.is_file():
        raise UsageError(f"--from_results: no {path}; run without --from_results first")
    saved = json.loads(path.read_text())
    fitted = argparse.Namespace(**{**saved["args"], "max_gaps": args.max_gaps})
    summary = summarise(saved["rows"], candidates(fitted), gaps, fitted.offsets_mm, saved["frames_kept"])
    root = dataset_dir(fitted.data_root)
    table = format_table(summary, fitted, saved["pairs"], saved["frames_kept"], root)
    saved.update({"summary": summary, "chosen": select(summary)})
    path.write_text(json.dumps(saved, indent=1))
    (out / "table.md").write_text(table)
    print(table)
    return 0


def main(argv=None) -> int:
    return run_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
