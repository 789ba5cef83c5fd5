#!/usr/bin/env bash
# Everything that needs a card, in one call on a lent GPU machine (see docs/BENCHMARKS.md):
#   run(command="bash bench/gpu.sh", timeout_s=540)
# Uses the machine's own python3/torch (nothing is installed there); results land in $OUT:
# the log, the rendered reports and a tarball of the run records.
set -uo pipefail
OUT=${OUT:-/tmp/modelzoo-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/plugins/facenet" MODELZOO_DISABLE_PLUGIN_AUTOLOAD=1 \
       MODELZOO_PLUGINS=modelzoo_facenet.plugin MODELZOO_RUNS=/tmp/modelzoo-gpu/runs \
       MODELZOO_CACHE=/tmp/modelzoo-gpu/cache
exec > >(tee "$OUT/gpu.log") 2>&1
mz() { echo "+ modelzoo $*"; python3 -m modelzoo "$@"; echo "exit $?"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

# 1. The demo profile end to end on the card (synthetic data).
mz run facenet --profile demo --device cuda --set train.num_workers=4

# 2. The recipe's training step (Inception-ResNet-v1, batch 90, crop 160 of 182) on synthetic
#    182 px faces: FPS with the input pipeline, compute-only FPS, fp32 then bf16 + channels_last.
recipe=(--profile casia --device cuda --set data.source=demo --set data.image_size=182
        --set data.demo_images_per_identity=30 --set data.validation_fraction=0
        --set train.steps_per_epoch=0 --set train.num_workers=12 --set train.eval_every_epochs=0
        --set train.fps_warmup_steps=30 --set train.compute_fps_steps=60 --max-steps 400)
mz run facenet "${recipe[@]}"
mz run facenet "${recipe[@]}" --set train.amp=bf16 --set train.channels_last=true
mz run facenet "${recipe[@]}" --set train.amp=bf16 --set train.channels_last=true --set data.decoded_cache=true

mz report --output "$OUT"
tar -C /tmp/modelzoo-gpu -czf "$OUT/runs.tgz" runs
