#!/usr/bin/env sh
# Serve Bron's LLM on any CUDA host with vLLM installed (`pip install vllm`): the base model alone at
# start, behind the OpenAI-compatible API on port 8000. LoRA adapters are never start-up flags (vLLM
# refuses to start when a --lora-modules folder is missing or was trained on another base model):
# `bron finetune promote` installs each version in ADAPTERS_DIR and loads it at runtime on every
# replica, and vLLM's filesystem resolver loads an adapter named in a request from ADAPTERS_DIR, so a
# restarted replica serves the active version again on its first request.
# The same flags run in deploy/compose.yaml and deploy/k8s/base/vllm/deployment.yaml; keep them in step.
#
#   MODEL=/models/Qwen2.5-7B-Instruct ADAPTERS_DIR=/adapters VLLM_API_KEY_FILE=/run/secrets/vllm-api-key \
#     deploy/vllm/serve.sh
#
# Bron then talks to it with:
#   BRON_SERVING__LLM_BASE_URL=http://HOST:8000/v1  BRON_SERVING__MODEL=bron-base
#   BRON_SERVING__ADAPTER_FILE=/adapters/active.json (the version promote made active; none: base model)
# --max-lora-rank must be >= the adapter's rank `r` (adapter_config.json); --max-loras is how many adapters
# can sit in one batch (the live one plus a candidate during a swap).
set -eu
: "${MODEL:?set MODEL to the base model folder the adapters were trained on}"
# The key reaches vLLM through its environment (VLLM_API_KEY), never the command line, which every
# user of the host can read in `ps`.
if [ -n "${VLLM_API_KEY_FILE:-}" ]; then
    VLLM_API_KEY="$(cat "$VLLM_API_KEY_FILE")"
fi
: "${VLLM_API_KEY:?set VLLM_API_KEY_FILE (a mounted secret) or VLLM_API_KEY, the key Bron sends}"
export VLLM_API_KEY
export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
export VLLM_PLUGINS=lora_filesystem_resolver
export VLLM_LORA_RESOLVER_CACHE_DIR="${ADAPTERS_DIR:-/adapters}"

exec python3 -m vllm.entrypoints.openai.api_server \
    --model "$MODEL" \
    --served-model-name "${SERVED_MODEL_NAME:-bron-base}" \
    --enable-lora \
    --max-lora-rank 16 \
    --max-loras 2 \
    --max-model-len "${MAX_MODEL_LEN:-8192}" \
    --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.90}" \
    --host 0.0.0.0 \
    --port "${PORT:-8000}"
