"""Retrieval benchmark on BEIR-format data: nDCG@10, Recall@10/100 and MRR for bm25, dense and hybrid.

Documents are chunked and indexed by the same code as production; a document's rank is the rank of
its best chunk. Fusion weights are tuned on the train qrels and reported on test, never tuned on test.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rich.progress import Progress

from retrieval.backend import SearchBackend
from retrieval.chunking import chunk_document, embedding_text
from retrieval.embedding import Embedder
from retrieval.fusion import fused_scores
from retrieval.hybrid import FusionConfig, HybridRetriever, Mode
from retrieval.loaders import content_hash
from retrieval.settings import RetrievalSettings
from retrieval.types import Document, Section

MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class Metrics:
    ndcg10: float
    recall10: float
    recall100: float
    mrr: float
    queries: int

    def as_dict(self) -> dict[str, float]:
        return {
            "nDCG@10": self.ndcg10,
            "Recall@10": self.recall10,
            "Recall@100": self.recall100,
            "MRR": self.mrr,
        }


def load_corpus(path: Path) -> Iterable[Document]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = row.get("text", "").strip()
            title = row.get("title", "").strip()
            if not text and not title:
                continue
            yield Document(
                doc_id=str(row["_id"]),
                title=title or str(row["_id"]),
                source=f"{path.name}#{row['_id']}",
                sections=(Section(heading_path=(), text=text or title),),
                content_hash=content_hash(f"{title}\n{text}".encode()),
                language=row.get("language", "en"),
            )


def load_queries(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as fh:
        return {str(r["_id"]): r["text"] for r in map(json.loads, fh)}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    return qrels


def index_corpus(
    docs: Iterable[Document],
    *,
    backend: SearchBackend,
    embedder: Embedder,
    chunking: RetrievalSettings,
    batch: int = 64,
) -> int:
    """Index documents not yet in the backend, chunked as `chunking` says; returns the chunks added."""
    max_words, overlap_words = chunking.chunk_words, chunking.chunk_overlap_words
    known = backend.document_hashes()
    todo = [d for d in docs if known.get(d.doc_id) != d.content_hash]
    added = 0
    with Progress() as progress:
        task = progress.add_task("indexing", total=len(todo))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            chunked = [chunk_document(d, max_words=max_words, overlap_words=overlap_words) for d in part]
            flat = [c for cs in chunked for c in cs]
            vectors = embedder.embed_passages([embedding_text(c) for c in flat])
            offset = 0
            for doc, chunks in zip(part, chunked, strict=True):
                backend.replace_document(
                    doc.doc_id, doc.content_hash, chunks, vectors[offset : offset + len(chunks)]
                )
                offset += len(chunks)
            added += len(flat)
            progress.update(task, advance=len(part))
    return added


def doc_ranking(retriever: HybridRetriever, query: str, *, mode: Mode, depth: int = 100) -> list[str]:
    """Documents in order of their best chunk."""
    result = retriever.search(query, k=depth * 2, mode=mode)
    seen: list[str] = []
    for hit in result.hits:
        if hit.chunk.doc_id not in seen:
            seen.append(hit.chunk.doc_id)
    return seen[:depth]


def evaluate_run(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> Metrics:
    ndcg, r10, r100, mrr = [], [], [], []
    for qid, rel in qrels.items():
        ranked = run.get(qid, [])
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:10]))
        ndcg.append(dcg / ideal if ideal else 0.0)
        r10.append(len(set(ranked[:10]) & rel.keys()) / len(rel))
        r100.append(len(set(ranked[:100]) & rel.keys()) / len(rel))
        mrr.append(next((1 / (i + 1) for i, d in enumerate(ranked) if d in rel), 0.0))
    return Metrics(
        ndcg10=statistics.mean(ndcg),
        recall10=statistics.mean(r10),
        recall100=statistics.mean(r100),
        mrr=statistics.mean(mrr),
        queries=len(qrels),
    )


@dataclass
class RunSet:
    """Per-query candidate lists of each single retriever, computed once, fused many times while tuning."""

    bm25: dict[str, list[tuple[str, float]]]
    dense: dict[str, list[tuple[str, float]]]
    latency_ms: dict[str, list[float]]


def collect_runs(
    retriever: HybridRetriever, queries: dict[str, str], qids: Sequence[str], *, depth: int = 100
) -> RunSet:
    bm25: dict[str, list[tuple[str, float]]] = {}
    dense: dict[str, list[tuple[str, float]]] = {}
    latency: dict[str, list[float]] = {"bm25": [], "dense": [], "hybrid": []}
    for qid in qids:
        q = queries[qid]
        t = time.perf_counter()
        b = retriever.backend.search_bm25(q, k=depth * 2)
        t_b = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        d = retriever.backend.search_dense(retriever.embedder.embed_query(q), k=depth * 2)
        t_d = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        retriever.search(q, k=10, mode="hybrid")
        latency["hybrid"].append((time.perf_counter() - t) * 1000)
        latency["bm25"].append(t_b)
        latency["dense"].append(t_d)
        bm25[qid] = _best_per_doc((s.chunk.doc_id, s.score) for s in b)
        dense[qid] = _best_per_doc((s.chunk.doc_id, s.score) for s in d)
    return RunSet(bm25=bm25, dense=dense, latency_ms=latency)


def _best_per_doc(pairs: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for doc, score in pairs:
        if doc not in seen:
            seen.add(doc)
            out.append((doc, score))
    return out


def fuse_docs(runs: RunSet, qid: str, fusion: FusionConfig, depth: int = 100) -> list[str]:
    scores = fused_scores(
        {name: getattr(runs, name)[qid][: fusion.candidates] for name in ("bm25", "dense")},
        method=fusion.method,
        rank_constant=fusion.rank_constant,
        weights={"bm25": fusion.bm25_weight, "dense": fusion.dense_weight},
    )
    return sorted(scores, key=lambda d: -scores[d])[:depth]


def fusion_grid(base: FusionConfig) -> list[FusionConfig]:
    """RRF over rank constant and dense weight, and z-score fusion over the dense weight; the rest as `base`."""
    weights = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
    ks = (10, 20, 40, 60, 100)
    rrf = [replace(base, method="rrf", rank_constant=k, dense_weight=w) for k in ks for w in weights]
    return rrf + [replace(base, method="zscore", dense_weight=w) for w in weights]


def tune_fusion(
    runs: RunSet, qrels: dict[str, dict[str, int]], grid: Sequence[FusionConfig]
) -> list[tuple[FusionConfig, float]]:
    """Every setting in `grid` with its nDCG@10 on training queries, best first (first listed on a tie)."""
    scored = [
        (cfg, evaluate_run({q: fuse_docs(runs, q, cfg) for q in qrels if q in runs.bm25}, qrels).ndcg10)
        for cfg in grid
    ]
    return sorted(scored, key=lambda pair: -pair[1])


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_benchmark(
    *,
    corpus: Path,
    queries: Path,
    qrels: Path,
    train_qrels: Path | None,
    retriever: HybridRetriever,
    chunking: RetrievalSettings,
) -> dict[str, object]:
    """Index, tune fusion on train (if given), and evaluate every mode on `qrels`.

    `retriever` and `chunking` are production's (bot.runtime.open_search), so "hybrid" is the figure of
    the configuration that runs; a fusion chosen on train is reported beside it ("hybrid-tuned"),
    never instead of it.
    """
    backend, embedder, fusion = retriever.backend, retriever.embedder, retriever.fusion
    t = time.perf_counter()
    added = index_corpus(load_corpus(corpus), backend=backend, embedder=embedder, chunking=chunking)
    index_s = time.perf_counter() - t
    all_queries = load_queries(queries)
    tuned: dict[str, object] | None = None
    fused = {"hybrid": fusion}
    if train_qrels is not None:
        train = load_qrels(train_qrels)
        train_runs = collect_runs(retriever, all_queries, [q for q in train if q in all_queries])
        ranking = tune_fusion(train_runs, train, fusion_grid(fusion))
        best_rrf = next(pair for pair in ranking if pair[0].method == "rrf")
        fused["hybrid-tuned"] = ranking[0][0]
        if ranking[0][0].method != "rrf":
            fused["hybrid-tuned-rrf"] = best_rrf[0]
        tuned = {
            "chosen": asdict(ranking[0][0]),
            "train_nDCG@10": ranking[0][1],
            "best_rrf": asdict(best_rrf[0]),
            "rrf_train_nDCG@10": best_rrf[1],
        }
    test = load_qrels(qrels)
    runs = collect_runs(retriever, all_queries, [q for q in test if q in all_queries])
    results: dict[str, dict[str, float]] = {}
    for mode in ("bm25", "dense"):
        run = {q: [d for d, _ in getattr(runs, mode)[q]][:100] for q in runs.bm25}
        results[mode] = evaluate_run(run, test).as_dict()
    for name, cfg in fused.items():
        results[name] = evaluate_run({q: fuse_docs(runs, q, cfg) for q in runs.bm25}, test).as_dict()
    latency = {
        mode: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95)}
        for mode, v in runs.latency_ms.items()
    }
    return {
        "results": results,
        "fusion": asdict(fusion),
        "tuned_on_train": tuned,
        "latency": latency,
        "chunks": backend.count_chunks(),
        "chunks_added": added,
        "index_seconds": index_s,
        "queries": len(test),
    }
