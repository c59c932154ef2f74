#!/usr/bin/env bash
# scripts/ holds environment-setup scripts that CI and humans run; it is not library code.
#
# One command on a CUDA host: (export a GGUF base to safetensors,) train the LoRA adapter in bf16 with
# gradient checkpointing, and optionally serve base + adapter with vLLM (deploy/vllm/serve.sh).
#
#   scripts/finetune_gpu.sh BASE DATA_DIR ADAPTER_OUT [extra `bron finetune train` options]
#     BASE         Hugging Face model folder, or a .gguf file (exported to ADAPTER_OUT.base/ first)
#     DATA_DIR     folder with train.jsonl and valid.jsonl from `bron finetune data`
#   STEPS=300 BATCH=8 RANK=16   training size (defaults shown)
#   SERVE=1 VLLM_API_KEY=...    then exec vLLM on the base with the adapter as `bron-handbook`
#
# Needs torch (CUDA), transformers, peft (and gguf for a .gguf base) plus typer; vLLM for SERVE=1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BASE="$1"; DATA="$2"; OUT="$3"; shift 3
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
if [[ "$BASE" == *.gguf ]]; then
    "$PY" -m finetune.cli export-base "$BASE" "$OUT.base"
    BASE="$OUT.base"
fi
"$PY" -m finetune.cli train --base "$BASE" --data "$DATA" --out "$OUT" --device cuda \
    --steps "${STEPS:-300}" --batch-size "${BATCH:-8}" --rank "${RANK:-16}" --alpha "$((2 * ${RANK:-16}))" "$@"
if [ "${SERVE:-0}" = 1 ]; then
    MODEL="$BASE" ADAPTER_DIR="$OUT" exec "$ROOT/deploy/vllm/serve.sh"
fi
