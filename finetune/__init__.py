"""Domain fine-tuning: from the corpus and reviewers' corrections to a LoRA adapter vLLM serves.

Its own top-level home because it is an offline batch pipeline, not part of answering: it has heavy
optional dependencies (torch, transformers, peft) that the bot never imports and that live in a
separate environment (`.venv-ft`, built by `scripts/vllm_cpu_setup.sh`). It is fed by the feedback
store's exports (`bron export sft`) and the corpus, and produces an adapter folder that serving hands
to vLLM (`--lora-modules bron-handbook=PATH`, or hot-loaded by `bron finetune promote`).

Imports flow one way: finetune → serving/retrieval; nothing imports finetune. `data` and `evaluate`
need only Bron's light dependencies; `train` imports torch lazily.
"""
