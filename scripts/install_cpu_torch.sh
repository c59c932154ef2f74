#!/usr/bin/env bash
# Puts the CPU build of torch into the venv given as $1, unless that version is there already; shared by
# vllm_cpu_setup.sh and evidence_model_setup.sh. The wheel on disk ($TORCH_WHEEL) goes in when present,
# else the PyTorch CPU index: a plain `pip install torch` would resolve to a multi-GB CUDA build.
set -euo pipefail
VENV="$1"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_WHEEL="${TORCH_WHEEL:-/opt/wheels/torch-$TORCH_VERSION+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    if [ -f "$TORCH_WHEEL" ]; then
        "$VENV/bin/pip" install -q "$TORCH_WHEEL"
    else
        "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
    fi
fi
