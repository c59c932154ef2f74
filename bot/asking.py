"""One question in, one recorded answer out: the pipeline plus the SQL record, shared by every surface.

The CLI, the terminal chat and the Slack listeners all call `ask`, so an answer looks and is logged
the same way wherever it was asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.runtime import Runtime
from feedback.errors import StoreError
from feedback.resilient import save_interaction
from feedback.store import ChunkRecord, InteractionRecord
from retrieval.types import SearchFilters
from serving.answer import Answer, answer_question
from serving.errors import GenerationError
from serving.llm import TokenCallback
from serving.verification import strip_markers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AskContext:
    """Who asked, where, and what they may see."""

    surface: str = "cli"
    asker: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    question_ts: str | None = None  # the chat message that asked, where there is one
    # what the asker may search; the default is what every member holds, never everything (None is
    # unrestricted and must be asked for: an operator's tool, not a surface people type into)
    collections: tuple[str, ...] | None = ("public",)
    history: tuple[tuple[str, str], ...] = ()


@dataclass
class AskResult:
    answer: Answer
    interaction_id: str | None
    flagged: list[str]


def grounding_dict(answer: Answer) -> dict[str, Any]:
    """The groundedness result as stored and shown: sentences without markers, sources as displayed."""
    report = answer.grounding
    if report is None:
        return {"unsupported_draft": answer.unsupported_draft} if answer.unsupported_draft else {}
    extra: dict[str, Any] = {"uncovered_terms": answer.uncovered_terms} if answer.uncovered_terms else {}
    if answer.weak_sentences:
        extra["weak"] = list(answer.weak_sentences)
    if answer.quoted:
        extra |= {"quoted": True, "unsupported_draft": answer.unsupported_draft}
    sentences = [
        {
            "sentence": strip_markers(s.sentence),
            "citations": [answer.source_numbers.get(n, n) for n in s.citations],
            # what the answer shows: the source it was written from, and that source's supporting sentence
            "cited": [answer.source_numbers.get(n, n) for n in (s.attributed or s.citations)],
            "span": s.span,
            "shared_words": s.shared_words,
            "best_source": answer.source_numbers.get(s.best_source) if s.best_source else None,
            "score": round(float(s.score), 4),
            "supported": bool(s.supported),
            "issues": list(s.issues),
            "wrong_citation": bool(s.wrong_citation),
            **({} if s.entailment is None else {"entailment": round(float(s.entailment), 4)}),
        }
        for s in report.sentences
    ]
    return {
        "score": round(float(report.score), 4),
        "sentences": sentences,
        "unsupported": [s["sentence"] for s in sentences if not s["supported"]],
        **extra,
    }


def supporting_spans(grounding: Mapping[str, Any]) -> dict[int, list[str]]:
    """Per source number as displayed, the sentences of that source the answer rests on.

    Showing the sentence behind a citation is what lets a person check it; `grounding` is
    `grounding_dict`'s output, fresh or as stored with the interaction (older records have no spans).
    """
    spans: dict[int, list[str]] = {}
    for s in grounding.get("sentences") or []:
        number, span = s.get("best_source"), s.get("span")
        if s.get("supported") and isinstance(number, int) and span:
            found = spans.setdefault(number, [])
            if span not in found:
                found.append(span)
    return spans


def doubtful_sentences(answer: Answer) -> list[str]:
    """The sentences never to show as plain fact: unsupported by the check, or within its margin."""
    stored = grounding_dict(answer)
    return [*stored.get("unsupported", []), *stored.get("weak", [])]


def mark_sentences(text: str, sentences: list[str], mark: str) -> str:
    """`text` with `mark` and a space before each of `sentences` (once each, where it occurs).

    The sentences are stored without their [n] markers, which the text keeps before the full stop
    ("… first day [1]."), so they are found without their closing punctuation."""
    for sentence in sentences:
        body = sentence.rstrip(" .!?")
        if body and body in text and f"{mark} {body}" not in text:
            text = text.replace(body, f"{mark} {body}", 1)
    return text


def to_record(
    answer: Answer, ctx: AskContext, *, adapter: str | None, message_ts: str | None = None
) -> InteractionRecord:
    cited = {c.chunk.chunk_id: c.number for c in answer.citations} if not answer.abstained else {}
    return InteractionRecord(
        question=answer.question,
        answer=answer.text,
        language=answer.language,
        abstained=answer.abstained,
        model=answer.model,
        adapter=adapter,
        chunks=[
            ChunkRecord(
                rank=h.rank,
                chunk_id=h.chunk.chunk_id,
                doc_id=h.chunk.doc_id,
                title=h.chunk.title,
                heading=h.chunk.heading,
                location=h.chunk.location,
                snippet=h.chunk.text[:300],
                score=h.score,
                scores={**h.scores, **{f"{k}_rank": v for k, v in h.ranks.items()}},
                citation=cited.get(h.chunk.chunk_id),
                collection=h.chunk.collection,
            )
            for h in answer.hits
        ],
        timings=answer.timings_ms,
        groundedness=answer.groundedness,
        grounding=grounding_dict(answer),
        surface=ctx.surface,
        asker=ctx.asker,
        channel=ctx.channel,
        thread_ts=ctx.thread_ts,
        message_ts=message_ts,
        question_ts=ctx.question_ts,
        collections=list(ctx.collections) if ctx.collections is not None else None,
    )


def ask(
    runtime: Runtime, question: str, ctx: AskContext, *, on_token: TokenCallback | None = None
) -> AskResult:
    """Answer and record. A store outage is logged and the answer still returned: users come first."""
    if runtime.llm is None:
        raise GenerationError("this command was started without an LLM; use `bron ask` or `bron run`")
    filters = SearchFilters(collections=ctx.collections) if ctx.collections is not None else None
    answer = answer_question(
        question,
        retriever=runtime.retriever,
        llm=runtime.llm,
        policy=runtime.policy,
        filters=filters,
        history=list(ctx.history),
        checker=runtime.checker,
        on_token=on_token,
        evidence_model=runtime.evidence_model,
    )
    interaction_id, flagged = record(runtime, answer, ctx)
    return AskResult(answer=answer, interaction_id=interaction_id, flagged=flagged)


def record(
    runtime: Runtime, answer: Answer, ctx: AskContext, *, message_ts: str | None = None
) -> tuple[str | None, list[str]]:
    t = time.perf_counter()
    adapter = runtime.llm.adapter if runtime.llm else None
    try:
        saved = save_interaction(
            runtime.store,
            to_record(answer, ctx, adapter=adapter, message_ts=message_ts),
            rules=runtime.settings.store.flags,
            spool=runtime.spool,
        )
    except StoreError as exc:
        log.error("answer not recorded: %s", exc)
        return None, []
    answer.timings_ms["record_ms"] = (time.perf_counter() - t) * 1000
    return saved.interaction_id, saved.flag_reasons
