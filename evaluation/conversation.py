"""Conversation benchmark: does a follow-up keep its topic, and does a new topic start fresh?

The set (`evaluation/data/conversations.json`) holds conversations of two to four turns over the
sample handbook (Dutch and English) and CLAPnq dev passages. Each turn has a kind (first, follow_up,
switch, unanswerable, repeat) and the documents it should cite, or "decline". Three ways of reading a
turn are compared (serving.conversation): `together` (every turn searched with the question before
it: Bron before this benchmark), `alone` (every turn on its own) and `decided` (what Bron ships).

Retrieval-only (no model): a turn "cites" the sources that would reach the prompt, and "declines"
when the evidence bar stops it. End to end (`--end-to-end`), the real pipeline answers each turn with
the configured model and the conversation grows as in the terminal chat; a turn then cites what the answer cites. Conversations are split in two halves by id,
like CLAPnq's questions: anything chosen on this set is chosen on `tune` and reported on `report`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evaluation.retrieval import percentile
from retrieval.analysis import detect_language
from retrieval.hybrid import HybridRetriever
from retrieval.types import Hit
from serving.answer import (
    AnswerPolicy,
    GroundingChecker,
    answer_question,
    evidence_is_weak,
    evidence_score,
    prompt_sources,
)
from serving.conversation import Mode, read_turn
from serving.evidence_model import EvidenceModel, evidence_hits
from serving.llm import LLMClient

DEFAULT_SET = Path(__file__).with_name("data") / "conversations.json"
KINDS = ("first", "follow_up", "switch", "unanswerable", "repeat")
DECLINE = "decline"


@dataclass(frozen=True)
class Turn:
    question: str
    kind: str
    expect: tuple[str, ...]  # document names or doc ids; empty: the turn should be declined


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    turns: tuple[Turn, ...]

    @property
    def half(self) -> str:
        digest = int(hashlib.sha1(self.conversation_id.encode()).hexdigest(), 16)
        return "tune" if digest % 2 == 0 else "report"


@dataclass
class TurnOutcome:
    conversation_id: str
    half: str
    index: int
    kind: str
    question: str
    expect: list[str]
    previous_topic: list[str]
    cited: list[str]
    declined: bool
    right_doc: bool
    contaminated: bool
    equal_to_alone: bool
    dependent: bool
    rewritten: bool
    searched: str
    added_ms: float
    answer: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    sentence_scores: list[float] = field(default_factory=list)  # the check's, end to end


def load_conversations(path: Path, clapnq_gold: dict[str, tuple[str, ...]]) -> list[Conversation]:
    """The set, with clapnq:<question id> resolved to that question's gold passage ids."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Conversation] = []
    for row in data["conversations"]:
        turns: list[Turn] = []
        for t in row["turns"]:
            if t["kind"] not in KINDS:
                raise ValueError(f"{row['id']}: unknown kind {t['kind']!r}")
            expect: list[str] = []
            if t["expect"] != DECLINE:
                for name in t["expect"]:
                    if name.startswith("clapnq:"):
                        qid = name.removeprefix("clapnq:")
                        if qid not in clapnq_gold:
                            raise ValueError(f"{row['id']}: no CLAPnq question {qid}")
                        expect += clapnq_gold[qid]
                    else:
                        expect.append(name)
            turns.append(Turn(question=t["q"], kind=t["kind"], expect=tuple(expect)))
        out.append(Conversation(conversation_id=row["id"], turns=tuple(turns)))
    return out


def doc_name(doc_id: str) -> str:
    """A handbook document by its file name without .md; any other document by its id."""
    last = doc_id.rsplit("/", 1)[-1]
    return last.removesuffix(".md") if last.endswith(".md") else doc_id


def _previous_topics(conversation: Conversation) -> list[tuple[str, ...]]:
    """For each turn, the documents of the last earlier turn that had any (the topic it may leak)."""
    out: list[tuple[str, ...]] = []
    last: tuple[str, ...] = ()
    for turn in conversation.turns:
        out.append(last)
        if turn.expect:
            last = turn.expect
    return out


def _outcome(
    conversation: Conversation, index: int, previous: tuple[str, ...], cited: Sequence[str], declined: bool,
    *, equal_to_alone: bool, dependent: bool, rewritten: bool, searched: str, added_ms: float,
) -> TurnOutcome:  # fmt: skip
    turn = conversation.turns[index]
    names = [doc_name(d) for d in cited]
    expect = set(turn.expect)
    leak = set(previous) - expect
    return TurnOutcome(
        conversation_id=conversation.conversation_id, half=conversation.half, index=index, kind=turn.kind,
        question=turn.question, expect=list(turn.expect), previous_topic=list(previous), cited=names,
        declined=declined, right_doc=bool(expect & set(names)) and not declined,
        contaminated=bool(leak & set(names)) and not declined, equal_to_alone=equal_to_alone,
        dependent=dependent, rewritten=rewritten, searched=searched, added_ms=added_ms,
    )  # fmt: skip


def _ids(hits: Sequence[Hit]) -> list[str]:
    return [h.chunk.chunk_id for h in hits]


