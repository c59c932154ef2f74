#!/usr/bin/env sh
# Serve Bron's LLM on any CUDA host with vLLM installed (`pip install vllm`): the base model plus the
# `bron-handbook` LoRA adapter, behind the OpenAI-compatible API on port 8000.
# The same flags run in deploy/compose.yaml and deploy/k8s/base/vllm/deployment.yaml; keep them in step.
#
#   MODEL=/models/Qwen2.5-7B-Instruct ADAPTER_DIR=/adapters/bron-handbook VLLM_API_KEY=... deploy/vllm/serve.sh
#
# Bron then talks to it with:
#   BRON_SERVING__LLM_BASE_URL=http://HOST:8000/v1  BRON_SERVING__MODEL=bron-base
#   BRON_SERVING__ADAPTER=bron-handbook              BRON_SERVING__LLM_API_KEY=$VLLM_API_KEY
# Requests naming `bron-handbook` use the adapter; requests naming `bron-base` use the plain base model.
# VLLM_ALLOW_RUNTIME_LORA_UPDATING lets you hot-load a retrained adapter without a restart:
#   curl -H "Authorization: Bearer $VLLM_API_KEY" -H 'Content-Type: application/json' \
#     -d '{"lora_name":"bron-handbook-v2","lora_path":"/adapters/bron-handbook-v2"}' http://HOST:8000/v1/load_lora_adapter
# --max-lora-rank must be >= the adapter's rank `r` (adapter_config.json); --max-loras is how many adapters
# can sit in one batch (the live one plus a candidate during a swap).
set -eu
: "${MODEL:?set MODEL to the base model folder (or Hugging Face id) the adapter was trained on}"
: "${ADAPTER_DIR:?set ADAPTER_DIR to the bron-handbook adapter folder}"
: "${VLLM_API_KEY:?set VLLM_API_KEY, the shared secret Bron sends as its API key}"
export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True

exec python3 -m vllm.entrypoints.openai.api_server \
    --model "$MODEL" \
    --served-model-name "${SERVED_MODEL_NAME:-bron-base}" \
    --enable-lora \
    --lora-modules "bron-handbook=$ADAPTER_DIR" \
    --max-lora-rank 16 \
    --max-loras 2 \
    --max-model-len "${MAX_MODEL_LEN:-8192}" \
    --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.90}" \
    --api-key "$VLLM_API_KEY" \
    --host 0.0.0.0 \
    --port "${PORT:-8000}"
