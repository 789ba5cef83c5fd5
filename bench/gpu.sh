#!/usr/bin/env bash
# Every benchmark of this repository in one call, on a machine with one CUDA card (or on the
# CPU at a small size), with nothing but the repository and the machine's own PyTorch.
#
#   bash bench/gpu.sh                 # a CUDA card if torch sees one, else the CPU sizes
#   bash bench/gpu.sh --cpu           # the CPU sizes (a check of the whole path, minutes)
#   bash bench/gpu.sh --cpu --smoke   # every step at its tiniest (about 2 min on 2 cores; the test runs subsets)
#   bash bench/gpu.sh --only recipe_graphs,report    # rerun some steps (names below)
#
# Options: --cpu | --cuda (default: cuda when torch sees a card), --smoke, --budget SECONDS,
# --out DIR, --work DIR (scratch), --only STEP,STEP, --skip STEP,STEP.
#
# On a lent card machine (see bench/README.md):
#   bash bench/wheels.sh              # here, once: fills the git-ignored bench/wheels/
#   run(command="bash bench/gpu.sh", carry=["bench/wheels"], timeout_s=540)
#
# Steps, in this order (each under `timeout`, never stopping the script when it fails); the
# new work of issue 15 first, then the figures issue 6 measured:
#   data            the demo generator's synthetic faces at 182 px (the recipe runs reuse them)
#   ceilings        bench/ceilings.py: matmul TFLOP/s, device copy GB/s, the FPS ceiling
#   recipe_resident modelzoo run facenet, the recipe (Inception-ResNet-v1 160 of 182, batch 90)
#                   with bf16 autocast, channels_last, the decoded cache held resident
#                   (train.resident=on), no compile
#   recipe_graphs   the same with the step captured in a CUDA graph (train.cuda_graphs=true, no
#                   torch.compile); the record says captured or fell back, and so does the table
#   cuda_tests      pytest tests/modelzoo/train/test_resident.py and test_graphs.py (their CUDA tests
#                   run on a card and are skipped with the reason elsewhere)
#   batch_curve     recipe_graphs at larger batches (256 and 520 on a card), fewer steps: rows
#                   of their own, apart from the recipe's batch 90
#   resnet50        bench/resnet50_bench.py: the classification plugin's trainer step vs
#                   torchvision's reference step, and the matmul peak
#   recipe_fast     modelzoo run facenet --profile casia-fast (bf16, channels_last, decoded cache,
#                   torch.compile reduce-overhead: one to two minutes of compiling on the H200;
#                   not on the CPU): the compile side of recipe_graphs' comparison
#   recipe_bf16     the recipe with bf16 autocast and channels_last through the DataLoader
#   recipe_fp32     the recipe in fp32
#   train_bench     bench/train_bench.py: ours vs the plain port, end to end and compute-only
#   pipeline        bench/pipeline_bench.py: the input pipeline alone, ours vs torchvision's
#   mtcnn           bench/mtcnn_bench.py: ours vs facenet-pytorch (real faces only: the LFW
#                   sample in bench/wheels/lfw or $MODELZOO_TEST_DATA/lfw; else skipped)
#   demo            modelzoo run facenet --profile demo (train + evaluate)
#   lfw_protocol    bench/lfw_protocol_bench.py (numpy, on the host CPU)
#   cli_startup     bench/cli_startup.py (on the host CPU)
#   zoo_recipes     the zoo's own training scripts as modelzoo recipes (issue 29), on a generated
#                   ImageFolder: pytorch-imagenet (profile tiny) everywhere, zoo-resnet50 (tiny: the
#                   zoo's train.py, which calls torch.cuda.synchronize) on a card; --dry-run of the
#                   four zoo recipes as shipped. Needs the zoo checkout: $MODELZOO_ZOO_ROOT, else
#                   bench/wheels/zoo (bench/wheels.sh copies it there); skipped with the reason without
#   report          modelzoo report --output $OUT
# A global time budget (--budget, default 490 s on a card: the script ends within about 500 s,
# inside a 540 s device call) shortens the last steps' limits and skips what no longer fits
# (on a card, a step that needs more than what is left, such as recipe_fast's compile, is
# skipped rather than cut short), so that the table always comes out.
#
# $OUT (default /tmp/modelzoo-gpu-out) receives at most 8 files: gpu.log, summary.md (the
# table, also printed last), bench.json (every step's status and figures), bench.tgz (each
# step's JSON and log, the run records without checkpoints), and the report's results.md,
# index.html, results.json, results.csv.
#
# Environment: PYTHON (a python with torch; default: the first of the checkout's .venv/bin/python
# (bash init.sh), python3, /opt/torch/.venv/bin/python3, python that imports torch), OUT,
# MODELZOO_BENCH_WORK (scratch, default /tmp/modelzoo-bench-gpu), MODELZOO_BENCH_FAIL=step1,step2
# (those steps are replaced by a command that fails: the test of the failure path).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1