def run_retrieval(
    conversations: Sequence[Conversation],
    *,
    retriever: HybridRetriever,
    policy: AnswerPolicy,
    mode: Mode,
    evidence_model: EvidenceModel | None = None,
    llm: LLMClient | None = None,
) -> list[TurnOutcome]:
    """Each turn read as `mode` reads it, without generating: the sources that would reach the prompt
    stand for what the answer cites, and a turn the evidence bar stops is declined."""
    outcomes: list[TurnOutcome] = []
    for conversation in conversations:
        history: list[tuple[str, str]] = []
        previous = _previous_topics(conversation)
        for i, turn in enumerate(conversation.turns):
            language = detect_language(turn.question)
            t = time.perf_counter()
            read, result = read_turn(
                turn.question, history, retriever=retriever, language=language, top_k=policy.top_k,
                cross_language_margin=policy.cross_language_margin, bar=policy.bar,
                evidence_model=evidence_model, llm=llm, mode=mode,
            )  # fmt: skip
            elapsed = (time.perf_counter() - t) * 1000
            alone = retriever.search(turn.question, k=policy.top_k)
            hits, key = evidence_hits(read.text, result.hits, evidence_model)
            margin = policy.cross_language_margin
            evidence = evidence_score(hits, language, cross_language_margin=margin, key=key)
            declined = evidence_is_weak(len(hits), evidence, policy)
            sources = [] if declined else prompt_sources(hits, language, policy, key=key)
            outcome = _outcome(
                conversation, i, previous[i], [h.chunk.doc_id for h in sources], declined,
                equal_to_alone=_ids(result.hits) == _ids(alone.hits), dependent=read.dependent,
                rewritten=read.rewritten, searched=read.text,
                added_ms=sum(read.timings_ms.get(k, 0.0) for k in ("reading_ms",)) if history else 0.0,
            )  # fmt: skip
            outcome.timings_ms = {"read_ms": elapsed}
            outcomes.append(outcome)
            history.append((turn.question, " ".join(h.chunk.text for h in sources[:1])[:300]))
    return outcomes


def run_end_to_end(
    conversations: Sequence[Conversation],
    *,
    retriever: HybridRetriever,
    llm: LLMClient,
    policy: AnswerPolicy,
    checker: GroundingChecker | None,
    evidence_model: EvidenceModel | None = None,
    log_path: Path | None = None,
) -> list[TurnOutcome]:
    """Every turn through the production pipeline, the conversation growing as in the terminal chat."""
    outcomes: list[TurnOutcome] = []
    for conversation in conversations:
        history: list[tuple[str, str]] = []
        previous = _previous_topics(conversation)
        for i, turn in enumerate(conversation.turns):
            answer = answer_question(
                turn.question, retriever=retriever, llm=llm, policy=policy, history=history,
                checker=checker, evidence_model=evidence_model,
            )  # fmt: skip
            read = answer.turn
            cited = [] if answer.abstained else [c.chunk.doc_id for c in answer.citations]
            alone_ids = _ids(retriever.search(turn.question, k=policy.top_k).hits)
            outcome = _outcome(
                conversation, i, previous[i], cited, answer.abstained,
                equal_to_alone=read is not None and not read.dependent and _ids(answer.hits) == alone_ids,
                dependent=bool(read and read.dependent), rewritten=bool(read and read.rewritten),
                searched=read.text if read else turn.question,
                added_ms=sum(v for k, v in answer.timings_ms.items() if k in ("reading_ms",)) if history else 0.0,
            )  # fmt: skip
            outcome.answer = answer.text
            if answer.grounding is not None:
                outcome.sentence_scores = [round(float(s.score), 4) for s in answer.grounding.sentences]
            outcome.timings_ms = {k: round(v, 1) for k, v in answer.timings_ms.items()}
            outcomes.append(outcome)
            if log_path is not None:
                with log_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(asdict(outcome), ensure_ascii=False) + "\n")
            history.append((turn.question, answer.text))
    return outcomes


def _share(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(outcomes: Sequence[TurnOutcome]) -> dict[str, Any]:
    """Per kind of turn: right document cited, declined, contaminated, retrieval equal to alone."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        rows = [o for o in outcomes if o.kind == kind]
        if not rows:
            continue
        answerable = [o for o in rows if o.expect]
        out[kind] = {
            "turns": len(rows),
            "right_doc": _share([o.right_doc for o in answerable]),
            "declined": _share([o.declined for o in rows]),
            "contaminated": sum(o.contaminated for o in rows),
            "equal_to_alone": _share([o.equal_to_alone for o in rows]),
            "read_with_conversation": sum(o.dependent for o in rows),
        }
    later = [o.added_ms for o in outcomes if o.index > 0]
    out["added_ms"] = {
        "p50": round(percentile(later, 50), 1) if later else None,
        "p95": round(percentile(later, 95), 1) if later else None,
        "turns": len(later),
        "rewritten": sum(o.rewritten for o in outcomes),
    }
    return out


def acceptance(summary: dict[str, Any]) -> dict[str, bool]:
    """The issue's aims: follow-ups right ≥ 0.9; switches clean and as if asked alone ≥ 0.95;
    unanswerable after answerable declined ≥ 0.8."""
    follow, switch, unans = (summary.get(k, {}) for k in ("follow_up", "switch", "unanswerable"))
    return {
        "follow_up_right_doc>=0.9": (follow.get("right_doc") or 0) >= 0.9,
        "switch_contamination==0": switch.get("contaminated", 1) == 0,
        "switch_equal_to_alone>=0.95": (switch.get("equal_to_alone") or 0) >= 0.95,
        "unanswerable_declined>=0.8": (unans.get("declined") or 0) >= 0.8,
    }
