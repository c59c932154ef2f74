"""Turning reviewed answers into a regression set for `bron eval answers`.

`bron export eval` writes one JSON object per line:

    {"question": "...", "expected_answer": "...", "expected_sources": ["doc-id", ...],
     "language": "nl" | "en", "id": "<interaction id>", "verdict": "correct" | ...}

- `question`, `language`: as asked.
- `expected_answer`: the reviewer's corrected answer, or, for verdict `correct` without one, the answer
  Bron gave (confirmed). Citation markers like [1] are kept: they are part of a good answer's form.
- `expected_sources`: document ids the answer should rest on: those the reviewer chose, else (verdict
  `correct` or `hallucination`, where the cited documents were right) the documents Bron cited; may be
  empty, meaning "no expectation on sources" (e.g. a retrieval miss where the reviewer named none).
- `id`, `verdict`: where the case came from; a harness may ignore them.

Only the latest review of each flag counts, and one case per question (the latest), so a question
flagged many times does not dominate the set. Cases without an expected answer are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.access import Scope, searched_within, visible
from feedback.models import Flag
from feedback.review import FlagView, ReviewView, flag_load_options, to_view

# Verdicts where the sources Bron cited were the right ones (the wording was the problem, if anything).
SOURCES_WERE_RIGHT = ("correct", "hallucination")


@dataclass(frozen=True)
class ReviewedCase:
    flag: FlagView
    review: ReviewView


@dataclass(frozen=True)
class EvalCase:
    question: str
    expected_answer: str
    expected_sources: list[str]
    language: str
    id: str
    verdict: str


def reviewed_cases(session: Session, *, scope: Scope = None) -> list[ReviewedCase]:
    """Every resolved flag with its latest review, one per question (latest review wins), oldest first.

    With `scope`, only cases whose every chunk lies in it: an export is read (or trained into an
    adapter that serves) wider than any one answer was.
    """
    stmt = select(Flag).options(*flag_load_options()).where(Flag.status == "resolved")
    if scope is not None:
        stmt = stmt.where(visible(Flag.interaction_id, scope))
    flags = [f for f in session.scalars(stmt) if searched_within(f.interaction.collections, scope)]
    by_question: dict[str, ReviewedCase] = {}
    for view in (to_view(f) for f in flags):
        if not view.reviews:
            continue
        case = ReviewedCase(flag=view, review=view.reviews[-1])
        key = " ".join(view.question.lower().split())
        current = by_question.get(key)
        if current is None or current.review.created_at <= case.review.created_at:
            by_question[key] = case
    return sorted(by_question.values(), key=lambda c: c.review.created_at)


def expected_answer(case: ReviewedCase) -> str | None:
    if case.review.corrected_answer:
        return case.review.corrected_answer
    if case.review.verdict == "correct":
        return case.flag.answer
    return None


def expected_sources(case: ReviewedCase) -> list[str]:
    if case.review.expected_sources:
        return list(case.review.expected_sources)
    if case.review.verdict in SOURCES_WERE_RIGHT:
        return case.flag.cited_doc_ids
    return []


def eval_cases(cases: Iterable[ReviewedCase]) -> list[EvalCase]:
    out = []
    for case in cases:
        answer = expected_answer(case)
        if answer is None:
            continue
        out.append(
            EvalCase(
                question=case.flag.question,
                expected_answer=answer,
                expected_sources=expected_sources(case),
                language=case.flag.language,
                id=case.flag.interaction_id,
                verdict=case.review.verdict,
            )
        )
    return out


def write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_eval_set(path: Path, cases: Iterable[EvalCase]) -> int:
    return write_jsonl(path, (asdict(c) for c in cases))
