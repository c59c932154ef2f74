"""Query latency of the embedded engine at a given index size, without the LLM.

Exact vector search costs the same whatever the vectors hold, and BM25's cost depends on posting-list
lengths, so a large index is built from real text (a BEIR corpus, repeated with distinct ids) and
random unit vectors: no hours of embedding just to measure speed. Queries are real and embedded for
real, so the figure includes the query embedding, BM25, kNN and fusion.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.progress import Progress

from evaluation.retrieval import percentile
from retrieval.embedding import Embedder
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk


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


def measure(retriever: HybridRetriever, queries: list[str], *, k: int = 10) -> dict[str, float]:
    retriever.search(queries[0], k=k)  # loads the vector matrix once, as a running bot has
    times = []
    for q in queries:
        t = time.perf_counter()
        retriever.search(q, k=k)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "queries": len(times)}


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
        result: dict[str, object] = dict(measure(HybridRetriever(backend, embedder, fusion=fusion), qs))
        result["chunks"] = backend.count_chunks()
    finally:
        backend.close()
    return result
