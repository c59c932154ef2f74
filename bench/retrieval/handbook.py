"""Retrieval on the sample handbook with the default configuration: same-language and cross-language.

"hybrid" is the retriever as configured (the settings' fusion, other-language chunks ranked by dense);
"hybrid, plain rrf" is equal-weight RRF without that rule, as shipped before issue 21.

Questions: `retrieval/sample_handbook_questions.json` (the 52 answerable dev questions the abstention
figures use) and `retrieval/sample_handbook_cross_language.json` (issue 21: 41 Dutch questions about
English pages, 44 English questions about Dutch pages, written from the pages before any search ran).
A question counts at k when a chunk of its page is among the first k hits, as the bot's top_k shows them.

    PYTHONPATH=. nice .venv/bin/python bench/retrieval/handbook.py   # writes bench/retrieval/handbook.json

`--embedder DIR` indexes with a sentence-transformers model folder instead of the default e5-small (e.g.
EmbeddingGemma-300M from scripts/evidence_model_setup.sh, in a venv with the `evidence` extra) and writes
bench/retrieval/handbook-<folder name>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.runtime import build_embedder
from bot.settings import Settings
from retrieval.analysis import detect_language
from retrieval.embedding import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from retrieval.fusion import fuse
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.ingest import ingest_paths
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "retrieval" / "sample_handbook"
FILES = ("sample_handbook_questions.json", "sample_handbook_cross_language.json")
COMMAND = "PYTHONPATH=. nice .venv/bin/python bench/retrieval/handbook.py"


def report_groups(run: str, groups: dict[str, list[int]], out: dict[str, object]) -> None:
    """Top-1 and top-5 per direction ("nl->en": the page's rank for each such question, 99 if absent),
    into `out` as "<run> <direction>" and printed."""
    for group, ranks in sorted(groups.items()):
        figures = {
            "n": len(ranks),
            "top1": round(sum(x == 1 for x in ranks) / len(ranks), 3),
            "top5": round(sum(x <= 5 for x in ranks) / len(ranks), 3),
        }
        out[f"{run} {group}"] = figures
        print(
            f"{run:50s} {group} n={figures['n']:3d} top-1 {figures['top1']:.3f} top-5 {figures['top5']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", type=Path, help="a sentence-transformers model folder")
    parser.add_argument("--questions", help="one question file in retrieval/ instead of the dev set")
    args = parser.parse_args()
    questions = [
        {**q, "file": name}
        for name in ([args.questions] if args.questions else FILES)
        for q in json.loads((ROOT / "retrieval" / name).read_text(encoding="utf-8"))
        if q["doc"]
    ]
    page_language = {p.name: detect_language(p.read_text(encoding="utf-8")) for p in HANDBOOK.glob("*.md")}
    name = args.embedder.resolve().name if args.embedder else None
    settings = Settings(data_dir=ROOT / ".bron" / "bench" / f"handbook{'-' + name if name else ''}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedder: Embedder = (
        CachedEmbedder(
            SentenceTransformerEmbedder(args.embedder, threads=1), settings.data_dir / "cache.sqlite"
        )
        if args.embedder
        else build_embedder(settings)
    )
    out: dict[str, object] = {
        "command": COMMAND
        + (f" --embedder {args.embedder}" if args.embedder else "")
        + (f" --questions {args.questions}" if args.questions else ""),
        "embedder": embedder.name,
        "top_k": settings.retrieval.top_k,
    }
    r = settings.retrieval
    backend = SQLiteBackend(settings.data_dir / "index.sqlite", dim=embedder.dim)
    ingest_paths([HANDBOOK], backend=backend, embedder=embedder, settings=r)
    fusion = FusionConfig.from_settings(r)
    n = max(10, fusion.candidates)
    runs: dict[str, dict[str, list[Chunk]]] = {
        "hybrid": {},
        "dense": {},
        "bm25": {},
        "hybrid, plain rrf": {},
    }
    retriever = HybridRetriever(backend, embedder, fusion=fusion)
    for q in questions:
        bm25 = backend.search_bm25(q["question"], k=n)
        dense = backend.search_dense(embedder.embed_query(q["question"]), k=n)
        runs["hybrid"][q["question"]] = [h.chunk for h in retriever.search(q["question"], k=10).hits]
        runs["dense"][q["question"]] = [h.chunk for h in dense[:10]]
        runs["bm25"][q["question"]] = [h.chunk for h in bm25[:10]]
        plain = fuse({"bm25": bm25, "dense": dense}, k=10, method=fusion.method, rank_constant=fusion.rank_constant,
                     weights={"bm25": fusion.bm25_weight, "dense": fusion.dense_weight})  # fmt: skip
        runs["hybrid, plain rrf"][q["question"]] = [h.chunk for h in plain]
    for mode, ranked in runs.items():
        groups: dict[str, list[int]] = {}
        misses: list[str] = []
        for q in questions:
            pages = [Path(c.doc_id).name for c in ranked[q["question"]]]
            rank = pages.index(q["doc"]) + 1 if q["doc"] in pages else 99
            group = f"{q['language']}->{page_language[q['doc']]}"
            groups.setdefault(group, []).append(rank)
            if mode == "hybrid" and rank > r.top_k:
                misses.append(f"{group} {q['question']} ({q['doc']})")
        report_groups(mode, groups, out)
        if mode == "hybrid":
            out["hybrid misses at top_k"] = misses
    backend.close()
    held = "-" + Path(args.questions).stem.removeprefix("sample_handbook_") if args.questions else ""
    target = f"handbook{'-' + name if name else ''}{held}.json"
    (ROOT / "bench" / "retrieval" / target).write_text(
        json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(COMMAND, file=sys.stderr)


if __name__ == "__main__":
    main()
