"""Value types shared by ingestion, the backends and hybrid search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, as a loader found it."""

    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Document:
    """A source document after loading, before chunking."""

    doc_id: str
    title: str
    source: str
    sections: tuple[Section, ...]
    content_hash: str
    collection: str = "public"
    updated_at: datetime | None = None
    language: str = "en"
    url: str | None = None


@dataclass(frozen=True)
class Chunk:
    """The unit that is indexed, retrieved and cited."""

    chunk_id: str
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    collection: str = "public"
    language: str = "en"
    ordinal: int = 0
    updated_at: datetime | None = None
    url: str | None = None

    @property
    def location(self) -> str:
        """Where a reader finds this chunk: the URL if known, else the file path."""
        return self.url or self.source

    @property
    def heading(self) -> str:
        return " › ".join(self.heading_path)


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions every backend applies inside the engine, never after the fact."""

    collections: tuple[str, ...] | None = None
    updated_after: datetime | None = None
    doc_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScoredChunk:
    """One result of one retriever (BM25 or dense)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Hit:
    """One fused result, keeping each input run's rank so a reader can see why it was chosen."""

    chunk: Chunk
    score: float
    rank: int
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    highlight: str | None = None
