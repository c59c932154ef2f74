"""The settings that shape an index, stored with it, and rebuilding an index when they change.

An index is only as good as the match between how it was built and how it is queried: vectors from
another embedder are noise to the query's, and chunks cut at another size are not what the settings
promise. Before, re-ingest skipped every file whose bytes had not changed, so after changing the chunk
size or the embedder the old index was silently kept. Now the index records its shape, refuses reads and
writes under another one with a message naming `bron reindex`, and `reindex` rebuilds it from the
documents it holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Protocol, runtime_checkable

from retrieval.backend import SearchBackend
from retrieval.chunking import chunk_document, embedding_text
from retrieval.embedding import Embedder
from retrieval.errors import RetrievalError
from retrieval.settings import RetrievalSettings
from retrieval.types import Chunk, Document, Section


@dataclass(frozen=True)
class IndexShape:
    embedder: str
    dim: int
    chunk_words: int
    chunk_overlap_words: int
    analysis: str  # the BM25 text analysis (sqlite_backend.ANALYSIS_VERSION)

    @classmethod
    def from_settings(cls, settings: RetrievalSettings, embedder: Embedder) -> IndexShape:
        from retrieval.sqlite_backend import ANALYSIS_VERSION

        return cls(
            embedder=embedder.name,
            dim=embedder.dim,
            chunk_words=settings.chunk_words,
            chunk_overlap_words=settings.chunk_overlap_words,
            analysis=ANALYSIS_VERSION,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> IndexShape:
        data = json.loads(raw)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def differences(self, wanted: IndexShape, *, ignore: Sequence[str] = ()) -> list[str]:
        """'chunk_words: index 180, settings 300' for each field where the index (self) differs."""
        return [
            f"{f.name}: index {getattr(self, f.name)}, settings {getattr(wanted, f.name)}"
            for f in fields(self)
            if f.name not in ignore and getattr(self, f.name) != getattr(wanted, f.name)
        ]


class IndexShapeError(RetrievalError):
    """The index was built with other settings than those in force; `bron reindex` rebuilds it."""

    def __init__(self, where: str, differences: Sequence[str]) -> None:
        super().__init__(
            f"the index {where} was built with other settings ({'; '.join(differences)}); "
            "run `bron reindex` to rebuild it from its documents with the current settings, "
            "or set the settings back"
        )
        self.differences = list(differences)


@runtime_checkable
class Reindexable(Protocol):
    """A backend whose stored documents can be read back, chunk by chunk, to be rebuilt elsewhere."""

    def document_hashes(self) -> dict[str, str]: ...

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """The document's chunks in order (ordinal)."""
        ...


def reassemble(doc_id: str, chunks: Sequence[Chunk], *, overlap_words: int, content_hash: str) -> Document:
    """The document as chunking saw it, from its chunks: each section's text is its chunks joined, less the
    overlap each chunk repeats from the one before.

    Lossless for chunking: a chunk is its pieces (paragraphs, or sentences of a long paragraph) joined by
    blank lines, and the overlap is one leading piece, the previous chunk's last `overlap_words` words; so
    the reassembled text splits into the very pieces the original did.
    """
    sections: list[Section] = []
    previous: Chunk | None = None
    for chunk in chunks:
        text = chunk.text
        if previous is not None and previous.heading_path == chunk.heading_path and sections:
            tail = " ".join(previous.text.split()[-overlap_words:]) if overlap_words else ""
            if tail and text.startswith(tail + "\n\n"):
                text = text[len(tail) + 2 :]
            last = sections[-1]
            sections[-1] = Section(last.heading_path, f"{last.text}\n\n{text}")
        else:
            sections.append(Section(chunk.heading_path, text))
        previous = chunk
    first = chunks[0] if chunks else None
    return Document(
        doc_id=doc_id,
        title=first.title if first else doc_id,
        source=first.source if first else "",
        sections=tuple(sections),
        content_hash=content_hash,
        collection=first.collection if first else "public",
        updated_at=first.updated_at if first else None,
        language=first.language if first else "en",
        url=first.url if first else None,
    )


@dataclass
class ReindexReport:
    documents: int = 0
    chunks_before: int = 0
    chunks_after: int = 0


def rebuild(
    source: Reindexable,
    target: SearchBackend,
    *,
    old: IndexShape,
    settings: RetrievalSettings,
    embedder: Embedder,
    on_document: Callable[[str, int], None] | None = None,
) -> ReindexReport:
    """Copy every document of `source` into `target`, re-chunked by `settings` and re-embedded.

    The stored version string (content hash) is kept, so the next `bron ingest` sees the documents
    as unchanged. Entries without chunks (corpus-root records) are copied as they are.
    """
    report = ReindexReport()
    for doc_id, content_hash in sorted(source.document_hashes().items()):
        stored = source.document_chunks(doc_id)
        report.chunks_before += len(stored)
        chunks: list[Chunk] = []
        if stored:
            doc = reassemble(doc_id, stored, overlap_words=old.chunk_overlap_words, content_hash=content_hash)
            chunks = chunk_document(
                doc, max_words=settings.chunk_words, overlap_words=settings.chunk_overlap_words
            )
        vectors = embedder.embed_passages([embedding_text(c) for c in chunks])
        target.replace_document(doc_id, content_hash, chunks, vectors)
        report.documents += bool(stored)
        report.chunks_after += len(chunks)
        if on_document is not None:
            on_document(doc_id, len(chunks))
    return report
