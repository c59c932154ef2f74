"""`bron eval latency` times the search apart from the query embedding, beside a bare matrix product."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluation.latency import run
from retrieval.embedding import Vectors


class SlowEmbedder:
    """Takes 200 ms a query, far more than searching a few hundred chunks even on loaded cores."""

    name = "slow"
    dim = 16

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        time.sleep(0.2)
        v = np.random.default_rng(len(text)).normal(size=self.dim).astype(np.float32)
        out: Vectors = v / np.linalg.norm(v)
        return out


def test_search_is_timed_without_the_embedding(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    queries = tmp_path / "queries.jsonl"
    words = ["coffee", "roast", "bean", "grinder", "milk", "holiday", "leave", "laptop", "pension", "bike"]
    with corpus.open("w") as f:
        for i in range(60):
            f.write(
                json.dumps({"title": words[i % 10], "text": " ".join(words[(i + j) % 10] for j in range(8))})
                + "\n"
            )
    with queries.open("w") as f:
        for i in range(12):
            f.write(json.dumps({"text": f"{words[i % 10]} {words[(i * 3) % 10]}?"}) + "\n")
    result = run(corpus=corpus, queries=queries, chunks=300, work_dir=tmp_path, embedder=SlowEmbedder())
    assert result["chunks"] == 300 and result["queries"] == 12
    embedding = result["embedding"]
    search = result["search_without_embedding"]
    assert isinstance(embedding, dict) and isinstance(search, dict)
    assert embedding["p50_ms"] >= 200 > search["p50_ms"]
    assert result["p50_ms"] >= 30  # the total still includes the embedding
    ratio = result["search_over_matrix_product_p50"]
    assert isinstance(ratio, float) and ratio > 1
