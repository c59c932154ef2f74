"""Keeping the index in step with the documents: add new, replace changed, remove deleted, skip the rest.

Documents are compared by content hash, so re-ingesting an unchanged folder costs only a directory
walk; a changed file's chunks are replaced in one backend call, so nothing stale is served.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from retrieval.access import (
    OPEN_COLLECTION,
    CollectionError,
    RootRecord,
    checked_collection,
    is_root_record,
    may_narrow,
    new_root_key,
    root_records,
)
from retrieval.backend import SearchBackend
from retrieval.chunking import chunk_document, embedding_text
from retrieval.embedding import Embedder
from retrieval.errors import DocumentError
from retrieval.loaders import SUPPORTED_SUFFIXES, load_document
from retrieval.settings import IngestLimits, RetrievalSettings
from retrieval.types import Document


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


def scan(paths: Sequence[Path]) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """((file, root) pairs for every regular file under the given paths, (path, why) for what is skipped).

    Links are never followed, inside a folder or named directly, and only regular files are listed:
    a document folder is written by many people, and a link to /proc/self/environ or a FIFO must not
    become a searchable document or a read that never returns. Root keeps doc ids relative.
    """
    found: list[tuple[Path, Path]] = []
    skipped: list[tuple[str, str]] = []

    def consider(f: Path, root: Path) -> None:
        mode = f.lstat().st_mode
        if stat.S_ISLNK(mode):
            skipped.append((str(f), "a symbolic link; Bron does not follow links"))
        elif not stat.S_ISREG(mode):
            skipped.append((str(f), "not a regular file"))
        else:
            found.append((f, root))

    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for folder, dirs, names in os.walk(path, followlinks=False):
                here = Path(folder)
                for d in dirs:
                    if (here / d).is_symlink() and not d.startswith("."):
                        skipped.append((str(here / d), "a symbolic link; Bron does not follow links"))
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (here / d).is_symlink())
                for name in sorted(names):
                    if not name.startswith("."):
                        consider(here / name, path)
        elif path.is_dir():
            # a root named on purpose may be a link (a mounted volume); nothing below it is followed
            for f, _ in scan([path.resolve()])[0]:
                found.append((path / f.relative_to(path.resolve()), path))
        elif path.exists() or path.is_symlink():
            consider(path, path.parent)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    found.sort()
    return found, skipped


def discover(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file, root) pairs for every regular file under the given paths (see `scan`)."""
    return scan(paths)[0]


ProgressHook = Callable[[str, int], None]


@dataclass(frozen=True)
class CorpusRoot:
    """A file or folder to sync and the collection it is served to (None: as last recorded, else public)."""

    path: Path
    collection: str | None = None


def ingest_paths(
    paths: Sequence[Path],
    *,
    backend: SearchBackend,
    embedder: Embedder,
    collection: str | None = None,
    settings: RetrievalSettings | None = None,
    dry_run: bool = False,
    prune: bool = True,
    on_document: ProgressHook | None = None,
) -> IngestReport:
    """Sync the index with the files under `paths`, all served to one collection (see `ingest_roots`)."""
    return ingest_roots(
        [CorpusRoot(p, collection) for p in paths],
        backend=backend,
        embedder=embedder,
        settings=settings,
        dry_run=dry_run,
        prune=prune,
        on_document=on_document,
    )


def ingest_roots(
    roots: Sequence[CorpusRoot],
    *,
    backend: SearchBackend,
    embedder: Embedder,
    settings: RetrievalSettings | None = None,
    dry_run: bool = False,
    prune: bool = True,
    on_document: ProgressHook | None = None,
) -> IngestReport:
    """`_ingest_roots` in one write batch: Elasticsearch gets bulk requests and a single refresh."""
    with backend.batched() as refused:
        report = _ingest_roots(roots, backend=backend, embedder=embedder, settings=settings, dry_run=dry_run,
                               prune=prune, on_document=on_document)  # fmt: skip
    for doc_id, reason in refused:
        for done in (report.added, report.updated):
            if doc_id in done:
                done.remove(doc_id)
        report.failed.append((doc_id, reason))
    return report


