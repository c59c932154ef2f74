"""Score fusion (min-max, max-only, z-score) against RRF on SciFact, chosen on train; see scifact-tuning.md."""

import itertools
import statistics

from scifact_runs import load_runs

from evaluation.retrieval import Metrics, RunSet, evaluate_run, fuse_docs
from retrieval.hybrid import FusionConfig

tr_runs, te_runs, tr, te = load_runs()


def norm(pairs: list[tuple[str, float]], how: str, n: int) -> dict[str, float]:
    pairs = pairs[:n]
    s = [x for _, x in pairs]
    if not s:
        return {}
    if how == "z":
        m, sd = statistics.mean(s), statistics.pstdev(s) or 1.0
        return {d: (x - m) / sd for d, x in pairs}
    lo, hi = (min(s), max(s)) if how == "minmax" else (0.0, max(s))  # maxonly: theoretical minimum 0
    return {d: (x - lo) / ((hi - lo) or 1.0) for d, x in pairs}


def convex(runs: RunSet, qid: str, a: float, how: str, n: int) -> list[str]:
    b, d = norm(runs.bm25[qid], how, n), norm(runs.dense[qid], how, n)
    lo_b, lo_d = min(b.values(), default=0.0), min(d.values(), default=0.0)
    sc = {x: (1 - a) * b.get(x, lo_b) + a * d.get(x, lo_d) for x in set(b) | set(d)}
    return sorted(sc, key=lambda x: -sc[x])[:100]


def score(runs: RunSet, qrels: dict[str, dict[str, int]], a: float, how: str, n: int) -> Metrics:
    return evaluate_run({x: convex(runs, x, a, how, n) for x in qrels if x in runs.bm25}, qrels)


grid = itertools.product(("minmax", "maxonly", "z"), (50, 100, 200), [i / 20 for i in range(21)])
res = sorted(((score(tr_runs, tr, a, how, n).ndcg10, how, n, a) for how, n, a in grid), reverse=True)
for s, how, n, a in res[:6]:
    t = score(te_runs, te, a, how, n)
    print(f"train {s:.4f} {how} n={n} a={a} -> test nDCG@10 {t.ndcg10:.4f} R@10 {t.recall10:.3f}")
cfg = FusionConfig.from_settings(rank_constant=10, dense_weight=1.0, candidates=100)
for name, runs, qrels in (("train", tr_runs, tr), ("test", te_runs, te)):
    print(
        "rrf k=10",
        name,
        evaluate_run({x: fuse_docs(runs, x, cfg) for x in qrels if x in runs.bm25}, qrels).ndcg10,
    )
