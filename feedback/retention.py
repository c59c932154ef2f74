"""Deleting old answers (with their chunks, feedback, flags and reviews) after a retention period.

Questions are personal data; keeping them forever is neither needed nor allowed by most policies.
Rows are deleted in batches of interaction ids, each batch its own transaction, so a purge of a large
table never holds a long lock against the bot writing new answers. The database's ON DELETE CASCADE
removes the dependent rows; they are counted first so the report says what went.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from feedback.errors import StoreError
from feedback.models import Feedback, Flag, Interaction, ProcessedEvent, RetrievedChunk, Review
from feedback.store import FeedbackStore

_AGE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNIT = {"d": "days", "h": "hours", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """'90d', '12w' or '36h'."""
    match = _AGE.match(text)
    if match is None:
        raise StoreError(f"age must look like 90d, 12w or 36h, not {text!r}")
    n, unit = int(match.group(1)), match.group(2)
    if n <= 0:
        raise StoreError(f"age must be positive, not {text!r}")
    return timedelta(**{_UNIT[unit]: n})


@dataclass
class PurgeReport:
    cutoff: datetime
    interactions: int = 0
    chunks: int = 0
    feedback: int = 0
    flags: int = 0
    reviews: int = 0
    processed_events: int = 0


def purge_older_than(
    store: FeedbackStore, cutoff: datetime, *, batch_size: int = 500, dry_run: bool = False
) -> PurgeReport:
    """Delete interactions created before `cutoff` (and everything hanging off them)."""
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    report = PurgeReport(cutoff=cutoff)
    last_id = ""
    while True:
        with store.session() as session:
            ids = list(
                session.scalars(
                    select(Interaction.id)
                    .where(Interaction.created_at < cutoff, Interaction.id > last_id)
                    .order_by(Interaction.id)
                    .limit(batch_size)
                )
            )
            if not ids:
                break
            last_id = ids[-1]

            def count(stmt: object) -> int:
                return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]

            report.chunks += count(
                select(func.count()).select_from(RetrievedChunk).where(RetrievedChunk.interaction_id.in_(ids))
            )
            report.feedback += count(
                select(func.count()).select_from(Feedback).where(Feedback.interaction_id.in_(ids))
            )
            report.flags += count(select(func.count()).select_from(Flag).where(Flag.interaction_id.in_(ids)))
            report.reviews += count(
                select(func.count()).select_from(Review).join(Flag).where(Flag.interaction_id.in_(ids))
            )
            report.interactions += len(ids)
            if not dry_run:
                session.execute(delete(Interaction).where(Interaction.id.in_(ids)))
    with store.session() as session:
        stmt = select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.received_at < cutoff)
        report.processed_events = int(session.scalar(stmt) or 0)
        if not dry_run:
            session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff))
    return report


def purge_by_age(store: FeedbackStore, age: timedelta, *, now: datetime | None = None,
                 dry_run: bool = False) -> PurgeReport:  # fmt: skip
    return purge_older_than(store, (now or datetime.now(UTC)) - age, dry_run=dry_run)


def compact(store: FeedbackStore) -> None:
    """Make deleted rows really gone from disk: on SQLite a delete only marks pages free (the text stays
    readable in the file) and the WAL keeps copies, so the WAL is checkpointed and truncated and the
    file vacuumed. PostgreSQL's autovacuum reclaims dead rows by itself."""
    if store.engine.dialect.name != "sqlite":
        return
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
