#!/usr/bin/env bash
# The one GPU check: correctness on the GPU, the real Trainer on CUDA, the trainer's speed against the
# bench loop, then the benchmark matrix (docs/benchmarks.md says what each part measures and took).
#
#   bash benchmarks/gpu_check.sh             (from the repository root, on a machine with one GPU)
#   PARTS="correct trainer" bash benchmarks/gpu_check.sh     (some parts of: correct trainer speed bench)
#
# The library needs only torch, torchvision, numpy, pillow and tqdm (the GPU machine's image has them)
# and runs from this checkout (PYTHONPATH). Results go to $OUT (default .bench/gpu_check/):
#   bench.json      every case of the bench matrix
#   bench.txt       the tables, the targets (PASS / FAIL / not measured: benchmarks/targets.py), the
#                   50-epoch estimates and the steps' exit codes
#   gpu_check.log   everything printed; selfcheck.log and pytest.log the correctness steps
#   trainer.json    the Trainer's runs on CUDA (benchmarks/trainer_check.py), trainer.txt its checks
#   speed/          the trainer against the bench loop (benchmarks/trainer_speed.py): results.json, summary.txt
# Steps run under `timeout` and inside a total budget (BUDGET seconds, default 420): a step that
# does not fit is skipped, a step that hangs is killed, and results measured so far stay in their files.
# GPU_CHECK_DRY=1 runs the same steps on the CPU at toy sizes (a check of this script, not of a GPU).
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/.bench/gpu_check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
BUDGET=${BUDGET:-420}
PARTS=${PARTS:-correct trainer bench}
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
JSON="$OUT/bench.json"
STEPS="$OUT/steps.txt"
: > "$STEPS"
rm -f "$JSON"

export PYTHONPATH=${PYTHONPATH:-$PWD}

if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then
  SIZE=(--device cpu --backbone tiny --image-size 64 --num-classes 10 --embed-dim 32 --workers 1 --nvjpeg-workers 1 --threads 1)
  RUN=(--steps 2 --warmup 1 --max-seconds 5 --no-compile)
  JPEGS=16; AUTO=(--batch 2); SELF=(--device cpu --size 64 --backbone tiny); B18=2; DRY=(--dry)
else
  SIZE=()
  RUN=(--steps 15 --warmup 3 --max-seconds 6)
  JPEGS=1024; AUTO=(--batch auto --max-batch 256); SELF=(); B18=18; DRY=()
fi
JPEG_DIR=.bench/jpeg_$JPEGS

left() { echo $((BUDGET - SECONDS)); }
# step NAME MAX_SECONDS MIN_SECONDS command...: run under timeout min(MAX, time left); skip if < MIN is left
step() {
  local name=$1 max=$2 min=$3; shift 3
  local t; t=$(left); [ "$t" -gt "$max" ] && t=$max
  if [ "$t" -lt "$min" ]; then
    echo "== $name: skipped ($(left) s of the budget left, needs $min)" | tee -a "$STEPS"; return
  fi
  echo; echo "== $name (timeout ${t} s, $(left) s of the budget left)"
  local t0=$SECONDS
  timeout -k 10 "$t" "$@"
  local rc=$?
  local note=""; [ $rc -eq 124 ] || [ $rc -eq 137 ] && note=" (timed out)"
  echo "== $name: exit $rc$note after $((SECONDS - t0)) s" | tee -a "$STEPS"
}
BENCH=($PY -m dbdgcn_lib bench ${SIZE[@]+"${SIZE[@]}"} "${RUN[@]}" --json "$JSON")
# the batch a finished case used (D compares variants at B's batch, so the head's share is like for like)
batch_of() {
  $PY - "$JSON" "$1" "$2" <<'EOF'
import json, sys
path, phase, default = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    rows = json.load(open(path))["results"]
except (OSError, ValueError):
    rows = []
rows = [r for r in rows if r.get("variant") == "db_dgcn" and r.get("mode") == "fast" and r.get("phase") == phase
        and r.get("status") == "ok" and r.get("batch_auto")]
print(rows[-1]["batch"] if rows else default)
EOF
}

echo "== environment"
date -u
nvidia-smi || true
$PY -c "import sys, torch, torchvision; print('python', sys.version.split()[0], '| torch', torch.__version__, '| torchvision', torchvision.__version__, '| CUDA', torch.version.cuda, '| GPU', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
echo "CPUs: $(nproc)"; free -g | head -2; df -h /dev/shm /tmp | cat

# 1. correctness (in parallel with writing the JPEGs the real-pipeline cases read)
if want bench; then
  echo; echo "== writing $JPEGS photo-like JPEGs to $JPEG_DIR (background)"
  $PY -c "from dbdgcn_lib.data import make_jpeg_folder; make_jpeg_folder('$JPEG_DIR', $JPEGS)" &
  JPEG_PID=$!
