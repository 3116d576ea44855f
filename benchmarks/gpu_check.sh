#!/usr/bin/env bash
# The one GPU check of issue 6: correctness on the GPU, the real Trainer on CUDA, then the benchmark
# matrix. Without the Trainer step it took 319 s on one H200; PARTS="correct trainer" took 407 s on one H100
# (the Trainer step, capped at 420 s, took 357 s there).
#
#   bash benchmarks/gpu_check.sh             (from the repository root, on a machine with one GPU)
#   PARTS="correct trainer" bash benchmarks/gpu_check.sh     (only some parts: correct trainer compare bench)
#
# Needs pycocotools: on the lent machine the wheel travels in .whl/ (made by ../shared/device/wheels.sh)
# and is installed into .site/ first. Results go to $OUT (default .bench/gpu_check/):
#   bench.json      every measured case (python -m dbdgcn_lib bench --show bench.json --targets)
#   bench.txt       the table, the issue's targets (PASS / FAIL / not measured) and the steps' exit codes
#   gpu_check.log   everything printed; selfcheck.log and pytest.log the correctness steps
#   trainer.json    the Trainer's runs (benchmarks/trainer_check.py), trainer.txt its checks and table
# Steps run under `timeout` and inside a total budget (BUDGET seconds, default 420): a step that
# does not fit is skipped, a step that hangs is killed, and results measured so far stay in bench.json.
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
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_FX_GRAPH_CACHE=1 TORCHINDUCTOR_AUTOGRAD_CACHE=1
JSON="$OUT/bench.json"
STEPS="$OUT/steps.txt"
: > "$STEPS"
rm -f "$JSON"

if [ "${GPU_CHECK_DRY:-0}" != 1 ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then  # the GPU machine's wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target .site .whl/*.whl \
    && export PYTHONPATH=$PWD/.site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD}

if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then
  SIZE=(--device cpu --backbone tiny --image-size 64 --num-classes 10 --embed-dim 32 --workers 1 --gpu-loader-workers 1)
  RUN=(--steps 2 --warmup 1 --max-seconds 5 --no-compile)
  JPEGS=16; AUTO=(--batch 2); SELF=(--device cpu --size 64 --backbone tiny); B18=2; BC=2; TRAINER=(--dry)
else
  SIZE=()
  RUN=(--steps 15 --warmup 3 --max-seconds 6)
  JPEGS=1024; AUTO=(--batch auto --max-batch 256); SELF=(); B18=18; BC=128; TRAINER=()
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
$PY -c "import pycocotools" 2>/dev/null || echo "WARNING: pycocotools missing: carry .whl/ (../shared/device/wheels.sh); dbdgcn_lib.data needs it"
echo "CPUs: $(nproc)"; free -g | head -2; df -h /dev/shm /tmp | cat

# 1. correctness (in parallel with writing the JPEGs the real-pipeline cases read)
if want bench || want compare; then
  echo; echo "== writing $JPEGS photo-like JPEGs to $JPEG_DIR (background)"
  $PY -c "from dbdgcn_lib.data.gpu import make_jpeg_folder; make_jpeg_folder('$JPEG_DIR', $JPEGS)" &
  JPEG_PID=$!
fi
if want trainer; then
  echo "== writing the trainer check's datasets (background)"
  $PY benchmarks/trainer_check.py ${TRAINER[*]+${TRAINER[*]}} --only data --out .bench/trainer_check \
    > "$OUT/trainer_data.log" 2>&1 &
  DATA_PID=$!
fi
if want correct; then
  step "selfcheck" 120 20 $PY benchmarks/gpu_selfcheck.py ${SELF[@]+"${SELF[@]}"} > "$OUT/selfcheck.log" 2>&1 &
  SELF_PID=$!
  step "pytest (CUDA tests)" 150 20 $PY -m pytest -q -p no:cacheprovider tests/test_gpu_pipeline.py tests/test_bench.py \
    tests/test_inputs.py -k cuda > "$OUT/pytest.log" 2>&1
  wait $SELF_PID
  cat "$OUT/selfcheck.log"; tail -5 "$OUT/pytest.log"
