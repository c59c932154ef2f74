"""BM25 with a weighted title field, fused with the saved dense runs; see scifact-tuning.md."""

import json
import sqlite3
from pathlib import Path

from scifact_runs import load_runs

from evaluation.retrieval import RunSet, evaluate_run, fuse_docs, load_queries
from retrieval.analysis import analyze, analyze_query, detect_language
from retrieval.hybrid import FusionConfig

D = Path("../shared/data/scifact")
db = sqlite3.connect(":memory:")
db.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='unicode61')")
ids = []
for line in (D / "corpus.jsonl").read_text().splitlines():
    r = json.loads(line)
    lang = detect_language(r["title"] + " " + r["text"])
    ids.append(r["_id"])
    db.execute(
        "INSERT INTO t(rowid,title,body) VALUES (?,?,?)",
        (len(ids), " ".join(analyze(r["title"], lang)), " ".join(analyze(r["text"], lang))),
    )
q = load_queries(D / "queries.jsonl")
tr_runs, te_runs, tr, te = load_runs()


def bm25run(qids, wt):
    out = {}
    for x in qids:
        terms = analyze_query(q[x])
        m = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        rows = db.execute(
            f"SELECT rowid, bm25(t,{wt},1.0) s FROM t WHERE t MATCH ? ORDER BY s LIMIT 200", (m,)
        ).fetchall()
        out[x] = [(ids[r - 1], -s) for r, s in rows]
    return out


for wt in (1.0, 1.5, 2.0, 3.0):
    b_tr = bm25run(list(tr_runs.bm25), wt)
    b_te = bm25run(list(te_runs.bm25), wt)
    rs_tr = RunSet(bm25=b_tr, dense=tr_runs.dense, latency_ms={})
    rs_te = RunSet(bm25=b_te, dense=te_runs.dense, latency_ms={})
    bt = evaluate_run({x: [d for d, _ in b_tr[x]][:100] for x in b_tr}, tr).ndcg10
    be = evaluate_run({x: [d for d, _ in b_te[x]][:100] for x in b_te}, te).ndcg10
    best = max(
        (
            evaluate_run(
                {
                    x: fuse_docs(
                        rs_tr, x, FusionConfig.from_settings(rank_constant=k, dense_weight=w, candidates=100)
                    )
                    for x in tr
                    if x in rs_tr.bm25
                },
                tr,
            ).ndcg10,
            k,
            w,
        )
        for k in (2, 5, 10, 20)
        for w in (0.75, 1.0, 1.25)
    )
    h = evaluate_run(
        {
            x: fuse_docs(
                rs_te,
                x,
                FusionConfig.from_settings(rank_constant=best[1], dense_weight=best[2], candidates=100),
            )
            for x in te
            if x in rs_te.bm25
        },
        te,
    ).ndcg10
    h10 = evaluate_run(
        {
            x: fuse_docs(
                rs_te, x, FusionConfig.from_settings(rank_constant=10, dense_weight=1.0, candidates=100)
            )
            for x in te
            if x in rs_te.bm25
        },
        te,
    ).ndcg10
    print(
        f"title weight {wt}: bm25 train {bt:.4f} test {be:.4f}; hybrid best-train {best} -> test {h:.4f}; k10w1 test {h10:.4f}"
    )
