"""Figures over time for the review page: answers, thumbs-down and flag rates, groundedness, sources.

Grouping by day happens in SQL (UTC days on both SQLite and PostgreSQL), so the page stays fast as
the record grows; only the groundedness values of the window are read into Python for the histogram.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, exists, func, select
from sqlalchemy.orm import Session

from feedback.models import Feedback, Flag, Interaction, RetrievedChunk


@dataclass(frozen=True)
class DayStats:
    day: date
    answers: int
    thumbs_down: int
    flagged: int

    @property
    def thumbs_down_rate(self) -> float:
        return self.thumbs_down / self.answers if self.answers else 0.0

    @property
    def flag_rate(self) -> float:
        return self.flagged / self.answers if self.answers else 0.0


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class SourceCount:
    doc_id: str
    title: str
    flags: int


def _day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)  # stored as naive UTC text
    return cast(func.timezone("UTC", column), Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def daily_stats(session: Session, *, days: int = 30, now: datetime | None = None) -> list[DayStats]:
    """One row per UTC day in the window, days without answers included (as zeros)."""
    end = (now or datetime.now(UTC)).date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    day = _day(session, Interaction.created_at).label("day")
    down = exists().where(and_(Feedback.interaction_id == Interaction.id, Feedback.vote == "down"))
    flagged = exists().where(Flag.interaction_id == Interaction.id)
    stmt = (
        select(
            day,
            func.count(),
            func.sum(case((down, 1), else_=0)),
            func.sum(case((flagged, 1), else_=0)),
        )
        .where(Interaction.created_at >= since)
        .group_by(day)
    )
    found = {_as_date(d): (int(a), int(td or 0), int(fl or 0)) for d, a, td, fl in session.execute(stmt)}
    out = []
    for n in range(days):
        d = start + timedelta(days=n)
        a, td, fl = found.get(d, (0, 0, 0))
        out.append(DayStats(day=d, answers=a, thumbs_down=td, flagged=fl))
    return out


def groundedness_histogram(
    session: Session, *, bins: int = 10, days: int = 30, now: datetime | None = None
) -> list[Bin]:
    """Equal-width bins over [0, 1]; a score of exactly 1.0 falls in the last bin."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    values = session.scalars(
        select(Interaction.groundedness).where(
            Interaction.groundedness.is_not(None), Interaction.created_at >= since
        )
    )
    counts = [0] * bins
    for v in values:
        if v is None:
            continue
        counts[min(bins - 1, max(0, int(float(v) * bins)))] += 1
    return [Bin(low=i / bins, high=(i + 1) / bins, count=c) for i, c in enumerate(counts)]


def top_flagged_sources(
    session: Session,
    *,
    limit: int = 10,
    days: int = 30,
    now: datetime | None = None,
    scope: Collection[str] | None = None,
) -> list[SourceCount]:
    """Documents cited most often in flagged answers (each flag counts a document once); with
    `scope`, only documents of those collections, since a title alone can say too much."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    flags = func.count(func.distinct(Flag.id)).label("flags")
    stmt = (
        select(RetrievedChunk.doc_id, func.max(RetrievedChunk.title), flags)
        .join(Flag, Flag.interaction_id == RetrievedChunk.interaction_id)
        .where(RetrievedChunk.citation.is_not(None), Flag.created_at >= since)
        .group_by(RetrievedChunk.doc_id)
        .order_by(flags.desc(), RetrievedChunk.doc_id)
        .limit(limit)
    )
    if scope is not None:
        stmt = stmt.where(RetrievedChunk.collection.in_(sorted(scope)))
    return [SourceCount(doc_id=d, title=t, flags=int(n)) for d, t, n in session.execute(stmt)]
