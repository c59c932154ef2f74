"""ORM tables. Callers own transactions (`with store.session() as s, s.begin():`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


def _clean(value: Any, limit: int | None) -> Any:
    """NUL bytes removed (PostgreSQL refuses them in text) and text cut to its column's length."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"
    if isinstance(value, dict):
        return {_clean(k, None): _clean(v, None) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, None) for v in value]
    return value


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def _fit_to_columns(mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    """Every row is made to fit before it is written, on SQLite and PostgreSQL alike.

    Titles, headings and paths come from documents and questions from people; a 600-character title
    or a NUL byte made PostgreSQL refuse the whole answer (SQLite took it), and the user lost an answer
    already generated. A cut title is better than a lost answer.
    """
    for attr in mapper.column_attrs:
        value = getattr(target, attr.key, None)
        if isinstance(value, str | dict | list):
            cleaned = _clean(value, getattr(attr.columns[0].type, "length", None))
            if cleaned != value:
                setattr(target, attr.key, cleaned)


class Interaction(Base):
    """One question and the answer Bron gave."""

    __tablename__ = "interactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    surface: Mapped[str] = mapped_column(String(32), default="cli")
    question: Mapped[str] = mapped_column(Text)
    asker: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    # the Slack message that asked (message_ts is Bron's answer): deleting or editing it erases the row
    question_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    answer: Mapped[str] = mapped_column(Text, default="")
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    model: Mapped[str | None] = mapped_column(String(200))
    adapter: Mapped[str | None] = mapped_column(String(200))
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    groundedness: Mapped[float | None] = mapped_column(Float)
    grounding: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # the collections the question was searched in; None on rows from before they were recorded
    collections: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    chunks: Mapped[list[RetrievedChunk]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan", order_by="RetrievedChunk.rank"
    )
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan"
    )
    flags: Mapped[list[Flag]] = relationship(back_populates="interaction", cascade="all, delete-orphan")


class RetrievedChunk(Base):
    """A chunk shown to the model for one interaction, with its rank, score and citation number."""

    __tablename__ = "retrieved_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    chunk_id: Mapped[str] = mapped_column(String(64))
    doc_id: Mapped[str] = mapped_column(String(500), index=True)
    title: Mapped[str] = mapped_column(String(500))
    heading: Mapped[str] = mapped_column(String(1000), default="")
    location: Mapped[str] = mapped_column(String(1000))
    snippet: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(Float)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    citation: Mapped[int | None] = mapped_column(Integer)
    # who may see this chunk; None (rows from before it was recorded) is shown to no scoped viewer
    collection: Mapped[str | None] = mapped_column(String(64), index=True)

    interaction: Mapped[Interaction] = relationship(back_populates="chunks")


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    user: Mapped[str | None] = mapped_column(String(64))
    vote: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    correct_answer: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32), default="button")

    interaction: Mapped[Interaction] = relationship(back_populates="feedback")


class Flag(Base):
    """A possible hallucination waiting for a reviewer."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)

    interaction: Mapped[Interaction] = relationship(back_populates="flags")
    reviews: Mapped[list[Review]] = relationship(back_populates="flag", cascade="all, delete-orphan")


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    reviewer: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(32))
    corrected_answer: Mapped[str | None] = mapped_column(Text)
    expected_sources: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(Text)

    flag: Mapped[Flag] = relationship(back_populates="reviews")


class ProcessedEvent(Base):
    """Slack event ids already handled, so a retry is ignored even after a restart or on another replica."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


Index("ix_feedback_vote_created", Feedback.vote, Feedback.created_at)


class SourceSync(Base):
    """One change stream of a connected source: where its listing stands and when it last succeeded.

    `cursor` is saved in the same transaction as the items a batch changed, so a sync that dies midway
    resumes after the last applied batch; `generation` numbers full listings, and an item not seen in a
    finished full listing is pruned (within the mass-delete guard).
    """

    __tablename__ = "source_syncs"

    stream: Mapped[str] = mapped_column(String(300), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    in_progress: Mapped[bool] = mapped_column(Boolean, default=False)
    full_pass: Mapped[bool] = mapped_column(Boolean, default=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    mapping: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SourceItem(Base):
    """What Bron holds of one item of a source stream: its document id, collection, hash and validators."""

    __tablename__ = "source_items"

    stream: Mapped[str] = mapped_column(String(300), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(1000), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(1200))
    collection: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(500))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    indexed: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_generation: Mapped[int] = mapped_column(Integer, default=0)
    pending_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