MODE=auto
SMOKE=0
BUDGET=
ONLY=
SKIP=
OUT=${OUT:-/tmp/modelzoo-gpu-out}
WORK=${MODELZOO_BENCH_WORK:-/tmp/modelzoo-bench-gpu}
FORCE_FAIL=${MODELZOO_BENCH_FAIL:-}
ALL_STEPS="data ceilings recipe_resident recipe_graphs cuda_tests batch_curve resnet50 recipe_fast recipe_bf16 recipe_fp32 train_bench pipeline mtcnn demo lfw_protocol cli_startup zoo_recipes report"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) MODE=cpu; shift ;;
        --cuda) MODE=cuda; shift ;;
        --smoke) SMOKE=1; shift ;;
        --budget) BUDGET=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --skip) SKIP=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for list in "$ONLY" "$SKIP" "$FORCE_FAIL"; do
    for name in ${list//,/ }; do
        case " $ALL_STEPS " in *" $name "*) ;; *) echo "gpu.sh: unknown step '$name'; steps: $ALL_STEPS" >&2; exit 2 ;; esac
    done
done
case "$BUDGET" in ''|*[!0-9]*) [ -z "$BUDGET" ] || { echo "gpu.sh: --budget takes whole seconds" >&2; exit 2; } ;; esac

mkdir -p "$OUT" "$WORK" || exit 1
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)
RESULTS=$WORK/results
LOGS=$RESULTS/logs
rm -rf "$RESULTS" "$WORK/runs"    # this call's results only (the generated images are kept)
mkdir -p "$LOGS" "$WORK/runs" "$WORK/cache"
for stale in gpu.log summary.md bench.json bench.tgz results.md index.html results.json results.csv; do
    rm -f "$OUT/$stale"          # only the files this script writes there
done

exec > >(tee -a "$OUT/gpu.log") 2>&1
TEE_PID=$!
START=$SECONDS
log() { printf '[gpu.sh +%4ds] %s\n' "$((SECONDS - START))" "$*"; }

# --- Python, torch and the card -------------------------------------------------------------
PY=${PYTHON:-}
CUDA_SEEN=
if [ -z "$PY" ]; then
    for candidate in "$REPO/.venv/bin/python" python3 /opt/torch/.venv/bin/python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then
            CUDA_SEEN=$("$candidate" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null) \
                && { PY=$(command -v "$candidate"); break; }
        fi
    done
else
    CUDA_SEEN=$("$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null) || PY=
fi
if [ -z "$PY" ]; then
    log "no python with torch found (set PYTHON=/path/to/python): nothing can run"
    exit 1
fi
if [ "$MODE" = auto ]; then
    if [ "$CUDA_SEEN" = True ]; then MODE=cuda; else MODE=cpu; fi
elif [ "$MODE" = cuda ] && [ "$CUDA_SEEN" != True ]; then
    log "--cuda given, but torch sees no CUDA card"
    exit 1
fi
DEVICE=$MODE
export PYTHONUNBUFFERED=1
if [ "$SMOKE" = 1 ]; then export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}; fi
log "python $PY; device $DEVICE; smoke $SMOKE; OUT $OUT; scratch $WORK"
if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || log "nvidia-smi not available"
fi

