"""`bron finetune eval` and `promote`: an adapter replaces the served one only if it is not worse.

Base and adapter answer the same validation prompts (held-out documents, the served prompt format)
through the OpenAI-compatible API — on vLLM both are one server: the base model's name and the
adapter's name. Three measures, each in 0..1, higher is better: citation rate (the answer cites a
source that exists), groundedness (the answer-time check against the prompt's sources), and token F1
against the reference answer. An adapter worse than the base on any of them by more than `tolerance`
is refused; promotion installs it as a new version in the served adapters folder, loads it on every vLLM
replica and only then points Bron at it (finetune/adapters.py).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from finetune.adapters import activate, install_version, next_version
from finetune.data import Checker, lexical_support
from finetune.errors import PromotionError
from finetune.examples import Example
from retrieval.analysis import words
from serving.errors import GenerationError
from serving.llm import LLMClient

_CITATION = re.compile(r"\[(\d+)\]")
METRICS = ("citation_rate", "groundedness", "token_f1")


@dataclass(frozen=True)
class ModelScores:
    model: str
    examples: int
    citation_rate: float
    groundedness: float
    token_f1: float
    failed: int
    seconds: float
    answers: list[str] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over folded words, citation markers removed."""
    pred = Counter(words(_CITATION.sub(" ", prediction)))
    ref = Counter(words(_CITATION.sub(" ", reference)))
    common = sum((pred & ref).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def cites_validly(answer: str, n_sources: int) -> bool:
    """At least one citation, and every citation names a source that was shown."""
    cited = [int(n) for n in _CITATION.findall(answer)]
    return bool(cited) and all(1 <= n <= n_sources for n in cited)


def grounded_score(answer: str, sources: Sequence[str], checker: Checker | None) -> float:
    if checker is None:
        return lexical_support(answer, "\n".join(sources))
    return float(checker.check(answer, list(sources)).score)


def score_model(
    client: LLMClient,
    examples: Sequence[Example],
    *,
    checker: Checker | None,
    max_tokens: int = 160,
    on_answer: Callable[[int, str], None] | None = None,
) -> ModelScores:
    """Greedy answers (temperature 0) to each validation prompt, scored against its reference."""
    cite = ground = f1 = 0.0
    failed = 0
    answers: list[str] = []
    start = time.perf_counter()
    for i, ex in enumerate(examples):
        try:
            text = client.chat(ex.prompt, max_tokens=max_tokens, temperature=0.0).text.strip()  # type: ignore[arg-type]
        except GenerationError:
            failed += 1
            text = ""
        answers.append(text)
        if on_answer:
            on_answer(i, text)
        cite += cites_validly(text, len(ex.sources))
        ground += grounded_score(text, ex.sources, checker) if text else 0.0
        f1 += token_f1(text, ex.answer)
    n = max(len(examples), 1)
    return ModelScores(model=client.model, examples=len(examples), citation_rate=cite / n,
                       groundedness=ground / n, token_f1=f1 / n, failed=failed,
                       seconds=round(time.perf_counter() - start, 2), answers=answers)  # fmt: skip


def decide(base: ModelScores, adapter: ModelScores, *, tolerance: float = 0.02) -> Decision:
    """Refuse when the adapter is worse than the base on any measure by more than `tolerance`."""
    worse = [
        f"{m}: adapter {getattr(adapter, m):.3f} < base {getattr(base, m):.3f} - {tolerance}"
        for m in METRICS
        if getattr(adapter, m) < getattr(base, m) - tolerance
    ]
    if adapter.failed > base.failed:
        worse.append(f"adapter failed {adapter.failed} requests, base {base.failed}")
    if not adapter.examples:
        worse.append("no validation examples: nothing shows the adapter is not worse")
    if worse:
        return Decision(False, worse)
    gains = [f"{m}: {getattr(base, m):.3f} -> {getattr(adapter, m):.3f}" for m in METRICS]
    return Decision(True, gains)


def report(
    base: ModelScores, adapter: ModelScores, decision: Decision, *, adapter_dir: Path | None
) -> dict[str, Any]:
    def scores(s: ModelScores) -> dict[str, Any]:
        return asdict(s)  # answers included: a reviewer reads them before trusting the numbers

    return {
        "adapter_dir": str(adapter_dir) if adapter_dir else None,
        "base": scores(base),
        "adapter": scores(adapter),
        "decision": asdict(decision),
    }


def promote(
    adapter_dir: Path,
    *,
    served_dir: Path,
    family: str,
    eval_report: Path | None,
    force: bool = False,
    vllm_urls: Sequence[str] = (),
    vllm_root: PurePosixPath | None = None,
    base_model: str | None = None,
    api_key: str | None = None,
) -> str:
    """Install an adapter that passed evaluation as the next version, load it everywhere, then switch.

    Refuses one that failed or was never evaluated. Returns the new version's name (`family-vN`).
    """
    if not force:
        if eval_report is None or not eval_report.exists():
            raise PromotionError("no evaluation report: run `bron finetune eval ... --report FILE` first "
                                 "(or pass --force to promote without one)")  # fmt: skip
        verdict = json.loads(eval_report.read_text())
        if not verdict.get("decision", {}).get("promote"):
            reasons = "; ".join(verdict.get("decision", {}).get("reasons", []))
            raise PromotionError(f"the evaluation refused this adapter ({reasons}); it was not promoted")
        if verdict.get("adapter_dir") and Path(verdict["adapter_dir"]).resolve() != adapter_dir.resolve():
            raise PromotionError(f"{eval_report} evaluated {verdict['adapter_dir']}, not {adapter_dir}")
    name = next_version(served_dir, family)
    target = install_version(adapter_dir, served_dir=served_dir, name=name, base_model=base_model)
    try:
        activate(served_dir, name, vllm_urls=list(vllm_urls), vllm_root=vllm_root, api_key=api_key)
    except PromotionError:
        shutil.rmtree(target, ignore_errors=True)  # never activated: the next try reuses the number
        raise
    return name
