"""Reviewed answers as chat-format fine-tuning data, with the prompt built exactly as serving builds it.

`bron export sft` writes one JSON object per line:

    {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}],
     "meta": {"interaction_id", "flag_id", "verdict", "reviewer", "language", "model", "doc_ids"}}

The system and user messages come from `serving.context.build_context`, so the numbered <source>
blocks, the prompt wording and the token budget are the ones the model meets in production. Sources
go in the order the review page numbers them (cited first), and the assistant's [n] markers are
renumbered to the prompt's numbers by chunk id, so a citation always points at the source it named.

Only verdicts that make good generation data are exported:
- `correct`: the answer as given (or as polished by the reviewer);
- `hallucination` with a corrected answer: the fix the model should learn.
Not `outdated_source` (the fix disagrees with the sources: training on it teaches ignoring them) nor
`retrieval_miss` (the right source was not in the prompt: a retrieval fix, not a model fix).
Full chunk text comes from the search index; a case whose sources are gone from the index is skipped
rather than trained on 300-character snippets the model never saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from feedback.exports import ReviewedCase, expected_answer
from feedback.review import SourceView
from retrieval.types import Chunk, Hit
from serving.context import build_context

SFT_VERDICTS = ("correct", "hallucination")
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")

ChunkLookup = Callable[[Sequence[str]], list[Chunk]]


@dataclass
class SftReport:
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _renumber(text: str, mapping: dict[int, int]) -> str | None:
    """Rewrite [n] to the prompt's numbers; None when a marker points at no source in the prompt."""
    bad = False

    def replace(match: re.Match[str]) -> str:
        nonlocal bad
        numbers = []
        for raw in match.group(1).split(","):
            n = int(raw)
            if n not in mapping:
                bad = True
                return match.group(0)
            numbers.append(mapping[n])
        return "".join(f"[{n}]" for n in numbers)

    out = _MARKER.sub(replace, text)
    return None if bad else out


def sft_example(
    case: ReviewedCase, chunks: dict[str, Chunk], *, token_budget: int, report: SftReport
) -> dict[str, Any] | None:
    verdict = case.review.verdict
    if verdict not in SFT_VERDICTS:
        report.skip(f"verdict {verdict}")
        return None
    answer = expected_answer(case)
    if answer is None or (verdict == "hallucination" and not case.review.corrected_answer):
        report.skip("no corrected answer")
        return None
    if case.flag.abstained and not case.review.corrected_answer:
        report.skip("abstention")
        return None
    sources: list[SourceView] = case.flag.sources
    if any(s.chunk_id not in chunks for s in sources):
        report.skip("source no longer in the index")
        return None
    hits = [Hit(chunk=chunks[s.chunk_id], score=s.score, rank=s.number) for s in sources]
    context = build_context(case.flag.question, hits, language=case.flag.language, token_budget=token_budget)
    position = {h.chunk.chunk_id: n for n, h in enumerate(context.sources, 1)}
    mapping = {s.number: position[s.chunk_id] for s in sources if s.chunk_id in position}
    assistant = _renumber(answer, mapping)
    if assistant is None:
        report.skip("answer cites a source that is not in the prompt")
        return None
    if not _MARKER.search(assistant):
        report.skip("answer has no citation")
        return None
    report.written += 1
    return {
        "messages": [*context.messages, {"role": "assistant", "content": assistant}],
        "meta": {
            "interaction_id": case.flag.interaction_id,
            "flag_id": case.flag.flag_id,
            "verdict": verdict,
            "reviewer": case.review.reviewer,
            "language": case.flag.language,
            "model": case.flag.model,
            "doc_ids": list(dict.fromkeys(h.chunk.doc_id for h in context.sources)),
        },
    }


def sft_examples(
    cases: Iterable[ReviewedCase], *, lookup: ChunkLookup, token_budget: int, report: SftReport
) -> list[dict[str, Any]]:
    cases = list(cases)
    wanted = list(dict.fromkeys(s.chunk_id for c in cases for s in c.flag.sources))
    chunks = {c.chunk_id: c for c in lookup(wanted)} if wanted else {}
    out = []
    for case in cases:
        example = sft_example(case, chunks, token_budget=token_budget, report=report)
        if example is not None:
            out.append(example)
    return out
