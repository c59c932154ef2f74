"""Wider fusion grid chosen on SciFact train, then scored on test; see scifact-tuning.md."""

import itertools

from scifact_runs import load_runs

from evaluation.retrieval import evaluate_run, fuse_docs
from retrieval.hybrid import FusionConfig

tr_runs, te_runs, tr, te = load_runs()
res = []
for k, w, cand in itertools.product(
    (1, 2, 3, 5, 7, 10, 15, 20, 40, 60), (0.5, 0.75, 1.0, 1.25, 1.5, 2.0), (20, 50, 100, 200)
):
    cfg = FusionConfig.from_settings(rank_constant=k, dense_weight=w, candidates=cand)
    s = evaluate_run({x: fuse_docs(tr_runs, x, cfg) for x in tr if x in tr_runs.bm25}, tr).ndcg10
    res.append((s, k, w, cand))
res.sort(reverse=True)
for s, k, w, cand in res[:8]:
    cfg = FusionConfig.from_settings(rank_constant=k, dense_weight=w, candidates=cand)
    t = evaluate_run({x: fuse_docs(te_runs, x, cfg) for x in te if x in te_runs.bm25}, te)
    print(f"train {s:.4f} k={k} w={w} cand={cand} -> test {t.ndcg10:.4f}")
cfg = FusionConfig.from_settings(rank_constant=10, dense_weight=1.0, candidates=100)
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