def _ingest_roots(
    roots: Sequence[CorpusRoot],
    *,
    backend: SearchBackend,
    embedder: Embedder,
    settings: RetrievalSettings | None,
    dry_run: bool,
    prune: bool,
    on_document: ProgressHook | None,
) -> IngestReport:
    """Sync the index with the files under each root, served to that root's collection.

    Doc ids are `key/relative path`, the key recorded per root (retrieval/access.py), so same-named
    folders never collide. A file under a more specific recorded root belongs to that root only; a root
    inside another may only narrow its collection; a collection a document cannot establish keeps it
    out. With `prune`, documents of a folder root that no longer exist are removed. Unsupported and
    unreadable files are listed in `failed`; they never stop the run.
    Chunk sizes come from `settings` (the defaults where None).
    """
    chunking = settings or RetrievalSettings()
    start = time.perf_counter()
    report = IngestReport()
    known = backend.document_hashes()
    records = root_records(known)
    vanished = _vanished_restricted(known, records)
    # every root is recorded before any is synced, outermost first, so no sync of a wide root ever
    # reads a narrower root's files as its own, and a narrower root is checked against its outer one
    accepted: list[tuple[CorpusRoot, RootRecord]] = []
    for root in sorted(roots, key=lambda r: len(Path(os.path.realpath(r.path)).parts)):
        record = _record_root(root, records, backend, report, dry_run)
        if record is not None:
            accepted.append((root, record))
    for root in roots:
        for accepted_root, record in accepted:
            if accepted_root is root:
                _sync_root(root, record, known, records, vanished, backend, embedder, report,
                           chunking.chunk_words, chunking.chunk_overlap_words, dry_run, prune, on_document, chunking.limits)  # fmt: skip
    report.seconds = time.perf_counter() - start
    return report


def _record_root(
    root: CorpusRoot,
    records: dict[Path, RootRecord],
    backend: SearchBackend,
    report: IngestReport,
    dry_run: bool,
) -> RootRecord | None:
    """Record `root` with its collection, or refuse it (None) if it would widen a root it nests with."""
    if not root.path.exists():
        raise DocumentError(f"{root.path}: no such file or folder")
    path = Path(os.path.realpath(root.path))  # a link or second mount meets the folder's own record
    record = records.get(path)
    try:
        collection = checked_collection(
            root.collection or (record.collection if record else OPEN_COLLECTION), where=str(root.path)
        )
    except DocumentError as exc:
        report.failed.append((str(root.path), str(exc)))
        return None
    for other in records.values():
        if other.path == path:
            continue
        if other.owns(path) and not may_narrow(other.collection, collection):
            reason = f"inside {other.path}, which is served to {other.collection!r}"
        elif path in other.path.parents and not may_narrow(collection, other.collection):
            reason = f"holds {other.path}, which is served to {other.collection!r}"
        else:
            continue
        report.failed.append(
            (str(root.path), f"{reason}; serving it to {collection!r} would widen one of them, so nothing "
             "was ingested (give both the same collection)")
        )  # fmt: skip
        return None
    if record is None or record.collection != collection:
        record = RootRecord(key=record.key if record else new_root_key(path, records, collection), path=path,
                            collection=collection)  # fmt: skip
        if not dry_run:
            backend.replace_document(
                record.record_id, record.record_value(), [], np.zeros((0, 0), np.float32)
            )
        records[path] = record
    return record


