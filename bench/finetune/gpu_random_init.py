"""Make a randomly initialised model folder from a config + tokenizer folder (for GPU timing checks).

The device machine cannot fetch weights and only 64 MiB travel with a call, so the GPU check trains
LoRA on a model of the real architecture and size with random weights: it exercises the CUDA path
(bf16, gradient checkpointing, saving) and gives a real seconds-per-step, not a quality figure.

    python bench/finetune/gpu_random_init.py CONFIG_DIR OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def main(config_dir: Path, out_dir: Path) -> None:
    config = AutoConfig.from_pretrained(config_dir)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out_dir)
    for f in config_dir.iterdir():
        if f.name != "config.json" and not (out_dir / f.name).exists():
            shutil.copy(f, out_dir / f.name)
    print(f"{out_dir}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, random weights")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
