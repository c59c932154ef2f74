"""Writing and reading the record. Functions take a Session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import StoreError, StoreUnavailableError
from feedback.models import Interaction, ProcessedEvent, RetrievedChunk, new_id
from feedback.people import SESSION_KEY, pseudonym, stored_user


@dataclass(frozen=True)
class ChunkRecord:
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    heading: str
    location: str
    snippet: str
    score: float
    scores: dict[str, Any] = field(default_factory=dict)
    citation: int | None = None
    collection: str | None = None


@dataclass(frozen=True)
class InteractionRecord:
    """What the pipeline reports about one answer; the store adds ids and timestamps."""

    question: str
    answer: str
    language: str
    abstained: bool
    model: str | None
    chunks: Sequence[ChunkRecord]
    timings: dict[str, float]
    groundedness: float | None = None
    grounding: dict[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    surface: str = "cli"
    asker: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    question_ts: str | None = None
    error: str | None = None
    collections: list[str] | None = None
    # Chosen by the caller when the id must be known before the row exists (the spool replays it later).
    interaction_id: str | None = None


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


class FeedbackStore:
    """Owns the engine and hands out sessions; holds no other state but the pseudonym key.

    `user_key` (set when `BRON_STORE__PSEUDONYMISE_USERS` is on) goes into every session's `info`, so
    the functions below that write or look up a person's id hash it with `feedback.people.stored_user`.
    """

    def __init__(self, url: str, *, user_key: SecretStr | None = None) -> None:
        self.url = url
        self.user_key = user_key
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, info={SESSION_KEY: user_key})

    def stored_user(self, user: str | None) -> str | None:
        """What this store keeps for `user` (for writes outside a session: the spool)."""
        return pseudonym(user, self.user_key)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except IntegrityError:
            raise  # a duplicate is an answer to the caller (claim_event), not a failure
        except OperationalError as exc:
            raise StoreUnavailableError(
                f"the feedback database ({self.engine.url.render_as_string(hide_password=True)}) "
                f"cannot be reached: {exc.orig}; check BRON_STORE__URL and that the server is running"
            ) from exc
        except StatementError as exc:
            # a value the database refuses (the answer itself is still shown: callers log StoreError)
            raise StoreError(
                f"the feedback database refused the write: {type(exc.orig or exc).__name__}"
            ) from exc

    def close(self) -> None:
        self.engine.dispose()


def record_interaction(session: Session, record: InteractionRecord) -> Interaction:
    interaction = Interaction(
        id=record.interaction_id or new_id(),
        surface=record.surface,
        question=record.question,
        asker=stored_user(session, record.asker),
        channel=record.channel,
        thread_ts=record.thread_ts,
        message_ts=record.message_ts,
        question_ts=record.question_ts,
        language=record.language,
        answer=record.answer,
        abstained=record.abstained,
        model=record.model,
        adapter=record.adapter,
        timings=dict(record.timings),
        groundedness=record.groundedness,
        grounding=dict(record.grounding),
        error=record.error,
        collections=list(record.collections) if record.collections is not None else None,
        chunks=[
            RetrievedChunk(
                rank=c.rank,
                chunk_id=c.chunk_id,
                doc_id=c.doc_id,
                title=c.title,
                heading=c.heading,
                location=c.location,
                snippet=c.snippet,
                score=c.score,
                scores=dict(c.scores),
                citation=c.citation,
                collection=c.collection,
            )
            for c in record.chunks
        ],
    )
    session.add(interaction)
    session.flush()
    return interaction


def get_interaction(session: Session, interaction_id: str) -> Interaction | None:
    return session.get(Interaction, interaction_id)


def find_by_message(session: Session, channel: str, message_ts: str) -> Interaction | None:
    stmt = select(Interaction).where(Interaction.channel == channel, Interaction.message_ts == message_ts)
    return session.scalars(stmt).first()


def claim_event(store: FeedbackStore, event_id: str) -> bool:
    """True the first time an event id is seen (on any replica), False for a retry of it.

    Uses the primary key as the lock: two replicas racing on one event both insert, one wins.
    """
    try:
        with store.session() as session:
            session.add(ProcessedEvent(event_id=event_id))
    except IntegrityError:
        return False
    return True


def attach_message(session: Session, interaction_id: str, *, channel: str, message_ts: str) -> None:
    """Link an answer to the chat message that shows it, so reactions and links find it later."""
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise StoreError(f"no answer with id {interaction_id}")
    interaction.channel = channel
    interaction.message_ts = message_ts
    session.flush()


def delete_question(
    session: Session, *, channel: str, question_ts: str, unless_text: str | None = None
) -> list[Interaction]:
    """Delete the answers the chat message `question_ts` in `channel` asked for (chunks, feedback, flags
    and reviews go with them); none when `unless_text` is the question as stored (an edit that changed
    no words). Returns the deleted rows, for their ids and answer messages."""
    rows = list(
        session.scalars(
            select(Interaction).where(Interaction.channel == channel, Interaction.question_ts == question_ts)
        )
    )
    if unless_text is not None and all(r.question == unless_text for r in rows):
        return []
    for row in rows:
        session.delete(row)
    return rows
