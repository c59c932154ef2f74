"""Hybrid search: BM25 and dense kNN from one backend, fused by reciprocal rank (or z-score) fusion."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from retrieval.analysis import detect_language
from retrieval.backend import SearchBackend, ServerSideFusion
from retrieval.embedding import Embedder
from retrieval.fusion import FusionMethod, fuse
from retrieval.settings import RetrievalSettings
from retrieval.types import Hit, ScoredChunk, SearchFilters

Mode = Literal["bm25", "dense", "hybrid"]


@dataclass(frozen=True)
class FusionConfig:
    """How the runs are fused. Its defaults live in `RetrievalSettings` only: build it with
    `from_settings`, so a benchmark cannot fuse differently from production by accident."""

    method: FusionMethod
    rank_constant: int
    bm25_weight: float
    dense_weight: float
    candidates: int
    other_language_by_dense: bool

    @classmethod
    def from_settings(cls, settings: RetrievalSettings | None = None, **overrides: Any) -> FusionConfig:
        """The settings' fusion (the defaults where None), with `overrides` for a tuning grid."""
        r = settings or RetrievalSettings()
        config = cls(
            method=r.fusion,
            rank_constant=r.rrf_rank_constant,
            bm25_weight=r.bm25_weight,
            dense_weight=r.dense_weight,
            candidates=r.candidates,
            other_language_by_dense=r.other_language_by_dense,
        )
        return replace(config, **overrides)


@dataclass
class SearchResult:
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    def __init__(
        self, backend: SearchBackend, embedder: Embedder, *, fusion: FusionConfig | None = None
    ) -> None:
        self.backend = backend
        self.embedder = embedder
        self.fusion = fusion or FusionConfig.from_settings()

    def search(
        self, query: str, *, k: int = 10, filters: SearchFilters | None = None, mode: Mode = "hybrid"
    ) -> SearchResult:
        timings: dict[str, float] = {}
        runs: dict[str, list[ScoredChunk]] = {}
        n = max(k, self.fusion.candidates)
        if mode == "hybrid" and self._server_fuses():
            return self._search_server_side(query, k=k, filters=filters, candidates=n)
        if mode in ("bm25", "hybrid"):
            t = time.perf_counter()
            runs["bm25"] = self.backend.search_bm25(query, k=n, filters=filters)
            timings["bm25_ms"] = (time.perf_counter() - t) * 1000
        if mode in ("dense", "hybrid"):
            t = time.perf_counter()
            vector = self.embedder.embed_query(query)
            timings["embed_ms"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            runs["dense"] = self.backend.search_dense(vector, k=n, filters=filters)
            timings["dense_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        hits = fuse(
            runs,
            k=k,
            method=self.fusion.method,
            rank_constant=self.fusion.rank_constant,
            weights={"bm25": self.fusion.bm25_weight, "dense": self.fusion.dense_weight},
            question_language=detect_language(query) if self.fusion.other_language_by_dense else None,
        )
        timings["fuse_ms"] = (time.perf_counter() - t) * 1000
        return SearchResult(hits=hits, timings_ms=timings)

    def _server_fuses(self) -> bool:
        """Only RRF with equal weights: the server's `rrf` retriever has a rank constant but no run weights."""
        equal = self.fusion.method == "rrf" and self.fusion.bm25_weight == self.fusion.dense_weight
        equal = equal and not self.fusion.other_language_by_dense  # the server knows no languages
        return (
            equal and isinstance(self.backend, ServerSideFusion) and self.backend.server_side_rrf_available()
        )

    def _search_server_side(
        self, query: str, *, k: int, filters: SearchFilters | None, candidates: int
    ) -> SearchResult:
        assert isinstance(self.backend, ServerSideFusion)
        t = time.perf_counter()
        vector = self.embedder.embed_query(query)
        timings = {"embed_ms": (time.perf_counter() - t) * 1000}
        t = time.perf_counter()
        hits = self.backend.search_hybrid_server(
            query,
            vector,
            k=k,
            filters=filters,
            rank_constant=self.fusion.rank_constant,
            candidates=candidates,
        )
        timings["server_rrf_ms"] = (time.perf_counter() - t) * 1000
        return SearchResult(hits=hits, timings_ms=timings)
