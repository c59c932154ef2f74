"""What the optional models cost per answer: an NLI model in the groundedness check, and the evidence model.

    PYTHONPATH=. python bench/grounding/optional_models_latency.py --gemma-dir .bron/models/embeddinggemma-300m \\
        --device cpu --threads 2 --out bench/grounding/latency-cpu.json

Weights are random, built from real configurations: DeBERTa-v3 base and large (the usual NLI
cross-encoders) and EmbeddingGemma-300M's own config.json. The lent GPU machine takes 64 MiB and reaches
no network, so trained weights cannot go along, and a forward pass costs the same whatever the weights
hold. The NLI tokenizer is word-level (one token per word), a little shorter than DeBERTa's own.
Shapes follow what Bron does per answer: three claims, each checked against the passages near it in
three sources (one batch of three pairs per claim, serving.grounding.checker); the evidence model embeds
the question and up to three passages it has not cached (serving.evidence_model).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tests.support.nli_model import build_nli_model

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "retrieval" / "sample_handbook"


def _nli_module() -> Any:
    """serving/grounding/nli.py by path: the package's __init__ pulls in the bot's dependencies (openai,
    pydantic), which the GPU machine lacks; the module itself needs only torch and transformers."""
    spec = importlib.util.spec_from_file_location("bron_nli", ROOT / "serving" / "grounding" / "nli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLAIMS_PER_ANSWER = 3
SOURCES = 3


def words(n: int) -> str:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(HANDBOOK.rglob("*.md")))
    pool = text.split()
    return " ".join(pool[i % len(pool)] for i in range(n))


def timed(fn: Callable[[], object], reps: int, sync: Callable[[], None]) -> dict[str, float]:
    for _ in range(3):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (reps - 1))], 2)}


def deberta(large: bool) -> Any:
    from transformers import DebertaV2Config

    size = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
    if not large:
        size = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    return DebertaV2Config(
        vocab_size=128100, max_position_embeddings=512, relative_attention=True, position_buckets=256,
        norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
        max_relative_positions=-1, position_biased_input=False, type_vocab_size=0, **size,
    )  # fmt: skip


def nli_costs(device: str, threads: int | None, reps: int, work: Path) -> dict[str, Any]:
    premise, claim = words(80), words(15)
    out: dict[str, Any] = {}
    for name, large in (("deberta-v3-base size (184M)", False), ("deberta-v3-large size (435M)", True)):
        folder = build_nli_model(work / name.split()[0], words=[premise, claim], config=deberta(large))
        model = _nli_module().NLIModel(folder, device=device, threads=threads)
        pairs = [(premise, claim)] * SOURCES
        one_claim = timed(partial(model.entailment, pairs), reps, _sync(device))
        out[name] = {
            "per_claim_batch_of_3": one_claim,
            "per_answer_p50_ms": round(CLAIMS_PER_ANSWER * one_claim["p50_ms"], 1),
        }
    return out


def evidence_costs(gemma_dir: Path, device: str, reps: int) -> dict[str, Any]:
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gemma_dir), local_files_only=True)
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.from_pretrained(str(gemma_dir))).to(device).eval()

    def embed(texts: list[str]) -> object:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=2048, return_tensors="pt").to(
            device
        )
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1)
            return (hidden * mask).sum(1) / mask.sum(1)

    query = "task: search result | query: " + words(10)
    passages = [f"title: Handbook | text: {words(250)}"] * SOURCES
    return {
        "question": timed(lambda: embed([query]), reps, _sync(device)),
        "three_uncached_passages_250_words": timed(lambda: embed(passages), reps, _sync(device)),
    }


def _sync(device: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gemma-dir", type=Path, required=True, help="EmbeddingGemma's config and tokenizer")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        result = {
            "device": torch.cuda.get_device_name()
            if args.device.startswith("cuda")
            else f"cpu, {torch.get_num_threads()} threads",
            "torch": torch.__version__,
            "nli": nli_costs(args.device, args.threads, args.reps, Path(work)),
            "evidence_model_embeddinggemma_300m": evidence_costs(args.gemma_dir, args.device, args.reps),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