fi
if want trainer; then
  echo "== writing the trainer check's dataset (background)"
  $PY benchmarks/trainer_check.py ${DRY[*]+${DRY[*]}} --only data --out .bench/trainer_check \
    > "$OUT/trainer_data.log" 2>&1 &
  DATA_PID=$!
fi
if want correct; then
  step "selfcheck" 120 20 $PY benchmarks/gpu_selfcheck.py ${SELF[@]+"${SELF[@]}"} > "$OUT/selfcheck.log" 2>&1 &
  SELF_PID=$!
  step "pytest (CUDA tests)" 150 20 $PY -m pytest -q -p no:cacheprovider tests/test_data_images.py tests/test_bench.py \
    tests/test_inputs.py -k cuda > "$OUT/pytest.log" 2>&1
  wait $SELF_PID
  cat "$OUT/selfcheck.log"; tail -5 "$OUT/pytest.log"
fi

# 2. T: the real Trainer on CUDA: the smoke preset per input pipeline (bf16, channels_last, fused SGD,
#    pinned memory, evaluate on the checkpoint)
if want trainer; then
  wait "$DATA_PID"; head -1 "$OUT/trainer_data.log"
  # runs (checkpoints) stay in .bench/; the results are copied to $OUT
  step "T: trainer on CUDA (smoke per pipeline)" 180 30 \
    bash -c "set -o pipefail; $PY benchmarks/trainer_check.py ${DRY[*]+${DRY[*]}} --only smoke \
      --out .bench/trainer_check 2>&1 | tee '$OUT/trainer.txt'"
  cp .bench/trainer_check/trainer.json "$OUT/trainer.json" 2>/dev/null
fi

# 3. S: the trainer's speed (paper at batch 18 with CUDA graphs, paper_large at batch 144) and the
#    bench loop at batch 144 on the same card, in one process with a budget of its own
if want speed; then
  step "S: trainer speed against the bench loop" 570 240 \
    $PY benchmarks/trainer_speed.py ${DRY[*]+${DRY[*]}} --out "$OUT/speed" --budget $(( $(left) - 60 ))
fi
[ -n "${JPEG_PID:-}" ] && wait "$JPEG_PID"

if want bench; then
  # 4. A: as released (float32, NCHW, eager) and fast without compile, all variants, batch 18:
  #    the 3x baseline, the batch-18 bf16 memory target, eager speed-ups and head shares.
  step "A: released vs fast-eager, batch 18" 120 30 \
    "${BENCH[@]}" --variants add_gcn,db_dgcn,resnet --modes released,fast --no-compile --phases train,eval \
    --batch $B18 --released-batch $B18 --label batch18

  # 5. B: db_dgcn fast (bf16, channels_last, compiled), the largest batch that fits; model alone, then
  #    with the real JPEG pipeline in the loop (uint8: CPU workers, then nvjpeg: decoding on the GPU)
  step "B1: db_dgcn fast train (compiled; synthetic, jpeg/uint8, jpeg/nvjpeg)" 240 90 \
    "${BENCH[@]}" --variants db_dgcn --modes fast --phases train --inputs synthetic,jpeg --pipelines uint8,nvjpeg \
    "${AUTO[@]}" --jpeg-dir "$JPEG_DIR" --jpeg-count $JPEGS --label fast
  step "B2: db_dgcn fast eval (compiled; synthetic, jpeg/uint8, jpeg/nvjpeg)" 150 60 \
    "${BENCH[@]}" --variants db_dgcn --modes fast --phases eval --inputs synthetic,jpeg --pipelines uint8,nvjpeg \
    "${AUTO[@]}" --jpeg-dir "$JPEG_DIR" --jpeg-count $JPEGS --label fast

  # 6. D: resnet (= the backbone alone: the head's share) and add_gcn, fast and compiled, at B's batches
  BT=$(batch_of train 128); BE=$(batch_of eval 256)
  [ "${GPU_CHECK_DRY:-0}" = 1 ] && BT=2 && BE=2
  step "D: resnet and add_gcn fast (compiled) at batch $BT / $BE" 240 60 \
    "${BENCH[@]}" --variants resnet,add_gcn --modes fast --phases train,eval --batch "$BT" --eval-batch "$BE" --label fast
fi

# report
echo
{
  files=()
  for f in "$JSON" "$OUT/speed/results.json" "$OUT/trainer.json"; do [ -f "$f" ] && files+=("$f"); done
  [ ${#files[@]} -gt 0 ] && $PY benchmarks/targets.py "${files[@]}"
  echo; echo "steps:"; cat "$STEPS"
  echo "total: $SECONDS s"
} | tee "$OUT/bench.txt"
sleep 1  # let tee flush gpu_check.log
