#!/usr/bin/env bash
# One-step environment for modelzoo. Idempotent: run it again at any time.
#
#   bash init.sh           # runtime: torch (unless one is importable), modelzoo (with its 'export' extra:
#                          # onnx, onnxscript, onnxruntime), the model plugins
#   bash init.sh --test    # the same plus the test tools
#
# Uses the active virtual environment (linked as ./.venv), else creates ./.venv. A vendor torch (the BI-V100
# SDK ships its own build in the system Python) is kept: the venv then sees the system
# site-packages and pip is never asked to install torch over it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "init.sh: unknown option '$arg' (use --test or --help)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    if "$python" -c "import torch" 2>/dev/null; then
      echo "init.sh: keeping the system torch ($("$python" -c 'import torch; print(torch.__version__)'))"
      "$python" -m venv --system-site-packages .venv
    else
      "$python" -m venv .venv
    fi
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
elif [ ! -e .venv ]; then
  ln -s "$VIRTUAL_ENV" .venv  # so that .venv/bin/modelzoo works the same either way
fi
pip() { python -m pip --disable-pip-version-check "$@"; }
# facenet-pytorch is installed without its dependencies (below): pip's after-install check
# then lists its pins (torch<2.3, numpy<2...) as conflicts on every later install. Those
# lines describe a choice, not a broken install, so they are filtered out here.
quiet_pins() { grep -v -e "facenet-pytorch .* requires" -e "dependency resolver does not currently take into account" || true; }

if python -c "import torch" 2>/dev/null; then
  echo "init.sh: torch $(python -c 'import torch; print(torch.__version__)') is importable; not reinstalling it"
  if ! python -c "import torchvision" 2>/dev/null; then
    echo "init.sh: torchvision is missing beside this torch; install the torchvision build that" \
         "matches it (a vendor SDK ships one), then run init.sh again" >&2
    exit 1
  fi
else
  pip install -q "${MODELZOO_TORCH_SPEC:-torch==2.14.1}" "${MODELZOO_TORCHVISION_SPEC:-torchvision==0.29.1}"
fi

plugins=(-e plugins/facenet -e plugins/classification)
if [ "$with_tests" = 1 ]; then
  pip install -q -e ".[export,test]" "${plugins[@]}" 2>&1 | quiet_pins
else
  # every verb the README shows works after this: 'export' is what 'modelzoo export --format onnx' needs
  pip install -q -e ".[export]" "${plugins[@]}" 2>&1 | quiet_pins
fi
# facenet-pytorch ships the MTCNN weights (and is the reference in tests); its own pins
# (torch<2.3, numpy<2) would break this stack, so its dependencies are not installed.
pip install -q --no-deps "facenet-pytorch==2.6.0" 2>&1 | quiet_pins
echo "init.sh: facenet-pytorch is installed without its pinned dependencies (torch<2.3, numpy<2): only its MTCNN weights are used"
if [ "$with_tests" = 1 ] && { ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; }; then
  # The tests of `zoo run --launcher slurm` start a private Slurm cluster; without one they skip.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "init.sh: installing slurm-wlm and munge for the Slurm tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  else
    echo "init.sh: slurm-wlm is not installed and this is not root with apt-get: the Slurm tests will" \
         "skip (as root: apt-get install -y slurm-wlm munge)"
  fi
fi
python -c "import torch, modelzoo, modelzoo_facenet, modelzoo_classification; print('init.sh: ready: modelzoo', modelzoo.__version__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available())"
