#!/usr/bin/env bash
# The whole fine-tuning loop on this CPU machine, end to end, for bench/finetune/RESULTS.md:
# data (local Qwen2.5-0.5B writes QA pairs, groundedness-filtered, plus the hand-written corrections)
# → LoRA on SmolLM2-135M-Instruct (.venv-ft) → vLLM (deploy/vllm/serve.sh) serving base + adapter
# → `finetune eval` (base vs adapter) → `finetune promote` (refused unless the adapter is not worse).
#   bench/finetune/run_pipeline.sh WORKDIR [STEPS] [CHUNKS_PER_DOC]
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
W="$1"; STEPS="${2:-20}"; PER_DOC="${3:-1}"
mkdir -p "$W"; cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$ROOT"
CACHE="${BRON_TEST_CACHE:-$HOME/.cache/bron-test}"
t() { local s=$SECONDS; "$@"; local rc=$?; echo "== $(basename "$1") ${2:-} ${3:-}: rc=$rc in $((SECONDS - s)) s"; return $rc; }

.venv/bin/python -c "
from pathlib import Path
from tests.finetune.conftest import HANDBOOK, write_corrections
from finetune.data import load_chunks
write_corrections(Path('$W/corrections.jsonl'), load_chunks([HANDBOOK]))"
t .venv/bin/python -m finetune.cli data --out "$W/data" --sft "$W/corrections.jsonl" \
    --chunks-per-doc "$PER_DOC" --data-dir "$CACHE" || exit 1
BASE="$(.venv/bin/python tests/finetune/ft_env.py)"
t .venv-ft/bin/python -m finetune.cli train --base "$BASE" --data "$W/data" --out "$W/bron-handbook" \
    --steps "$STEPS" --batch-size 2 --learning-rate 5e-4 --max-valid-examples 8 --device cpu || exit 1
PORT=8799
PATH="$ROOT/.venv-ft/bin:$PATH" MODEL="$BASE" ADAPTER_DIR="$W/bron-handbook" VLLM_API_KEY=bench PORT=$PORT \
    MAX_MODEL_LEN=2048 VLLM_CPU_KVCACHE_SPACE=1 setsid deploy/vllm/serve.sh > "$W/vllm.log" 2>&1 &
VLLM=$!
s=$SECONDS; until curl -sf -H "Authorization: Bearer bench" "localhost:$PORT/v1/models" >/dev/null; do
    sleep 2; kill -0 $VLLM 2>/dev/null || { tail -20 "$W/vllm.log"; exit 1; }; done
echo "== vLLM up in $((SECONDS - s)) s"
BRON_SERVING__LLM_API_KEY=bench t .venv/bin/python -m finetune.cli eval --data "$W/data" \
    --llm-url "http://127.0.0.1:$PORT/v1" --base-model bron-base --adapter bron-handbook \
    --adapter-dir "$W/bron-handbook" --report "$W/eval.json" --limit 8
t .venv/bin/python -m finetune.cli promote "$W/bron-handbook" --served-dir "$W/served" \
    --eval-report "$W/eval.json" --vllm-url "http://127.0.0.1:$PORT/v1" --api-key bench
kill -- -$VLLM
