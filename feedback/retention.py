"""Deleting old answers (with their chunks, feedback, flags and reviews) after a retention period.

Questions are personal data; keeping them forever is neither needed nor allowed by most policies.
Rows are deleted in batches of interaction ids, each batch its own transaction, so a purge of a large
table never holds a long lock against the bot writing new answers. The database's ON DELETE CASCADE
removes the dependent rows; they are counted first so the report says what went.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from feedback.errors import StoreError
from feedback.models import Feedback, Flag, Interaction, ProcessedEvent, RetrievedChunk, Review
from feedback.spool import Spool, drop_older_than
from feedback.store import FeedbackStore

log = logging.getLogger(__name__)

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


def apply_retention(store: FeedbackStore, spool: Spool, age: timedelta) -> PurgeReport:
    """One scheduled pass: old answers, old spool entries (rejected ones too), then the free pages."""
    report = purge_by_age(store, age)
    drop_older_than(spool, report.cutoff)
    compact(store)
    return report


class RetentionScheduler:
    """Runs `apply_retention` at start and then every `interval_s` on a daemon thread inside `bron run`,
    so the retention period holds without anyone remembering to run `bron purge`."""

    def __init__(self, store: FeedbackStore, spool: Spool, *, age: timedelta, interval_s: float) -> None:
        self.store, self.spool, self.age, self.interval_s = store, spool, age, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bron-retention", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                report = apply_retention(self.store, self.spool, self.age)
                if report.interactions:
                    log.info(
                        "retention: %d answer(s) older than %s deleted", report.interactions, report.cutoff
                    )
            except Exception:  # a failed pass (database down) is retried at the next interval
                log.exception("retention pass failed; retrying in %.0f s", self.interval_s)
            if self._stop.wait(self.interval_s):
                return

    def start(self) -> RetentionScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