fi

# 2. T: the real Trainer on CUDA: the smoke preset per input pipeline (bf16, channels_last, fused SGD,
#    pinned memory, evaluate on the checkpoint), then its speed at 448 on COCO-like JPEGs
if want trainer; then
  wait "$DATA_PID"; head -1 "$OUT/trainer_data.log"
  # runs and data (checkpoints of hundreds of MB) stay in .bench/; the results are copied to $OUT
  step "T: trainer on CUDA (smoke per pipeline, then speed at 448)" 420 60 \
    bash -c "set -o pipefail; $PY benchmarks/trainer_check.py ${TRAINER[*]+${TRAINER[*]}} \
      --out .bench/trainer_check 2>&1 | tee '$OUT/trainer.txt'"
  cp .bench/trainer_check/trainer.json "$OUT/trainer.json" 2>/dev/null
fi
[ -n "${JPEG_PID:-}" ] && wait "$JPEG_PID"

# 3. C: the bench loop at the trainer's batch, on the same card as step T: db_dgcn fast and compiled,
#    model alone and with the uint8 (CPU-worker) pipeline; beside T's "b128 compiled uint8" row it
#    shows what the trainer's loop costs over the model's own step
if want compare; then
  step "C: bench at the trainer's batch $BC (db_dgcn fast compiled; synthetic, jpeg/cpu)" 200 90 \
    "${BENCH[@]}" --variants db_dgcn --modes fast --phases train,eval --input synthetic,jpeg --loader cpu \
    --batch $BC --eval-batch $BC --jpeg-dir "$JPEG_DIR" --jpeg-count $JPEGS --label trainer-batch
fi

if want bench; then
  # 4. A: as released (float32, NCHW, eager) and fast without compile, all variants, batch 18:
  #    the 3x baseline, the batch-18 bf16 memory target, eager speed-ups and head shares.
  step "A: released vs fast-eager, batch 18" 120 30 \
    "${BENCH[@]}" --variants add_gcn,db_dgcn,resnet --modes released,fast --no-compile --phases train,eval \
    --batch $B18 --released-batch $B18 --label batch18

  # 5. B: db_dgcn fast (bf16, channels_last, compiled), the largest batch that fits; model alone, then
  #    with the real JPEG pipeline in the loop (CPU workers, then nvJPEG on the GPU)
  step "B1: db_dgcn fast train (compiled; synthetic, jpeg/cpu, jpeg/gpu)" 240 90 \
    "${BENCH[@]}" --variants db_dgcn --modes fast --phases train --input synthetic,jpeg --loader cpu,gpu "${AUTO[@]}" \
    --jpeg-dir "$JPEG_DIR" --jpeg-count $JPEGS --label fast
  step "B2: db_dgcn fast eval (compiled; synthetic, jpeg/cpu, jpeg/gpu)" 150 60 \
    "${BENCH[@]}" --variants db_dgcn --modes fast --phases eval --input synthetic,jpeg --loader cpu,gpu "${AUTO[@]}" \
    --jpeg-dir "$JPEG_DIR" --jpeg-count $JPEGS --label fast

  # 6. D: resnet (= the backbone alone: the head's share) and add_gcn, fast and compiled, at B's batches
  BT=$(batch_of train 128); BE=$(batch_of eval 256)
  [ "${GPU_CHECK_DRY:-0}" = 1 ] && BT=2 && BE=2
  step "D: resnet and add_gcn fast (compiled) at batch $BT / $BE" 240 60 \
    "${BENCH[@]}" --variants resnet,add_gcn --modes fast --phases train,eval --batch "$BT" --eval-batch "$BE" --label fast
fi

# report
echo
{
  [ -f "$JSON" ] && $PY -m dbdgcn_lib bench --show "$JSON" --targets
  echo; echo "steps:"; cat "$STEPS"
  echo "total: $SECONDS s"
} | tee "$OUT/bench.txt"
sleep 1  # let tee flush gpu_check.log
