"""Keeping the index in step with the documents: add new, replace changed, remove deleted, skip the rest.

Documents are compared by content hash, so re-ingesting an unchanged folder costs only a directory
walk; a changed file's chunks are replaced in one backend call, so nothing stale is served.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.backend import SearchBackend
from retrieval.chunking import chunk_document, embedding_text
from retrieval.embedding import Embedder
from retrieval.errors import DocumentError
from retrieval.loaders import SUPPORTED_SUFFIXES, load_document


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0


def discover(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file, root) pairs for every file under the given paths; root keeps doc ids relative."""
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and not f.name.startswith("."):
                    found.append((f, path))
        elif path.exists():
            found.append((path, path.parent))
        else:
            raise DocumentError(f"{path}: no such file or folder")
    return found


ProgressHook = Callable[[str, int], None]


def ingest_paths(
    paths: Sequence[Path],
    *,
    backend: SearchBackend,
    embedder: Embedder,
    collection: str = "public",
    max_words: int = 180,
    overlap_words: int = 30,
    dry_run: bool = False,
    prune: bool = True,
    on_document: ProgressHook | None = None,
) -> IngestReport:
    """Sync the index with the files under `paths`.

    With `prune`, documents that were ingested from these roots but no longer exist are removed.
    Unsupported and unreadable files are listed in `failed`; they never stop the run.
    """
    start = time.perf_counter()
    report = IngestReport()
    known = backend.document_hashes()
    files = discover(paths)
    seen: set[str] = set()
    prefixes = {root.name + "/" for _, root in files} | {p.name + "/" for p in paths if p.is_dir()}
    for file, root in files:
        if file.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.failed.append((str(file), f"unsupported file type {file.suffix!r}"))
            continue
        # ids are relative to the root's parent ("handbook/leave.md"): stable across machines
        doc_id = str(file.relative_to(root.parent))
        seen.add(doc_id)  # a file that fails to parse keeps its old chunks until it is fixed or removed
        try:
            doc = load_document(file, root=root.parent, collection=collection)
        except DocumentError as exc:
            report.failed.append((str(file), str(exc)))
            continue
        if known.get(doc_id) == doc.content_hash:
            report.unchanged.append(doc_id)
            if on_document:
                on_document(doc_id, 0)
            continue
        chunks = chunk_document(doc, max_words=max_words, overlap_words=overlap_words)
        (report.updated if doc_id in known else report.added).append(doc_id)
        report.chunks += len(chunks)
        if not dry_run:
            t = time.perf_counter()
            vectors = embedder.embed_passages([embedding_text(c) for c in chunks])
            report.embed_seconds += time.perf_counter() - t
            backend.replace_document(doc_id, doc.content_hash, chunks, vectors)
        if on_document:
            on_document(doc_id, len(chunks))
    if prune:
        for doc_id in known:
            if doc_id not in seen and any(doc_id.startswith(p) for p in prefixes):
                report.deleted.append(doc_id)
                if not dry_run:
                    backend.delete_document(doc_id)
    report.seconds = time.perf_counter() - start
    return report