# --- Sizes ----------------------------------------------------------------------------------
CORES=$(nproc 2>/dev/null || echo 2)
declare -A MIN_S=()                          # step -> seconds it needs at the least (card sizes)
if [ "$DEVICE" = cuda ]; then
    IMG=182; CROP=160; BATCH=90
    IDS=300; PER=30; TEST_IDS=150              # 9000 training + 1200 test images
    WORKERS=$(( CORES > 4 ? (CORES - 2 < 12 ? CORES - 2 : 12) : 2 ))
    # Plain port and two of ours (recipe_bf16 below measures bf16 + channels_last without the
    # cache), 2 rounds: 6 processes of about 15-20 s.
    TB=(--steps 40 --warmup 10 --compute-steps 30 --repeats 2 --run-timeout 90 --variant "fp32:"
        --variant "bf16+cl+cache:train.amp=bf16,train.channels_last=true,data.decoded_cache=true")
    RECIPE_STEPS=300; RECIPE_WARMUP=30; RECIPE_COMPUTE=50
    DEMO_SETS=(--set train.num_workers=4)
    PIPE=(--batches 20 --repeats 2 --workers 4 "$WORKERS")
    MTCNN=(-n 300 --block 100)
    LFWB=(--quick); CLI=(--repeat 5)
    QUICK=()
    # Issue 15: the batch curve (recipe_graphs at larger batches; separate rows from batch 90),
    # ResNet-50 at the zoo's AMP size (224 px, batch 300, fp16) in one round, all CUDA tests.
    CURVE_BATCHES="256 520"; CURVE_STEPS=100; CURVE_WARMUP=20; CURVE_COMPUTE=30; CURVE_PER_RUN=75
    R50=(--repeats 1 --run-timeout 80)
    PYTEST_SELECT=()
    # What a step needs at the least: less left in the budget skips it with the reason rather
    # than stopping it at a limit it cannot finish within (recipe_fast compiles for 1-2 min).
    MIN_S=([recipe_fast]=130 [batch_curve]=50 [resnet50]=50 [train_bench]=90 [recipe_fp32]=40 [recipe_bf16]=40)
    [ -n "$BUDGET" ] || BUDGET=490
elif [ "$SMOKE" = 0 ]; then
    IMG=90; CROP=80; BATCH=16                  # Inception-ResNet-v1 needs a crop of 75 px or more
    IDS=40; PER=20; TEST_IDS=40                # 40: the plugin asks for 100 same pairs per fold
    WORKERS=$(( CORES > 2 ? 2 : 1 ))
    TB=(--steps 10 --warmup 3 --repeats 3 --run-timeout 300)
    RECIPE_STEPS=30; RECIPE_WARMUP=5; RECIPE_COMPUTE=10
    DEMO_SETS=(--max-steps 300)
    PIPE=(--quick --repeats 3 --workers 0 "$WORKERS")
    MTCNN=(-n 100 --block 50)
    LFWB=(--repeat 3); CLI=(--repeat 3)
    QUICK=()
    CURVE_BATCHES="32 64"; CURVE_STEPS=10; CURVE_WARMUP=3; CURVE_COMPUTE=3; CURVE_PER_RUN=150
    R50=(--quick)
    PYTEST_SELECT=()
    [ -n "$BUDGET" ] || BUDGET=1800
else
    IMG=90; CROP=80; BATCH=4
    IDS=4; PER=6; TEST_IDS=40
    WORKERS=0
    TB=(--steps 2 --warmup 1 --compute-steps 2 --repeats 1 --variant "fp32:")
    RECIPE_STEPS=3; RECIPE_WARMUP=1; RECIPE_COMPUTE=2
    DEMO_SETS=(--max-steps 3 --set data.demo_train_identities=10 --set data.demo_images_per_identity=4
               --set data.demo_test_identities=40 --set train.batch_size=8 --set train.fps_warmup_steps=1
               --set eval.flip=false)
    PIPE=(--smoke)
    MTCNN=(--smoke)
    LFWB=(--smoke); CLI=(--smoke)
    QUICK=(--quick)
    CURVE_BATCHES="8 16"; CURVE_STEPS=3; CURVE_WARMUP=1; CURVE_COMPUTE=1; CURVE_PER_RUN=60
    R50=(--quick --size 32 --batch 4 --steps 1 --warmup 1)
    # The one CPU training test of the two files (two demo runs, about 10 s) stays for the
    # full runs: the smoke run checks the step, the test suite checks the trainer.
    PYTEST_SELECT=(-k "not test_the_trainer_trains_the_same_with_and_without_resident_data")
    [ -n "$BUDGET" ] || BUDGET=400