def _sync_root(
    root: CorpusRoot,
    record: RootRecord,
    known: dict[str, str],
    records: dict[Path, RootRecord],
    vanished: Mapping[str, tuple[str, str]],
    backend: SearchBackend,
    embedder: Embedder,
    report: IngestReport,
    max_words: int,
    overlap_words: int,
    dry_run: bool,
    prune: bool,
    on_document: ProgressHook | None,
    limits: IngestLimits,
) -> None:
    files, skipped = scan([root.path])
    report.failed.extend(skipped)
    path, collection = record.path, record.collection
    for outer in [r for r in records.values() if r.path != path and r.owns(path)]:
        # copies an outer root made before this root was recorded
        inside = f"{outer.key}/{path.relative_to(outer.path).as_posix()}"
        for doc_id in [d for d in known if d == inside or d.startswith(inside + "/")]:
            report.deleted.append(doc_id)
            del known[doc_id]
            if not dry_run:
                backend.delete_document(doc_id)
    inners = [r for r in records.values() if r.path != path and path in r.path.parents]
    base = path if path.is_dir() else path.parent
    given = Path(os.path.abspath(root.path))
    given_base = given if path.is_dir() else given.parent
    seen: set[str] = set()
    for file, _ in files:
        resolved = base / Path(os.path.abspath(file)).relative_to(given_base)
        target = Path(os.path.realpath(file))  # where a link inside the folder points
        if any(inner.owns(resolved) or inner.owns(target) for inner in inners):
            if on_document:  # synced with its own root; counted so progress still reaches the total
                on_document(str(file), 0)
            continue
        if file.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.failed.append((str(file), f"unsupported file type {file.suffix!r}"))
            continue
        legacy = _legacy_root(resolved, path, known, records)
        if legacy is not None:
            report.failed.append(
                (str(file), f"indexed before roots were recorded, from {legacy}; run `bron ingest {legacy} "
                 "--collection …` to record its collection first")
            )  # fmt: skip
            continue
        doc_id = f"{record.key}/{resolved.relative_to(base).as_posix()}"
        try:
            doc = load_document(resolved, root=base, collection=collection, limits=limits)
        except CollectionError as exc:
            report.failed.append((str(file), str(exc)))
            if doc_id in known:
                report.deleted.append(doc_id)
                del known[doc_id]
                if not dry_run:
                    backend.delete_document(doc_id)
            continue
        except DocumentError as exc:
            seen.add(doc_id)  # a file that fails to parse keeps its old chunks until it is fixed or removed
            report.failed.append((str(file), str(exc)))
            continue
        seen.add(doc_id)
        doc = replace(doc, doc_id=doc_id)
        moved = vanished.get(doc.content_hash)
        if moved is not None and moved[1] != doc.collection and moved[0] != doc_id:
            report.failed.append(
                (str(file), f"the same text was served to {moved[1]!r} as {moved[0]}, whose file is gone (a "
                 f"restricted folder moved or renamed?); not served to {doc.collection!r}: ingest its folder "
                 f"with `--collection {moved[1]}`")
            )  # fmt: skip
            if doc_id in known:
                report.deleted.append(doc_id)
                del known[doc_id]
                if not dry_run:
                    backend.delete_document(doc_id)
            continue
        # the collection is part of the version: re-serving the same text to another audience replaces it
        version = f"{doc.collection}:{doc.content_hash}"
        if known.get(doc_id) == version:
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
            backend.replace_document(doc_id, version, chunks, vectors)
            known[doc_id] = version
        if on_document:
            on_document(doc_id, len(chunks))
    if prune and path.is_dir():
        for doc_id in [d for d in known if d.startswith(record.record_id) and d != record.record_id]:
            if doc_id not in seen:
                report.deleted.append(doc_id)
                del known[doc_id]
                if not dry_run:
                    backend.delete_document(doc_id)


def _vanished_restricted(
    known: Mapping[str, str], records: Mapping[Path, RootRecord]
) -> dict[str, tuple[str, str]]:
    """content hash -> (doc id, collection) of restricted documents whose file is no longer there.

    A renamed or moved restricted folder (or a corpus moved as a whole) no longer meets its record, so
    a sync of a wider root would read its files as its own; their text is recognised by its hash and
    held back until the folder is ingested again with its collection.
    """
    by_key = {r.key: r for r in records.values()}
    gone: dict[str, tuple[str, str]] = {}
    for doc_id, version in known.items():
        collection, _, digest = version.partition(":")
        if is_root_record(doc_id) or not digest or collection == OPEN_COLLECTION:
            continue
        key, _, relative = doc_id.partition("/")
        record = by_key.get(key)
        if record is None:
            continue  # not a file root's document (a connected source's, or from before roots)
        base = record.path if record.path.is_dir() else record.path.parent
        if not record.path.exists() or not (base / relative).is_file():
            gone.setdefault(digest, (doc_id, collection))
    return gone


def _legacy_root(
    file: Path, root: Path, known: Mapping[str, str], records: Mapping[Path, RootRecord]
) -> Path | None:
    """A folder inside `root` that this file was ingested from before roots were recorded, if any.

    Such an index may hold the file under a restricted collection; syncing a wider root over it would
    serve it a second time, publicly, so the file waits until that folder is ingested again.
    """
    keys = {r.key for r in records.values()}
    for folder in file.parents:
        if folder == root or root not in folder.parents:
            return None
        legacy_id = f"{folder.name}/{file.relative_to(folder).as_posix()}"
        if folder.name not in keys and legacy_id in known:
            return folder
    return None


def index_document(
    doc: Document,
    *,
    backend: SearchBackend,
    embedder: Embedder,
    content_hash: str,
    max_words: int,
    overlap_words: int,
) -> tuple[int, float]:
    """Chunk, embed and store one document, replacing its old chunks: (chunks, seconds in the embedder).

    The path connected sources take into the index; `content_hash` is theirs, because what makes their
    document change includes its collection and title, not only its bytes.
    """
    chunks = chunk_document(doc, max_words=max_words, overlap_words=overlap_words)
    t = time.perf_counter()
    vectors = embedder.embed_passages([embedding_text(c) for c in chunks])
    seconds = time.perf_counter() - t
    backend.replace_document(doc.doc_id, content_hash, chunks, vectors)
    return len(chunks), seconds
