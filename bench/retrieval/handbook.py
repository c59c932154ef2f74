"""Retrieval on the sample handbook with the default configuration: same-language and cross-language.

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
from retrieval.hybrid import FusionConfig, HybridRetriever, Mode
from retrieval.ingest import ingest_paths
from retrieval.sqlite_backend import SQLiteBackend

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "retrieval" / "sample_handbook"
FILES = ("sample_handbook_questions.json", "sample_handbook_cross_language.json")
COMMAND = "PYTHONPATH=. nice .venv/bin/python bench/retrieval/handbook.py"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", type=Path, help="a sentence-transformers model folder")
    args = parser.parse_args()
    questions = [
        {**q, "file": name}
        for name in FILES
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
        "command": COMMAND + (f" --embedder {args.embedder}" if args.embedder else ""),
        "embedder": embedder.name,
        "top_k": settings.retrieval.top_k,
    }
    r = settings.retrieval
    backend = SQLiteBackend(settings.data_dir / "index.sqlite", dim=embedder.dim)
    ingest_paths([HANDBOOK], backend=backend, embedder=embedder, settings=r)
    retriever = HybridRetriever(backend, embedder, fusion=FusionConfig.from_settings(r))
    modes: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
    for mode in modes:
        groups: dict[str, list[int]] = {}
        misses: list[str] = []
        for q in questions:
            hits = retriever.search(q["question"], k=10, mode=mode).hits
            pages = [Path(h.chunk.doc_id).name for h in hits]
            rank = pages.index(q["doc"]) + 1 if q["doc"] in pages else 99
            group = f"{q['language']}->{page_language[q['doc']]}"
            groups.setdefault(group, []).append(rank)
            if mode == "hybrid" and rank > r.top_k:
                misses.append(f"{group} {q['question']} ({q['doc']})")
        for group, ranks in sorted(groups.items()):
            figures = {
                "n": len(ranks),
                "top1": round(sum(x == 1 for x in ranks) / len(ranks), 3),
                "top5": round(sum(x <= 5 for x in ranks) / len(ranks), 3),
            }
            out[f"{mode} {group}"] = figures
            print(
                f"{mode:7s} {group}  n={figures['n']:3d}  top-1 {figures['top1']:.3f}  top-5 {figures['top5']:.3f}"
            )
        if mode == "hybrid":
            out["hybrid misses at top_k"] = misses
    backend.close()
    target = f"handbook{'-' + name if name else ''}.json"
    (ROOT / "bench" / "retrieval" / target).write_text(
        json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(COMMAND, file=sys.stderr)


if __name__ == "__main__":
    main()
