"""Cost of the photometric consistency path at each loss width (--consist_width) and for a pyramid (--consist_scales):
forward + backward of models.warpreg.pair_warp_loss for a batch of pairs, from the query vertices (what the loss
adds to a training step on top of the network), per pair.

Scene as benchmarks/bench_consist_step.py: a randomly initialised MeshRegNet predicts hand + object meshes on toy
frames; the reference "GT" meshes are the prediction shifted by 5 mm (small, valid flow); the frames of each width
are the toy frames drawn at that width with their own intrinsics.

Usage: .venv/bin/python benchmarks/bench_consist_width.py [--widths 480 240 120] [--pyramid 1 2 4]
       [--batch_size 8] [--repeats 5] [--threads 1]
Writes benchmarks/results/bench_consist_width.json (best of --repeats, after one warm-up).
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_consist_step import make_batch  # noqa: E402
from handobjectconsist.datasets import sample_keys as K  # noqa: E402
from handobjectconsist.models.meshregnet import MeshRegNet  # noqa: E402
from handobjectconsist.models.warpreg import WarpRegNet, hand_object_mesh, pair_warp_loss  # noqa: E402
from handobjectconsist.synth.mano_hand import write_synthetic_mano  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_consist_width.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[480, 240, 120])
    parser.add_argument("--pyramid", type=int, nargs="*", default=[1, 2, 4],
                        help="factors of a pyramid at the first width (none: skip)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = [(f"width {w}", w, (1,)) for w in args.widths]
    if args.pyramid:
        cases.append((f"pyramid {args.widths[0]}/{'-'.join(map(str, args.pyramid))}", args.widths[0],
                      tuple(args.pyramid)))
    rows = {}
    with tempfile.TemporaryDirectory() as mano_root:
        write_synthetic_mano(mano_root, seed=0)
        net = MeshRegNet(mano_root, encoder_arch="tiny").eval()
        warp = WarpRegNet(net, gt_refs=True)
        for name, width, scales in cases:
            query = make_batch(mano_root, args.batch_size, width, torch.device("cpu"))
            with torch.no_grad():
                _, results, _ = net(query)
            shift = torch.tensor([0.005, -0.003, 0.0])
            ref = dict(query)
            ref[K.IMAGE] = torch.roll(query[K.IMAGE], 2, dims=3)
            ref[K.DIST2QUERY] = torch.ones(args.batch_size, dtype=torch.long)
            verts_r, faces = hand_object_mesh(results["recov_handverts3d"] + shift, warp.hand_faces,
                                              results["recov_objverts3d"] + shift, query[K.OBJ_FACES],
                                              query.get(K.OBJ_VERTS_MASK), query.get(K.OBJ_FACES_MASK))
            verts_q = hand_object_mesh(results["recov_handverts3d"], warp.hand_faces, results["recov_objverts3d"],
                                       query[K.OBJ_FACES], query.get(K.OBJ_VERTS_MASK),
                                       query.get(K.OBJ_FACES_MASK))[0].requires_grad_()
            best = float("inf")
            for repeat in range(args.repeats + 1):
                start = time.perf_counter()
                loss, _ = pair_warp_loss(verts_q, verts_r, faces, query, ref, warp.wrist_face_ids, scales=scales)
                loss.mean().backward()
                seconds = time.perf_counter() - start
                verts_q.grad = None
                if repeat:
                    best = min(best, seconds)
            rows[name] = {"width": width, "scales": list(scales), "ms_per_batch": best * 1e3,
                          "ms_per_pair": best * 1e3 / args.batch_size}
            print(f"{name:<22} {best * 1e3:8.1f} ms per batch of {args.batch_size}, "
                  f"{best * 1e3 / args.batch_size:6.1f} ms per pair", flush=True)
    payload = {"batch_size": args.batch_size, "threads": torch.get_num_threads(), "repeats": args.repeats,
               "platform": platform.platform(), "torch": torch.__version__, "cases": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=1))
    print(f"wrote {RESULTS}")
    return payload


if __name__ == "__main__":
    main()
