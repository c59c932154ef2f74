"""Query latency of the embedded engine at a given index size, without the LLM.

Exact vector search costs the same whatever the vectors hold, and BM25's cost depends on posting-list
lengths, so a large index is built from real text (a BEIR corpus, repeated with distinct ids) and
random unit vectors: no hours of embedding just to measure speed. Queries are real and embedded for
real. Each query is timed three ways in the same run: its embedding; the search without it (BM25, kNN
and fusion, plain and with the collection filter every Slack search carries); and one bare matrix
product over the same vectors, the floor any exact search pays, so the ratio of the two says how much
the engine adds on this machine at this moment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.progress import Progress

from evaluation.retrieval import percentile
from retrieval.embedding import Embedder, Vectors
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk, SearchFilters


def build_synthetic_index(path: Path, *, corpus: Path, chunks: int, dim: int, seed: int = 7) -> SQLiteBackend:
    backend = SQLiteBackend(path, dim=dim)
    have = backend.count_chunks()
    if have >= chunks:
        return backend
    texts = [(r.get("title", ""), r.get("text", "")) for r in map(json.loads, corpus.open(encoding="utf-8"))]
    rng = np.random.default_rng(seed)
    per_doc = 10
    with Progress() as progress:
        task = progress.add_task("synthetic index", total=chunks, completed=have)
        for start in range(have, chunks, per_doc):
            n = min(per_doc, chunks - start)
            vectors = rng.normal(size=(n, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            doc_id = f"synthetic-{start // per_doc}"
            batch = []
            for i in range(n):
                title, text = texts[(start + i) % len(texts)]
                batch.append(Chunk(chunk_id=f"{doc_id}-{i}", doc_id=doc_id, title=title, heading_path=(),
                                   text=text, source=doc_id, ordinal=i))  # fmt: skip
            backend.replace_document(doc_id, doc_id, batch, vectors)
            progress.update(task, advance=n)
    return backend


class _Embedded:
    """Hands out query vectors embedded beforehand, so a timed search does not include embedding."""

    def __init__(self, inner: Embedder, vectors: dict[str, Vectors]) -> None:
        self.name = inner.name
        self.dim = inner.dim
        self._inner = inner
        self._vectors = vectors

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._inner.embed_passages(texts)

    def embed_query(self, text: str) -> Vectors:
        return self._vectors[text]


def _spread(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(times, 50), 3), "p95_ms": round(percentile(times, 95), 3)}


def measure(
    backend: SQLiteBackend,
    embedder: Embedder,
    queries: list[str],
    *,
    fusion: FusionConfig | None = None,
    k: int = 10,
) -> dict[str, object]:
    embed_ms: dict[str, float] = {}
    vectors: dict[str, Vectors] = {}
    for q in queries:
        t = time.perf_counter()
        vectors[q] = embedder.embed_query(q)
        embed_ms[q] = (time.perf_counter() - t) * 1000
    retriever = HybridRetriever(backend, _Embedded(embedder, vectors), fusion=fusion)
    t = time.perf_counter()
    retriever.search(queries[0], k=k)  # loads the index into memory once, as a running bot has
    load_ms = (time.perf_counter() - t) * 1000
    matrix = backend.vectors()
    public = SearchFilters(collections=("public",))
    matmul, search, filtered, total = [], [], [], []
    stages: dict[str, list[float]] = {}
    for q in queries:
        t = time.perf_counter()
        matrix @ vectors[q]
        matmul.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        result = retriever.search(q, k=k)
        search.append((time.perf_counter() - t) * 1000)
        total.append(search[-1] + embed_ms[q])
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        t = time.perf_counter()
        retriever.search(q, k=k, filters=public)
        filtered.append((time.perf_counter() - t) * 1000)
    load_after_write_ms = _search_after_a_sync(backend, retriever, queries[0], k=k)
    return {
        **_spread(total),
        "queries": len(queries),
        "embedding": _spread(list(embed_ms.values())),
        "search_without_embedding": _spread(search),
        "search_with_collection_filter": _spread(filtered),
        "matrix_product": _spread(matmul),
        "search_over_matrix_product_p50": round(percentile(search, 50) / percentile(matmul, 50), 2),
        "stages_p50_ms": {stage: round(percentile(ms, 50), 3) for stage, ms in stages.items()},
        "first_search_loads_index_ms": round(load_ms, 1),
        "first_search_after_5_documents_rewritten_ms": round(load_after_write_ms, 1),
    }


def _search_after_a_sync(backend: SQLiteBackend, retriever: HybridRetriever, query: str, *, k: int) -> float:
    """A scheduled sync rewrites a few documents: how long the next search takes (the engine merges
    the written rows into its snapshot; before, it reloaded the whole index, as the first search does)."""
    rng = np.random.default_rng(11)
    for doc_id in sorted(backend.document_hashes())[:5]:
        chunks = backend.document_chunks(doc_id)
        vectors = rng.normal(size=(len(chunks), backend.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        backend.replace_document(doc_id, f"{doc_id}-rewritten", chunks, vectors)
    t = time.perf_counter()
    retriever.search(query, k=k)
    return (time.perf_counter() - t) * 1000


def run(
    *,
    corpus: Path,
    queries: Path,
    chunks: int,
    work_dir: Path,
    embedder: Embedder,
    fusion: FusionConfig | None = None,
    n_queries: int = 200,
) -> dict[str, object]:
    backend = build_synthetic_index(
        work_dir / f"synthetic-{chunks}.sqlite", corpus=corpus, chunks=chunks, dim=embedder.dim
    )
    qs = [r["text"] for r in map(json.loads, queries.open(encoding="utf-8"))][:n_queries]
    try:
        result = measure(backend, embedder, qs, fusion=fusion)
        result["chunks"] = backend.count_chunks()
    finally:
        backend.close()
    return result
