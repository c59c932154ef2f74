"""What a reviewer reads and decides: flagged answers with their sources and feedback, and verdicts.

Read functions return frozen views, not ORM rows, so the web page, the CLI and the exports can use
them after the session is closed. Sources are numbered the way the reviewer sees them and the SFT
export builds its prompt: the cited sources first, in citation order (so source n is the answer's
[n]), then the other retrieved chunks in rank order. A corrected answer written against the page's
numbers therefore cites the right sources in the training data too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from feedback.access import Scope, may_read, searched_within, visible
from feedback.errors import StoreError
from feedback.models import Flag, Interaction, RetrievedChunk, Review

VERDICTS = ("correct", "hallucination", "outdated_source", "retrieval_miss")
STATUSES = ("open", "resolved")


class FlagNotFoundError(StoreError):
    """No flag with that id (it may have been purged by retention)."""


@dataclass(frozen=True)
class SourceView:
    number: int
    cited: bool
    chunk_id: str
    doc_id: str
    title: str
    heading: str
    location: str
    snippet: str
    score: float
    collection: str | None = None

    @property
    def is_link(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class FeedbackView:
    created_at: datetime
    user: str | None
    vote: str
    reason: str | None
    comment: str | None
    correct_answer: str | None


@dataclass(frozen=True)
class ReviewView:
    created_at: datetime
    reviewer: str
    verdict: str
    corrected_answer: str | None
    expected_sources: list[str]
    note: str | None


@dataclass(frozen=True)
class FlagView:
    flag_id: int
    status: str
    reasons: list[str]
    created_at: datetime
    interaction_id: str
    asked_at: datetime
    question: str
    answer: str
    language: str
    abstained: bool
    model: str | None
    groundedness: float | None
    unsupported: list[str]
    sources: list[SourceView]
    feedback: list[FeedbackView]
    reviews: list[ReviewView]

    @property
    def cited_doc_ids(self) -> list[str]:
        return list(dict.fromkeys(s.doc_id for s in self.sources if s.cited))


def ordered_sources(chunks: Sequence[RetrievedChunk]) -> list[SourceView]:
    """Cited chunks by citation number, then uncited ones by rank; numbered from 1 in that order."""
    cited = sorted((c for c in chunks if c.citation), key=lambda c: (c.citation or 0, c.rank))
    rest = sorted((c for c in chunks if not c.citation), key=lambda c: c.rank)
    return [
        SourceView(
            number=n,
            cited=bool(c.citation),
            chunk_id=c.chunk_id,
            doc_id=c.doc_id,
            title=c.title,
            heading=c.heading,
            location=c.location,
            snippet=c.snippet,
            score=c.score,
            collection=c.collection,
        )
        for n, c in enumerate([*cited, *rest], 1)
    ]


def _unsupported(grounding: dict[str, Any]) -> list[str]:
    raw = grounding.get("unsupported") or []
    return [s for s in raw if isinstance(s, str) and s.strip()]


def to_view(flag: Flag) -> FlagView:
    i: Interaction = flag.interaction
    return FlagView(
        flag_id=flag.id,
        status=flag.status,
        reasons=list(flag.reasons),
        created_at=flag.created_at,
        interaction_id=i.id,
        asked_at=i.created_at,
        question=i.question,
        answer=i.answer,
        language=i.language,
        abstained=i.abstained,
        model=i.model,
        groundedness=i.groundedness,
        unsupported=_unsupported(i.grounding),
        sources=ordered_sources(i.chunks),
        feedback=[
            FeedbackView(
                created_at=f.created_at,
                user=f.user,
                vote=f.vote,
                reason=f.reason,
                comment=f.comment,
                correct_answer=f.correct_answer,
            )
            for f in sorted(i.feedback, key=lambda f: f.created_at)
        ],
        reviews=[
            ReviewView(
                created_at=r.created_at,
                reviewer=r.reviewer,
                verdict=r.verdict,
                corrected_answer=r.corrected_answer,
                expected_sources=list(r.expected_sources),
                note=r.note,
            )
            for r in sorted(flag.reviews, key=lambda r: r.created_at)
        ],
    )


def flag_load_options() -> list[Any]:
    return [
        selectinload(Flag.interaction).selectinload(Interaction.chunks),
        selectinload(Flag.interaction).selectinload(Interaction.feedback),
        selectinload(Flag.reviews),
    ]


def list_flags(
    session: Session, *, status: str | None = "open", limit: int = 100, scope: Scope = None
) -> list[FlagView]:
    """Newest first; `status=None` lists every flag; only flags a viewer with `scope` may see."""
    if status is not None and status not in STATUSES:
        raise StoreError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    stmt = select(Flag).options(*flag_load_options()).order_by(Flag.created_at.desc(), Flag.id.desc())
    if status is not None:
        stmt = stmt.where(Flag.status == status)
    if scope is not None:
        stmt = stmt.where(visible(Flag.interaction_id, scope))
    flags = session.scalars(stmt.limit(limit))
    return [to_view(f) for f in flags if searched_within(f.interaction.collections, scope)]


def get_flag(session: Session, flag_id: int, *, scope: Scope = None) -> FlagView:
    """One flag; one outside `scope` is reported as missing, so its existence does not leak either."""
    stmt = select(Flag).options(*flag_load_options()).where(Flag.id == flag_id)
    if scope is not None:
        stmt = stmt.where(visible(Flag.interaction_id, scope))
    flag = session.scalars(stmt).first()
    if flag is None or not searched_within(flag.interaction.collections, scope):
        raise FlagNotFoundError(f"no flag with id {flag_id}; `bron flags list` shows the open ones")
    return to_view(flag)


def resolve_flag(
    session: Session,
    flag_id: int,
    *,
    verdict: str,
    reviewer: str,
    corrected_answer: str | None = None,
    expected_sources: Sequence[str] = (),
    note: str | None = None,
    scope: Scope = None,
) -> Review:
    """Record a reviewer's verdict and close the flag. A resolved flag can be reviewed again (the
    latest review counts in the exports), so a mistaken verdict is corrected, not edited away."""
    if verdict not in VERDICTS:
        raise StoreError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not reviewer.strip():
        raise StoreError("a review needs a reviewer name")
    flag = session.get(Flag, flag_id)
    if flag is None or not may_read(flag.interaction, scope):
        raise FlagNotFoundError(f"no flag with id {flag_id}; `bron flags list` shows the open ones")
    corrected = (corrected_answer or "").strip() or None
    review = Review(
        flag=flag, reviewer=reviewer.strip(), verdict=verdict, corrected_answer=corrected,
        expected_sources=list(dict.fromkeys(s.strip() for s in expected_sources if s.strip())),
        note=(note or "").strip() or None,
    )  # fmt: skip
    session.add(review)
    flag.status = "resolved"
    session.flush()
    return review
