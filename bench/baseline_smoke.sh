#!/usr/bin/env bash
# Issue 31's done-when check as a real run: the CPU smoke matrix (zoo.yaml's cpu-smoke: facenet
# and resnet50 demo profiles, 1 and 2 workers, 60 steps) as two releases, three runs of each
# cell per release, A and B interleaved so that both see the same neighbours; B's facenet cells
# slowed on purpose with --set. `zoo check --release B --baseline A` must then flag exactly
# facenet's two cells (exit 1) and hold resnet50's unchanged.
#
#   bash bench/baseline_smoke.sh [RUNS_DIR] [SETTING]
#   (defaults: /tmp/baseline-smoke, train.batch_size=2; one compute thread per worker)
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-/tmp/baseline-smoke}"
slowdown="${2:-train.batch_size=2}"
mz="$here/.venv/bin/modelzoo"
export MODELZOO_RUNS="$runs" OMP_NUM_THREADS=1
"$here/.venv/bin/python" "$here/bench/machine.py" 2>/dev/null | head -3
uptime
for repeat in 1 2 3; do
  for cell in "facenet 1" "facenet 2" "resnet50 1" "resnet50 2"; do
    set -- $cell
    slow=(); [ "$1" = facenet ] && slow=(--set "$slowdown")
    for release in smoke-a smoke-b; do
      extra=(); [ "$release" = smoke-b ] && extra=("${slow[@]}")
      MODELZOO_RELEASE=$release "$mz" run "$1" --profile demo --cards "$2" --device cpu --max-steps 60 \
        "${extra[@]}" 2>&1 | grep -E "^fps|error" | sed "s/^/$release $1 x$2 (repeat $repeat): /"
    done
  done
  uptime
done
"$mz" zoo check --release smoke-b --baseline smoke-a
echo "exit $?"