fi
RESERVE=20                                   # kept back for the report, the table and the tarball
DEADLINE=$((START + BUDGET))
log "sizes: images ${IMG}px, crop $CROP, batch $BATCH, $IDS identities x $PER images, loader workers $WORKERS; budget ${BUDGET}s"

# --- Dependencies: import them; install a missing one from bench/wheels (never torch) -------
SITE=$WORK/site
export PYTHONPATH="$SITE:$REPO:$REPO/plugins/facenet${PYTHONPATH:+:$PYTHONPATH}"
export MODELZOO_DISABLE_PLUGIN_AUTOLOAD=1 MODELZOO_PLUGINS=modelzoo_facenet.plugin \
       MODELZOO_RUNS=$WORK/runs MODELZOO_CACHE=$WORK/cache MODELZOO_ZOO=$REPO/zoo.yaml
missing_modules() {
    "$PY" - <<'EOF'
import importlib, sys
# pytest and its dependencies: the cuda_tests step (tomli and exceptiongroup below Python 3.11).
tests = ("pytest", "iniconfig", "packaging", "pygments") + (("exceptiongroup", "tomli") if sys.version_info < (3, 11) else ())
for module in ("pluggy", "yaml", "jinja2", "markupsafe", "numpy", "psutil", "cv2", "PIL", "torchvision",
               "facenet_pytorch") + tests:
    try:
        importlib.import_module(module)
    except Exception as exc:
        print(module)
        print(f"  cannot import {module}: {type(exc).__name__}: {exc}", file=sys.stderr)
EOF
}
declare -A DIST=([pluggy]=pluggy [yaml]=PyYAML [jinja2]=Jinja2 [markupsafe]=MarkupSafe [numpy]=numpy
                 [psutil]=psutil [cv2]=opencv-python-headless [PIL]=pillow [torchvision]=torchvision
                 [facenet_pytorch]=facenet-pytorch [pytest]=pytest [iniconfig]=iniconfig [packaging]=packaging
                 [pygments]=Pygments [exceptiongroup]=exceptiongroup [tomli]=tomli)
