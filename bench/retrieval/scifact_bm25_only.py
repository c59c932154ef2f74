"""SciFact test nDCG@10 of BM25 alone on the embedded engine, without embedding anything.

BM25 does not depend on the vectors, so the index holds constant ones; 5,183 abstracts index in about
a minute. Used to check that a change of text analysis does not cost English retrieval:

    PYTHONPATH=. nice .venv/bin/python bench/retrieval/scifact_bm25_only.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluation.retrieval import evaluate_run, index_corpus, load_corpus, load_qrels, load_queries
from retrieval.embedding import Vectors
from retrieval.settings import RetrievalSettings
from retrieval.sqlite_backend import SQLiteBackend

DATA = Path(__file__).parents[2].parent / "shared" / "data" / "scifact"


class ConstantEmbedder:
    name = "constant"
    dim = 8

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        return np.ones(self.dim, dtype=np.float32)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend = SQLiteBackend(Path(tmp) / "index.sqlite", dim=ConstantEmbedder.dim)
        index_corpus(
            load_corpus(DATA / "corpus.jsonl"),
            backend=backend,
            embedder=ConstantEmbedder(),
            chunking=RetrievalSettings(),
        )
        queries = load_queries(DATA / "queries.jsonl")
        qrels = load_qrels(DATA / "qrels" / "test.tsv")
        run: dict[str, list[str]] = {}
        for qid in qrels:
            docs: list[str] = []
            for hit in backend.search_bm25(queries[qid], k=200):
                if hit.chunk.doc_id not in docs:
                    docs.append(hit.chunk.doc_id)
            run[qid] = docs[:100]
        backend.close()
    print(evaluate_run(run, qrels).as_dict())
    print("PYTHONPATH=. nice .venv/bin/python bench/retrieval/scifact_bm25_only.py", file=sys.stderr)


if __name__ == "__main__":
    main()
