#!/usr/bin/env bash
# Fill bench/wheels/ (git-ignored) with what bench/gpu.sh may need on a card machine that has
# PyTorch but no network: the wheels of modelzoo's small dependencies (never torch), pytest
# and its dependencies (for the CUDA tests), and, when LFW is at hand, a small sample of LFW
# images for the MTCNN benchmark.
#
#   bash bench/wheels.sh                      # wheels for Python 3.10, 3.11, 3.12 (+ LFW sample)
#   bash bench/wheels.sh --python 3.12        # one Python version only
#   bash bench/wheels.sh --lfw DIR            # LFW folder holding images_deepfunneled/
#   bash bench/wheels.sh --lfw-images 0       # no LFW sample
#   bash bench/wheels.sh --with-opencv        # also opencv-python-headless: one abi3 wheel of
#                                             # 58 MiB (5.0.0.93), at the 64 MiB carry limit
#                                             # with the rest: add --python 3.X --lfw-images 0
#
# Then, on the card:  run(command="bash bench/gpu.sh", carry=["bench/wheels"], timeout_s=540)
# gpu.sh installs a wheel only for a module the machine's python cannot import, with
# --no-deps into a throwaway --target folder; the machine's torch is never touched.
#
# Versions are those of the virtual environment that runs this script (what the tests
# passed with); a package it lacks falls back to the pins below.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
DEST=bench/wheels
PYVERS=()
LFW_DIR=${MODELZOO_TEST_DATA:+$MODELZOO_TEST_DATA/lfw}
LFW_IMAGES=300
WITH_OPENCV=0
while [ $# -gt 0 ]; do
    case "$1" in
        --python) PYVERS+=("$2"); shift 2 ;;
        --lfw) LFW_DIR=$2; shift 2 ;;
        --lfw-images) LFW_IMAGES=$2; shift 2 ;;
        --with-opencv) WITH_OPENCV=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#PYVERS[@]} -gt 0 ] || PYVERS=(3.10 3.11 3.12)
[ -n "$LFW_DIR" ] || LFW_DIR=/work/shared/data/lfw

PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

# distribution=fallback version. facenet-pytorch: only its MTCNN weights are used (and its
# MTCNN as the benchmark's reference); gpu.sh installs it with --no-deps, as init.sh does.
# pytest and its dependencies (all pure Python, about 2 MiB): gpu.sh's cuda_tests step;
# exceptiongroup and tomli serve Python 3.10 only.
PINS=(pluggy=1.7.0 PyYAML=6.0.4 Jinja2=3.1.6 MarkupSafe=3.0.4 psutil=7.2.2 facenet-pytorch=2.6.0
      pytest=9.2.0 iniconfig=2.3.1 packaging=26.4 Pygments=2.21.0 exceptiongroup=1.3.0 tomli=2.2.1)
[ "$WITH_OPENCV" = 1 ] && PINS+=(opencv-python-headless=5.0.0.93)

version_of() {  # the version installed beside this script's python, else the pin
    local got
    got=$("$PY" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null) \
        && [ -n "$got" ] && { echo "$got"; return; }
    echo "$2"
}

mkdir -p "$DEST"
failed=0
for pin in "${PINS[@]}"; do
    name=${pin%%=*}
    version=$(version_of "$name" "${pin#*=}")
    for pyver in "${PYVERS[@]}"; do
        case "$name" in exceptiongroup|tomli) [ "$pyver" = 3.10 ] || continue ;; esac  # pytest's, below 3.11
        echo "+ $name==$version for Python $pyver"
        if ! "$PY" -m pip download -q --dest "$DEST" --no-deps --only-binary=:all: \
                --python-version "$pyver" --implementation cp \
                --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
                --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
                --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
                --platform manylinux1_x86_64 \
                "$name==$version"; then
            echo "  FAILED: $name==$version for Python $pyver" >&2
            failed=1
        fi
    done
done

# A fixed sample of LFW (sorted, every k-th image): real faces for bench/mtcnn_bench.py,
# laid out as LFW is (images_deepfunneled/<person>/<file>.jpg).
if [ "$LFW_IMAGES" -gt 0 ] && [ -d "$LFW_DIR/images_deepfunneled" ]; then
    rm -rf "$DEST/lfw"
    "$PY" - "$LFW_DIR/images_deepfunneled" "$DEST/lfw/images_deepfunneled" "$LFW_IMAGES" <<'EOF'
import shutil, sys
from pathlib import Path
src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
files = sorted(src.glob("*/*.jpg"))
step = max(1, len(files) // n)
for f in files[::step][:n]:
    (dst / f.parent.name).mkdir(parents=True, exist_ok=True)
    shutil.copy2(f, dst / f.parent.name / f.name)
print(f"LFW sample: {min(n, len(files[::step]))} of {len(files)} images from {src}")
EOF
elif [ "$LFW_IMAGES" -gt 0 ]; then
    echo "no LFW at $LFW_DIR (images_deepfunneled/): no LFW sample; gpu.sh will skip the MTCNN benchmark"
fi

# The zoo checkouts the zoo_recipes step runs (issue 29): the PyTorch ImageNet example and the
# four DeepSparkHub recipes, laid out as under the zoo root (a few hundred KiB).
ZOO_SRC=${MODELZOO_TEST_THIRDPARTY:-}
if [ -n "$ZOO_SRC" ] && [ -f "$ZOO_SRC/pytorch-examples/imagenet/main.py" ]; then
    rm -rf "$DEST/zoo"
    for part in pytorch-examples/LICENSE pytorch-examples/imagenet/main.py pytorch-examples/imagenet/README.md \
            deepsparkhub/LICENSE deepsparkhub/models/cv/face_recognition/facenet/pytorch \
            deepsparkhub/models/cv/face_recognition/arcface/pytorch \
            deepsparkhub/models/cv/face_recognition/cosface/pytorch \
            deepsparkhub/models/cv/classification/resnet50/pytorch; do
        [ -e "$ZOO_SRC/$part" ] || continue
        mkdir -p "$DEST/zoo/$(dirname "$part")"
        cp -r "$ZOO_SRC/$part" "$DEST/zoo/$part"
    done
    chmod -R u+w "$DEST/zoo"
    echo "zoo recipes: copied from $ZOO_SRC into $DEST/zoo"
else
    echo "MODELZOO_TEST_THIRDPARTY is not set: no zoo checkout copied; gpu.sh will skip the zoo_recipes step"
fi

echo
ls -la "$DEST"
total=$(du -sb "$DEST" | cut -f1)
echo "bench/wheels: $((total / 1024)) KiB in all (the carry limit is 64 MiB, the working tree included)"
if [ "$total" -gt $((48 * 1024 * 1024)) ]; then
    echo "WARNING: over 48 MiB; with the working tree this may pass the 64 MiB carry limit" >&2
fi
exit "$failed"
