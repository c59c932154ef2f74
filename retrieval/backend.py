"""The narrow contract every search engine implements; one contract test suite runs on each."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from retrieval.embedding import Vectors
from retrieval.types import Chunk, Hit, ScoredChunk, SearchFilters


class SearchBackend(Protocol):
    """Stores chunks with their vectors and answers BM25 and kNN queries.

    `replace_document` swaps all chunks of a document at once, so a reader never sees a mix of old and
    new chunks; `delete_document` removes them. Filters are applied inside the engine. Inside
    `batched()` an engine may buffer writes and show them at the block's end; it yields the list of
    (doc_id, reason) it refused, each of which keeps its old version.
    """

    name: str

    def batched(self) -> AbstractContextManager[list[tuple[str, str]]]: ...

    def replace_document(
        self, doc_id: str, content_hash: str, chunks: Sequence[Chunk], vectors: Vectors
    ) -> None: ...

    def delete_document(self, doc_id: str) -> None: ...

    def document_hashes(self) -> dict[str, str]: ...

    def search_bm25(
        self, query: str, *, k: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]: ...

    def search_dense(
        self, vector: Vectors, *, k: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]: ...

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]: ...

    def count_chunks(self) -> int: ...

    def check_shape(self) -> None:
        """Raise IndexShapeError (naming `bron reindex`) if the index was built with other settings;
        an index not built yet passes."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ServerSideFusion(Protocol):
    """A backend that can fuse BM25 and kNN itself (Elasticsearch's `rrf` retriever, licence permitting)."""

    def server_side_rrf_available(self) -> bool: ...

    def search_hybrid_server(
        self,
        query: str,
        vector: Vectors,
        *,
        k: int,
        filters: SearchFilters | None = None,
        rank_constant: int = 60,
        candidates: int = 100,
    ) -> list[Hit]: ...