MISSING=$(missing_modules | tr '\n' ' ')
if [ -n "${MISSING// /}" ]; then
    log "modules python cannot import: $MISSING"
    WANT=()
    for module in $MISSING; do
        [ "$module" = torchvision ] && { log "torchvision is not carried (it is built against torch)"; continue; }
        WANT+=("${DIST[$module]}")
    done
    if [ ${#WANT[@]} -gt 0 ] && [ -d bench/wheels ]; then
        mkdir -p "$SITE"
        for dist in "${WANT[@]}"; do  # one at a time: a wheel that is not there blocks no other
            log "installing $dist from bench/wheels into $SITE (--no-deps)"
            if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
                    --find-links bench/wheels --target "$SITE" "$dist"; then
                # No pip, or no wheel for this python: a pure-Python wheel is a zip to unpack.
                norm=$(echo "$dist" | tr 'A-Z-' 'a-z_')
                for wheel in bench/wheels/*-py3-none-any.whl; do
                    [ -e "$wheel" ] || continue
                    base=$(basename "$wheel" | tr 'A-Z' 'a-z')
                    case "$base" in "$norm"-*) "$PY" -m zipfile -e "$wheel" "$SITE" && log "unpacked $wheel" ;; esac
                done
            fi
        done
    elif [ ${#WANT[@]} -gt 0 ]; then
        log "bench/wheels is absent (run bench/wheels.sh here and carry it): cannot install ${WANT[*]}"
    fi
    MISSING=$(missing_modules | tr '\n' ' ')
    log "still missing after the install: ${MISSING:-none}"
fi
has() { case " $MISSING " in *" $1 "*) return 1 ;; *) return 0 ;; esac; }

log "machine facts:"
if [ -f bench/machine.py ]; then
    "$PY" bench/machine.py --device "$DEVICE" --json > "$RESULTS/machine.json" 2>"$LOGS/machine.log" \
        || log "bench/machine.py failed (see logs/machine.log)"
else
    "$PY" -c 'import sys, json, modelzoo.measure.env as e; print(json.dumps(e.capture(sys.argv[1]), indent=1))' "$DEVICE" \
        > "$RESULTS/machine.json" 2>"$LOGS/machine.log" || log "modelzoo.measure.env.capture failed (see logs/machine.log)"
fi
cat "$RESULTS/machine.json"

# --- The step runner ------------------------------------------------------------------------
STEPS_FILE=$RESULTS/steps.tsv          # name, status, exit code, seconds, note
selected() {
    if [ -n "$ONLY" ]; then case ",$ONLY," in *",$1,"*) ;; *) return 1 ;; esac; fi
    case ",$SKIP," in *",$1,"*) return 1 ;; esac
    return 0
}
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$STEPS_FILE"; }
summarize() {  # rewrite $OUT/summary.md and $OUT/bench.json from what is there so far
    "$PY" "$REPO/bench/gpu_summary.py" --results "$RESULTS" --runs "$WORK/runs" --out "$OUT" \
        --device "$DEVICE" --smoke "$SMOKE" --elapsed "$((SECONDS - START))" >"$LOGS/summary.log" 2>&1 || log "summary failed (see logs/summary.log)"
}
skip_step() {  # NAME REASON
    selected "$1" || return 0
    log "[$1] skipped: $2"
    record "$1" skipped "" 0 "$2"
    summarize
}
# run_step NAME LIMIT_SECONDS COMMAND...: runs COMMAND under `timeout`, logs its output to
# logs/NAME.log (and here), records the status; a failure never stops the script.
run_step() {
    local name=$1 limit=$2 rc status note started elapsed left need
    shift 2
    selected "$name" || return 0
    left=$((DEADLINE - RESERVE - SECONDS))
    need=${MIN_S[$name]:-10}
    if [ "$left" -lt 10 ] || [ "$left" -lt "$need" ]; then
        note="no time left in the ${BUDGET}s budget"
        [ "$left" -ge 10 ] && note="not enough of the ${BUDGET}s budget left: it needs about ${need}s, ${left}s were left"
        log "[$name] skipped: $note"
        record "$name" skipped "" 0 "$note"
        summarize
        return 0
    fi
    [ "$limit" -le "$left" ] || limit=$left
    local cmd=("$@")
    case ",$FORCE_FAIL," in
        *",$name,"*) cmd=(bash -c 'echo "forced failure (MODELZOO_BENCH_FAIL)" >&2; exit 3') ;;
    esac
    log "[$name] start, limit ${limit}s: ${cmd[*]}"
    started=$SECONDS
    timeout --kill-after=15 "$limit" "${cmd[@]}" 2>&1 | tee "$LOGS/$name.log"
    rc=${PIPESTATUS[0]}
    elapsed=$((SECONDS - started))
    note=
    if [ "$rc" = 0 ]; then status=ok
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout; note="stopped at its ${limit}s limit"
    else status=failed; note="exit $rc: $(grep -v '^\s*$' "$LOGS/$name.log" | tail -n 1 | cut -c1-160)"
    fi
    log "[$name] $status (exit $rc) after ${elapsed}s"
    record "$name" "$status" "$rc" "$elapsed" "$note"
    summarize
}
# run_tracked NAME LIMIT COMMAND...: run_step, and the ids of the runs COMMAND wrote into
# $MODELZOO_RUNS are kept in NAME.runs for the table.
run_tracked() {
    local name=$1 before
    selected "$name" || return 0
    before=$(ls "$WORK/runs")
    run_step "$@"
    comm -13 <(echo "$before") <(ls "$WORK/runs") > "$RESULTS/$name.runs"
    summarize
}
# run_mz NAME LIMIT MODELZOO-ARGS...: a `modelzoo` command, its runs tracked.
run_mz() {
    local name=$1 limit=$2
    shift 2
    run_tracked "$name" "$limit" "$PY" -m modelzoo "$@"
}

# --- The steps ------------------------------------------------------------------------------
# Where the plugin looks for this demo set (the plugin's own naming rule).
DEMO_ROOT=$WORK/cache/facenet/$("$PY" -c 'import sys; from modelzoo_facenet.demo import cache_folder_name as name
print(name(0, *map(int, sys.argv[1:])))' "$IMG" "$IDS" "$PER" "$TEST_IDS" 2>/dev/null || echo "demo-seed0-${IMG}px")
if has cv2; then
    # A script file with an import guard, not `python -` : the generator's worker pool spawns,
    # and spawned workers re-import __main__, which cannot be read back from stdin.
    cat > "$WORK/generate_data.py" <<'EOF'
import sys, time
from modelzoo_facenet.demo import generate_demo_dataset

if __name__ == "__main__":
    root, ids, per, test_ids, size, cores = sys.argv[1], *map(int, sys.argv[2:])
    t = time.perf_counter()
    info = generate_demo_dataset(root, seed=0, train_identities=ids, images_per_identity=per,
                                 test_identities=test_ids, image_size=size, workers=cores, log=print)
    print(f"demo set at {info.root}: {info.train_images} training images of {info.train_identities} identities, "
          f"{info.test_images} test images, {info.pairs} pairs, {size}px, "
          f"{'generated' if info.generated else 'reused'} in {time.perf_counter() - t:.1f}s")
EOF
    run_step data 90 "$PY" "$WORK/generate_data.py" "$DEMO_ROOT" "$IDS" "$PER" "$TEST_IDS" "$IMG" "$CORES"
else
    skip_step data "cv2 (opencv-python-headless) is missing: the demo generator draws with it"
fi
IMAGES=$DEMO_ROOT/train
have_images() { [ -f "$DEMO_ROOT/DONE.json" ]; }
NO_IMAGES="no generated images (the data step did not complete)"

if [ -f bench/ceilings.py ]; then
    run_step ceilings 60 "$PY" bench/ceilings.py --device "$DEVICE" --crop "$CROP" --json "$RESULTS/ceilings.json" "${QUICK[@]}"
else
    skip_step ceilings "bench/ceilings.py is not in this checkout"
fi

# The recipe (Inception-ResNet-v1, crop 160 of 182, batch 90) on the generated faces.
RECIPE=(--device "$DEVICE" --set data.source=demo
        --set "data.name=synthetic faces (demo generator, ${IMG}px)"
        --set "data.image_size=$IMG" --set "data.crop_size=$CROP" --set data.validation_fraction=0
        --set "data.demo_train_identities=$IDS" --set "data.demo_images_per_identity=$PER"
        --set "data.demo_test_identities=$TEST_IDS"
        --set "train.batch_size=$BATCH" --set train.steps_per_epoch=0 --set "train.num_workers=$WORKERS"
        --set train.eval_every_epochs=0 --set train.checkpoint_every=0
        --set "train.fps_warmup_steps=$RECIPE_WARMUP" --set "train.compute_fps_steps=$RECIPE_COMPUTE"
        --set "eval.image_size=$CROP" --max-steps "$RECIPE_STEPS")
[ "$SMOKE" = 1 ] && RECIPE+=(--set eval.flip=false --set eval.num_workers=0)
# Issue 15's fast path without a compiler: bf16, channels_last, the decoded cache held resident
# (on the card when it fits), no torch.compile; recipe_graphs adds the CUDA graph.
RESIDENT=(--set train.amp=bf16 --set train.channels_last=true --set data.decoded_cache=true
          --set train.resident=on --set train.compile=false)
GRAPHS=("${RESIDENT[@]}" --set train.cuda_graphs=true)

# Issue 15's headline numbers first.
if have_images; then
    run_mz recipe_resident 75 run facenet --profile casia "${RECIPE[@]}" "${RESIDENT[@]}"
    run_mz recipe_graphs 75 run facenet --profile casia "${RECIPE[@]}" "${GRAPHS[@]}"
else
    skip_step recipe_resident "$NO_IMAGES"
    skip_step recipe_graphs "$NO_IMAGES"
fi

# The CUDA tests of the resident data and the CUDA graphs (skipped with the reason off a card).
# Their own scratch: no test run lands among this call's records.
if has pytest; then
    mkdir -p "$WORK/cuda_tests"          # --basetemp's parent (pytest empties the folder itself)
    run_step cuda_tests 90 env MODELZOO_RUNS="$WORK/cuda_tests/runs" MODELZOO_CACHE="$WORK/cuda_tests/cache" \
        "$PY" -m pytest -p no:cacheprovider -q -rfEs --basetemp "$WORK/cuda_tests/tmp" "${PYTEST_SELECT[@]}" \
        tests/modelzoo/train/test_resident.py tests/modelzoo/train/test_graphs.py
else
    skip_step cuda_tests "pytest is missing (bench/wheels.sh fetches it and its dependencies: carry bench/wheels)"
fi

# recipe_graphs at larger batches (rows of their own; batch 90 is the recipe's), fewer steps,
# one `modelzoo run` per batch, each under its own limit; exit status: the last failure's.
cat > "$WORK/batch_curve.sh" <<'EOF'
py=$1 per_run=$2 batches=$3
shift 3
rc=0
for batch in $batches; do
    echo "--- batch curve: batch $batch"
    timeout --kill-after=10 "$per_run" "$py" -m modelzoo "$@" --set "train.batch_size=$batch" || rc=$?
done
exit "$rc"
EOF
if have_images; then
    run_tracked batch_curve $((2 * CURVE_PER_RUN)) bash "$WORK/batch_curve.sh" "$PY" "$CURVE_PER_RUN" \
        "$CURVE_BATCHES" run facenet --profile casia "${RECIPE[@]}" "${GRAPHS[@]}" --max-steps "$CURVE_STEPS" \
        --set "train.fps_warmup_steps=$CURVE_WARMUP" --set "train.compute_fps_steps=$CURVE_COMPUTE"
else
    skip_step batch_curve "$NO_IMAGES"
fi

# ResNet-50 (the classification plugin: on the path for this step only).
if ! has cv2; then
    skip_step resnet50 "cv2 is missing (the classification plugin's demo images)"
else
    run_step resnet50 100 env "PYTHONPATH=$REPO/plugins/classification:$PYTHONPATH" \
        "MODELZOO_PLUGINS=$MODELZOO_PLUGINS,modelzoo_classification.plugin" \
        "$PY" bench/resnet50_bench.py --device "$DEVICE" "${R50[@]}" --work "$WORK/resnet50" \
        --json "$RESULTS/resnet50.json"
fi

# Then the comparison with compile, and the figures issue 6 measured.
if have_images; then
    # On the CPU without compile: inductor's C++ build of this network takes minutes there.
    FAST=(); [ "$DEVICE" = cpu ] && FAST=(--set train.compile=false)
    run_mz recipe_fast 150 run facenet --profile casia-fast "${RECIPE[@]}" "${FAST[@]}"
    run_mz recipe_bf16 75 run facenet --profile casia "${RECIPE[@]}" --set train.amp=bf16 --set train.channels_last=true
    run_mz recipe_fp32 90 run facenet --profile casia "${RECIPE[@]}"
else
    skip_step recipe_fast "$NO_IMAGES"
    skip_step recipe_bf16 "$NO_IMAGES"
    skip_step recipe_fp32 "$NO_IMAGES"
fi

if [ ! -f bench/train_bench.py ]; then
    skip_step train_bench "bench/train_bench.py is not in this checkout"
elif ! have_images; then
    skip_step train_bench "$NO_IMAGES"
else
    run_step train_bench 200 "$PY" bench/train_bench.py --device "$DEVICE" --image-size "$IMG" --crop "$CROP" \
        --batch "$BATCH" "${TB[@]}" --workers "$WORKERS" --work "$WORK/train_bench" --images-dir "$IMAGES" \
        --json "$RESULTS/train_bench.json"
fi

if have_images; then
    run_step pipeline 60 "$PY" bench/pipeline_bench.py --root "$IMAGES" --work "$WORK/pipeline" \
        --device "$DEVICE" --batch-size "$BATCH" --crop "$CROP" "${PIPE[@]}" --json "$RESULTS/pipeline.json"
else
    skip_step pipeline "$NO_IMAGES"
fi

FACES=
for candidate in "$REPO/bench/wheels/lfw" "${MODELZOO_TEST_DATA:+$MODELZOO_TEST_DATA/lfw}"; do
    if [ -n "$candidate" ] && [ -d "$candidate/images_deepfunneled" ]; then FACES=$candidate; break; fi
done
if ! has facenet_pytorch; then
    skip_step mtcnn "facenet-pytorch is missing (its MTCNN weights and the reference detector)"
elif ! has cv2; then
    skip_step mtcnn "cv2 is missing (image decode)"
elif [ -z "$FACES" ]; then
    skip_step mtcnn "no real faces: the demo generator's cartoon faces are mostly not detected by MTCNN; carry bench/wheels with its LFW sample (bench/wheels.sh)"
else
    run_step mtcnn 60 "$PY" bench/mtcnn_bench.py --lfw "$FACES" --device "$DEVICE" "${MTCNN[@]}" \
        --json "$RESULTS/mtcnn.json"
fi

if has cv2; then
    run_mz demo 90 run facenet --profile demo --device "$DEVICE" "${DEMO_SETS[@]}"
else
    skip_step demo "cv2 is missing (the demo generator)"
fi

run_step lfw_protocol 30 "$PY" bench/lfw_protocol_bench.py "${LFWB[@]}" --json "$RESULTS/lfw_protocol.json"
run_step cli_startup 40 "$PY" bench/cli_startup.py "${CLI[@]}" --json "$RESULTS/cli_startup.json"

# Zoo recipes (issue 29): the zoo's own scripts run under modelzoo, measured from outside.
ZOO_ROOT=${MODELZOO_ZOO_ROOT:-}
if [ -z "$ZOO_ROOT" ] && [ -d "$REPO/bench/wheels/zoo" ]; then ZOO_ROOT=$REPO/bench/wheels/zoo; fi
cat > "$WORK/zoo_recipes.sh" <<'EOF'
py=$1 device=$2 root=$3 data=$4
rc=0
"$py" -m modelzoo.recipe.sample_data "$data/tiny-imagefolder" || exit 1
models=pytorch-imagenet
[ "$device" = cuda ] && models="$models zoo-resnet50"
for model in $models; do
    echo "--- $model, profile tiny (generated ImageFolder)"
    "$py" -m modelzoo run "$model" --profile tiny --device "$device" --data-root "$data" --zoo-root "$root" || rc=$?
done
for model in zoo-facenet zoo-arcface zoo-cosface zoo-resnet50; do
    echo "--- $model as the zoo ships it: what would run (its data sets are not generated here)"
    "$py" -m modelzoo run "$model" --device "$device" --data-root "$data" --zoo-root "$root" --dry-run || rc=$?
done
exit "$rc"
EOF
if [ -z "$ZOO_ROOT" ]; then
    skip_step zoo_recipes "no zoo checkout: set MODELZOO_ZOO_ROOT, or run bench/wheels.sh with MODELZOO_TEST_THIRDPARTY set and carry bench/wheels"
else
    run_tracked zoo_recipes 150 bash "$WORK/zoo_recipes.sh" "$PY" "$DEVICE" "$ZOO_ROOT" "$WORK/recipe-data"
fi

# The report: what RESERVE was kept for (5 s stay for the tarball and the table).
RESERVE=5
run_mz report 30 report --output "$OUT"

# --- Pack up, and the table last ------------------------------------------------------------
PACK=(results runs)
for extra in train_bench/runs train_bench/plain; do [ -d "$WORK/$extra" ] && PACK+=("$extra"); done
tar -C "$WORK" --exclude='*.pt' --exclude='*.onnx' -czf "$OUT/bench.tgz" "${PACK[@]}" 2>&1 \
    || log "tar of the results failed"
summarize
log "done in $((SECONDS - START))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
echo
cat "$OUT/summary.md" 2>/dev/null || echo "(no summary: see $LOGS/summary.log)"
FAILED=$(awk -F'\t' '$2 == "failed" || $2 == "timeout"' "$STEPS_FILE" | wc -l)
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
[ "$FAILED" = 0 ]
