#!/usr/bin/env bash
# One prepared check of the CUDA path: tests, benchmarks and short training runs, one summary.
#
#   bash benchmarks/gpu_check.sh --wheels DIR --out DIR [--device cuda|cpu] [--dry-run] [--python PY]
#
# --wheels DIR   wheels of the packages the GPU machine lacks (smplx, kornia, kornia_rs, trimesh, rtree; see
#                benchmarks/README.md); installed with pip --no-index --no-deps --target into OUT/site, nothing else
#                is touched. Omit it when they are installed already.
# --out DIR      where logs, benchmark JSONs and summary.md / summary.json go (created).
# --device       cuda (default); cpu only with --dry-run, to exercise every stage here.
# --dry-run      tiny sizes and short timeouts: every stage and the summary writer run in about a minute on a CPU.
#
# Stages (each under its own timeout; a failing stage is recorded and the next one runs): install, cuda tests
# (`pytest -m cuda`), render / consistency-step / train-step / data-loader (8 and 16 workers) benchmarks, synthetic
# FPHAB set at 480x270, trainmeshreg.py and trainmeshwarp.py with and without --amp (each cut at its time limit:
# the completed epochs' "timing" log lines give ms per step, samples/s, data-loader wait share, GPU memory peak).
# The whole check stays under 8 minutes on one GPU with 16 CPUs (stage limits add up to 440 s + start-up).
set -u
PY=python3
WHEELS=""
OUT=""
DEVICE=cuda
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --python) PY="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$OUT" ]; then echo "error: --out DIR is required (where the summary goes)" >&2; exit 2; fi
if [ "$DEVICE" != cuda ] && [ "$DRY" != 1 ]; then
  echo "error: --device $DEVICE needs --dry-run (the check measures the GPU)" >&2; exit 2
fi
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then echo "error: --wheels $WHEELS: no such folder" >&2; exit 2; fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
STAGES="$OUT/stages.tsv"
: >"$STAGES"
# The benchmarks write into benchmarks/results/ (the committed CPU figures): keep those and put them back at the end.
KEEP="$OUT/results_before"
mkdir -p "$KEEP" && cp benchmarks/results/*.json "$KEEP/" 2>/dev/null
# A stage that fails must not leave an earlier run's JSON to be reported as its result.
rm -f benchmarks/results/bench_render.json benchmarks/results/bench_consist_step.json \
  benchmarks/results/bench_dataloader.json

if [ "$DRY" = 1 ]; then
  WIDTH=64; BATCH=2; FRAMES=3; SUBJECTS=2; TRAIN_S=25; BENCH_ITERS=1; ARCH=tiny; LOADER_BATCHES=2; TEST_S=120
  LOADER_WORKERS="0 1"; TEST_ARGS="-m cuda tests/test_device_layers.py"
else
  WIDTH=480; BATCH=8; FRAMES=24; SUBJECTS=3; TRAIN_S=45; BENCH_ITERS=10; ARCH=resnet18; LOADER_BATCHES=30; TEST_S=120
  LOADER_WORKERS="8 16"; TEST_ARGS="-m cuda"
fi

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log to logs/NAME.log, record name/status/seconds
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/logs/$name.log" 2>&1
  local status=$?
  printf '%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - start))" >>"$STAGES"
  echo "   status $status, $((SECONDS - start)) s"
  return 0
}

# 1. missing packages from the wheel folder (smplx, kornia, trimesh are imported by the code paths checked here:
#    mano/layer.py, consistency/criteria.py, datasets/meshes.py; rtree only by trimesh's ray casting in the tests).
if [ -n "$WHEELS" ]; then
  stage install 120 "$PY" -m pip install --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$OUT/site" "$WHEELS"/*.whl
  export PYTHONPATH="$PYTHONPATH:$OUT/site"
fi
stage imports 60 "$PY" -c "
import importlib
missing = []
for name in ('smplx', 'kornia', 'trimesh', 'rtree', 'torch', 'torchvision', 'cv2', 'scipy', 'matplotlib', 'tqdm',
             'tensorboard', 'yaml', 'pytest'):
    try:
        importlib.import_module(name)
    except Exception as err:
        missing.append(f'{name} ({type(err).__name__}: {err})')
import torch
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
print('missing:', ', '.join(missing) or 'none')
raise SystemExit(1 if missing else 0)"

# 2. every CUDA-marked test (skipped on a machine without CUDA, so the dry run only checks the selection works).
stage tests "$TEST_S" "$PY" -m pytest -q -p no:cacheprovider $TEST_ARGS -o addopts="-ra --strict-markers" \
  --junitxml="$OUT/cuda_tests.xml"

# 3. benchmarks (their JSONs are copied into OUT).
stage bench_render 60 "$PY" benchmarks/bench_render.py --device "$DEVICE" --batch "$BATCH" --repeats "$BENCH_ITERS"
stage bench_consist_step 60 "$PY" benchmarks/bench_consist_step.py --device "$DEVICE" --batch_size "$BATCH" \
  --input_width "$WIDTH" --repeats "$BENCH_ITERS" --encoder_arch "$ARCH"
stage bench_train_step 60 "$PY" benchmarks/bench_train_step.py --device "$DEVICE" --batch_size "$BATCH" \
  --input_width "$WIDTH" --iters "$BENCH_ITERS" --warmup 1 --encoder_arch "$ARCH" --out "$OUT/bench_train_step.json"

# 4. synthetic FPHAB set (480x270 frames) and MANO, as the demo makes them.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"  # data and runs: not under OUT (few files come back)
DATA="$WORK/data"
stage synth_mano 60 "$PY" -m handobjectconsist.synth mano --out "$DATA/mano"
stage synth_fphab 120 "$PY" -m handobjectconsist.synth fphab --out "$DATA/fhbhands" --preset demo \
  --subjects "$SUBJECTS" --frames "$FRAMES" --supersample 1 --workers "$(nproc)" --mano_root "$DATA/mano"
stage bench_dataloader 60 "$PY" benchmarks/bench_dataloader.py --data_root "$DATA/fhbhands" --mano_root "$DATA/mano" \
  --workers $LOADER_WORKERS --items "$((LOADER_BATCHES * 8))" --device "$DEVICE"

# 5. training runs, cut at their time limit (exit 124 is expected); --pretrained none where the flag knows it.
PRETRAINED=()
if "$PY" trainmeshreg.py --help 2>/dev/null | grep -q imagenet; then PRETRAINED=(--pretrained none); fi
COMMON=(--data_root "$DATA" --mano_root "$DATA/mano" --train_datasets fhbhands --val_dataset fhbhands
        --input_width "$WIDTH" --batch_size "$BATCH" --encoder_arch "$ARCH" --device "$DEVICE" --epochs 100000
        --eval_freq -1 --epoch_display_freq 0 --display_freq 0 --snapshot 0 --freeze_batchnorm "${PRETRAINED[@]}")
for amp in "" "--amp"; do
  tag=$([ -n "$amp" ] && echo amp || echo fp32)
  stage "trainmeshreg_$tag" "$TRAIN_S" "$PY" trainmeshreg.py "${COMMON[@]}" $amp --exp_dir "$WORK/runs/reg_$tag"
  stage "trainmeshwarp_$tag" "$TRAIN_S" "$PY" trainmeshwarp.py "${COMMON[@]}" $amp --fraction 0.25 \
    --consist_dataset fhbhands --exp_dir "$WORK/runs/warp_$tag"
done

cp benchmarks/results/bench_render.json benchmarks/results/bench_consist_step.json \
  benchmarks/results/bench_dataloader.json "$OUT/" 2>/dev/null
cp "$KEEP"/*.json benchmarks/results/ 2>/dev/null
rm -rf "$KEEP"

# 6. summary.json + summary.md
"$PY" benchmarks/gpu_check_summary.py --out "$OUT" --device "$DEVICE" $([ "$DRY" = 1 ] && echo --dry-run)
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs stages.tsv && rm -rf "$WORK"
