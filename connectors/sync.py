"""The sync engine: one change stream into the index, resumable, guarded, failing closed.

Why it is built this way:
- The cursor is saved in the same transaction as the item rows a batch changed, and only after the
  batch is in the index. A sync that dies midway resumes after the last saved batch; a batch applied
  to the index but not yet saved is applied again, which replaces the same document ids (no
  duplicates) and costs at most one batch of embedding.
- Deletions are only marked while listing (`pending_delete`) and applied at the end, after the
  mass-delete guard: an empty listing (an unmounted share, a site returning an empty sitemap) never
  empties the index. Marks are kept, so a blocked run is finished by `bron sync --allow-mass-delete`,
  and an item that shows up again is unmarked.
- An item whose container maps to no collection is taken out of the index at once (fail closed), and
  so is an item whose collection changed but whose new content could not be read: permission changes
  are never held back by the guard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from connectors.base import (
    Change,
    ChangeBatch,
    ChangeKind,
    CursorExpired,
    FetchedDocument,
    KnownItem,
    Source,
    SourceError,
    collection_for,
)
from connectors.settings import SyncSettings
from feedback.models import SourceItem, SourceSync
from feedback.store import FeedbackStore
from retrieval.access import checked_collection
from retrieval.backend import SearchBackend
from retrieval.embedding import Embedder
from retrieval.errors import DocumentError
from retrieval.ingest import index_document
from retrieval.loaders import load_bytes
from retrieval.settings import RetrievalSettings

log = logging.getLogger(__name__)


class SyncInterrupted(Exception):
    """The caller asked the sync to stop between batches; it resumes from there next time."""


@dataclass(frozen=True)
class SyncPolicy:
    max_delete_share: float = field(default_factory=lambda: SyncSettings().max_delete_share)
    allow_mass_delete: bool = False
    # chunked as the rest of the index (BRON_RETRIEVAL__CHUNK_*), whose defaults live in RetrievalSettings
    max_words: int = field(default_factory=lambda: RetrievalSettings().chunk_words)
    overlap_words: int = field(default_factory=lambda: RetrievalSettings().chunk_overlap_words)


@dataclass
class SyncReport:
    stream: str
    full_pass: bool = False
    resumed: bool = False
    restarted: bool = False  # the cursor had expired: everything was listed again
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # collection changed
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    blocked_deletes: int = 0
    indexed_before: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def documents(self) -> int:
        return len(self.added) + len(self.updated) + len(self.renamed) + len(self.moved) + len(self.unchanged)

    def summary(self) -> dict[str, Any]:
        return {
            "full_pass": self.full_pass,
            "added": len(self.added),
            "updated": len(self.updated),
            "renamed": len(self.renamed),
            "moved": len(self.moved),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "unmapped": len(self.unmapped),
            "failed": len(self.failed),
            "blocked_deletes": self.blocked_deletes,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


@dataclass
class _Row:
    item_id: str
    doc_id: str
    collection: str | None = None
    content_hash: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    indexed: bool = False
    seen_generation: int = 0
    pending_delete: bool = False


class _Known(Mapping[str, KnownItem]):
    """The engine's rows as the source sees them, live: items seen earlier in this pass say so."""

    def __init__(self, rows: dict[str, _Row], generation: int, full: bool) -> None:
        self._rows = rows
        self._generation = generation
        self._full = full

    def __getitem__(self, item_id: str) -> KnownItem:
        r = self._rows[item_id]
        return KnownItem(
            item_id=r.item_id,
            version=r.version,
            collection=r.collection,
            extra=r.extra,
            seen_this_pass=self._full and r.seen_generation == self._generation,
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def document_id(source_name: str, item_id: str) -> str:
    """`<source>:<item id>`; never ending in `/`, which marks a corpus root's record in the index."""
    doc_id = f"{source_name}:{item_id}"
    return doc_id + "#" if doc_id.endswith("/") else doc_id


def mapping_fingerprint(mapping: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(mapping.items())).encode()).hexdigest()


def _document_hash(doc: FetchedDocument, collection: str) -> str:
    h = hashlib.sha256(doc.content)
    h.update(json.dumps([collection, doc.title, doc.url, doc.media_type]).encode())
    return h.hexdigest()


class SyncEngine:
    """Syncs streams into one index; document ids are `<source>:<item id>`, so sources never collide."""

    def __init__(
        self,
        store: FeedbackStore,
        backend: SearchBackend,
        embedder: Embedder,
        policy: SyncPolicy | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.embedder = embedder
        self.policy = policy or SyncPolicy()

    def sync(
        self,
        source: Source,
        *,
        source_name: str,
        mapping: Mapping[str, str],
        stop: Callable[[], bool] | None = None,
    ) -> SyncReport:
        """One pass over `source`; resumes an interrupted pass. Errors propagate after being recorded."""
        start = time.perf_counter()
        report = SyncReport(stream=source.name)
        fingerprint = mapping_fingerprint(mapping)
        with self.store.session() as s:
            state = s.get(SourceSync, source.name)
            if state is None:
                state = SourceSync(
                    stream=source.name, source=source_name, cursor=None, in_progress=False,
                    full_pass=True, generation=0, mapping=fingerprint, stats={},
                )  # fmt: skip
                s.add(state)
            if state.in_progress and state.mapping == fingerprint:
                report.resumed = True
                full, cursor, generation = state.full_pass, state.cursor, state.generation
            else:
                # a changed mapping lists everything again, so every item gets its new collection
                full = state.cursor is None or state.mapping != fingerprint
                cursor = None if full else state.cursor
                generation = state.generation + 1 if full else state.generation
            state.in_progress, state.full_pass, state.generation = True, full, generation
            state.cursor, state.mapping, state.started_at = cursor, fingerprint, datetime.now(UTC)
            rows = {
                r.item_id: _Row(r.item_id, r.doc_id, r.collection, r.content_hash, r.version, dict(r.extra),
                                r.indexed, r.seen_generation, r.pending_delete)
                for r in s.scalars(select(SourceItem).where(SourceItem.stream == source.name))
            }  # fmt: skip
        report.full_pass = full
        report.indexed_before = sum(r.indexed for r in rows.values())
        try:
            try:
                self._list(source, source_name, mapping, rows, cursor, generation, full, report, stop)
            except CursorExpired:
                log.warning("%s: the stored cursor expired; listing everything again", source.name)
                report.restarted, report.full_pass, full = True, True, True
                generation += 1
                with self.store.session() as s:
                    state = s.get(SourceSync, source.name)
                    assert state is not None
                    state.cursor, state.full_pass, state.generation = None, True, generation
                self._list(source, source_name, mapping, rows, None, generation, True, report, stop)
            self._finish(source.name, rows, generation, full, report)
        except Exception as exc:
            with self.store.session() as s:
                state = s.get(SourceSync, source.name)
                if state is not None:
                    state.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    state.last_error_at = datetime.now(UTC)
            raise
        report.seconds = time.perf_counter() - start
        with self.store.session() as s:
            state = s.get(SourceSync, source.name)
            assert state is not None
            state.stats = report.summary()
            if report.blocked_deletes:
                state.last_error = (
                    f"mass delete blocked: {report.blocked_deletes} of {report.indexed_before} documents "
                    f"would be removed (more than {self.policy.max_delete_share:.0%}); "
                    "check the source, then run `bron sync --allow-mass-delete`"
                )
                state.last_error_at = datetime.now(UTC)
            else:
                state.last_success_at, state.last_error = datetime.now(UTC), None
        return report

    def _list(
        self,
        source: Source,
        source_name: str,
        mapping: Mapping[str, str],
        rows: dict[str, _Row],
        cursor: str | None,
        generation: int,
        full: bool,
        report: SyncReport,
        stop: Callable[[], bool] | None,
    ) -> None:
        known = _Known(rows, generation, full)
        for batch in source.changes(cursor, known):
            dirty: set[str] = set()
            before: dict[str, _Row | None] = {}
            # one write batch per listing batch: Elasticsearch gets bulk requests and one refresh
            with self.backend.batched() as refused:
                for change in batch.changes:
                    old = rows.get(change.item_id)
                    before.setdefault(change.item_id, replace(old, extra=dict(old.extra)) if old else None)
                    self._apply(source, source_name, mapping, rows, change, generation, report)
                    dirty.add(change.item_id)
            if refused:
                self._undo_refused(rows, before, refused, report)
                self._save(source.name, rows, dirty, None, before)
                raise SourceError(
                    f"{source.name}: the index refused {len(refused)} document(s) (first: {refused[0][1]}); "
                    "they keep their old version and the next sync retries this batch"
                )
            self._save(source.name, rows, dirty, batch, before)
            if stop is not None and stop():
                raise SyncInterrupted(f"{source.name}: stopped; the next sync resumes here")

    def _undo_refused(
        self,
        rows: dict[str, _Row],
        before: dict[str, _Row | None],
        refused: list[tuple[str, str]],
        report: SyncReport,
    ) -> None:
        by_doc = {r.doc_id: item_id for item_id, r in rows.items()}
        for doc_id, reason in refused:
            item_id = by_doc.get(doc_id)
            if item_id is None:
                continue
            old = before.get(item_id)
            if old is None:
                del rows[item_id]
            else:
                rows[item_id] = old
            for done in (report.added, report.updated, report.renamed, report.moved):
                if doc_id in done:
                    done.remove(doc_id)
            report.failed.append((doc_id, reason))

    def _save(
        self,
        stream: str,
        rows: dict[str, _Row],
        dirty: set[str],
        batch: ChangeBatch | None,
        before: Mapping[str, _Row | None],
    ) -> None:
        """Item rows, and the cursor after `batch` (None: keep the stored cursor, replay the batch).

        Rows that only were seen again (most of a full listing) get one UPDATE per batch, not a merge each.
        """
        seen_only: dict[int, list[str]] = {}
        for item_id in dirty:
            old, r = before.get(item_id), rows.get(item_id)
            if old is not None and r is not None and replace(old, seen_generation=r.seen_generation) == r:
                seen_only.setdefault(r.seen_generation, []).append(item_id)
        with self.store.session() as s:
            for generation, ids in seen_only.items():
                s.execute(
                    update(SourceItem)
                    .where(SourceItem.stream == stream, SourceItem.item_id.in_(ids))
                    .values(seen_generation=generation)
                )
            for item_id in dirty - {i for ids in seen_only.values() for i in ids}:
                r = rows.get(item_id)
                if r is None:
                    s.execute(
                        delete(SourceItem).where(SourceItem.stream == stream, SourceItem.item_id == item_id)
                    )
                    continue
                s.merge(
                    SourceItem(
                        stream=stream, item_id=r.item_id, doc_id=r.doc_id, collection=r.collection,
                        content_hash=r.content_hash, version=r.version, extra=r.extra, indexed=r.indexed,
                        seen_generation=r.seen_generation, pending_delete=r.pending_delete,
                        updated_at=datetime.now(UTC),
                    )
                )  # fmt: skip
            if batch is not None:
                state = s.get(SourceSync, stream)
                assert state is not None
                state.cursor = batch.cursor

    def _apply(
        self,
        source: Source,
        source_name: str,
        mapping: Mapping[str, str],
        rows: dict[str, _Row],
        change: Change,
        generation: int,
        report: SyncReport,
    ) -> None:
        row = rows.get(change.item_id)
        is_new = row is None
        if change.kind is ChangeKind.DELETE:
            if row is not None and row.indexed:
                row.pending_delete = True
            elif row is not None:
                del rows[change.item_id]
            return
        if change.kind is ChangeKind.FAILED:
            report.failed.append((change.item_id, change.error or "could not be read"))
            if row is not None:
                row.seen_generation, row.pending_delete = generation, False
            return
        collection = collection_for(change.container, mapping)
        if collection is not None:
            try:
                collection = checked_collection(collection, where=f"{source_name} {change.container}")
            except DocumentError as exc:
                report.failed.append((change.item_id, str(exc)))
                collection = None
        if row is None:
            row = rows[change.item_id] = _Row(change.item_id, document_id(source_name, change.item_id))
        row.seen_generation, row.pending_delete = generation, False
        if change.extra:
            row.extra = {**{k: v for k, v in row.extra.items() if k.startswith("_")}, **change.extra}
        if collection is None:
            self._unmap(row, change, report, warn=is_new or row.indexed)
            return
        same_place = row.indexed and row.collection == collection
        if change.kind is ChangeKind.UNCHANGED and same_place:
            report.unchanged.append(row.doc_id)
            return
        if (
            change.document is None
            and same_place
            and change.version is not None
            and change.version == row.version
        ):
            report.unchanged.append(row.doc_id)
            return
        try:
            doc = (
                change.document
                if change.kind is ChangeKind.UPSERT and change.document
                else source.fetch(change)
            )
        except SourceError:
            raise
        except Exception as exc:  # one unreadable item never stops the stream
            doc, error = None, f"{type(exc).__name__}: {exc}"
            self._failed(row, collection, error, report)
            return
        if doc is None:  # gone between listing and fetching
            if row.indexed:
                row.pending_delete = True
            return
        digest = _document_hash(doc, collection)
        if row.indexed and row.content_hash == digest:
            row.version = change.version
            report.unchanged.append(row.doc_id)
            return
        try:
            document = load_bytes(
                doc.content, media_type=doc.media_type, doc_id=row.doc_id, source=doc.url or row.doc_id,
                collection=collection, title=doc.title, url=doc.url, updated_at=doc.updated_at,
            )  # fmt: skip
        except DocumentError as exc:
            self._failed(row, collection, str(exc), report)
            return
        chunks, embed_seconds = index_document(
            document, backend=self.backend, embedder=self.embedder, content_hash=digest,
            max_words=self.policy.max_words, overlap_words=self.policy.overlap_words,
        )  # fmt: skip
        report.chunks += chunks
        report.embed_seconds += embed_seconds
        body = hashlib.sha256(doc.content).hexdigest()
        if not row.indexed:
            report.added.append(row.doc_id)
        elif row.collection != collection:
            report.moved.append(row.doc_id)
        elif row.extra.get("_body") == body:
            report.renamed.append(row.doc_id)
        else:
            report.updated.append(row.doc_id)
        row.indexed, row.collection, row.content_hash, row.version = True, collection, digest, change.version
        row.extra = {**row.extra, "_body": body, "_title": document.title, "_url": doc.url}

    def _unmap(self, row: _Row, change: Change, report: SyncReport, *, warn: bool) -> None:
        if row.indexed:
            self.backend.delete_document(row.doc_id)
        row.indexed, row.collection, row.content_hash, row.version = False, None, None, None
        report.unmapped.append(row.doc_id)
        log.log(logging.WARNING if warn else logging.DEBUG,
                "%s: container %r maps to no collection; not served", row.doc_id, change.container)  # fmt: skip

    def _failed(self, row: _Row, collection: str, error: str, report: SyncReport) -> None:
        report.failed.append((row.doc_id, error))
        if row.indexed and row.collection != collection:
            # its readers changed but its new text is unknown: take the old text out rather than
            # keep serving it to the old readers
            self.backend.delete_document(row.doc_id)
            row.indexed, row.collection, row.content_hash = False, None, None

    def _finish(
        self, stream: str, rows: dict[str, _Row], generation: int, full: bool, report: SyncReport
    ) -> None:
        if full:
            for item_id, r in list(rows.items()):
                if r.seen_generation < generation:
                    if r.indexed:
                        r.pending_delete = True
                    else:
                        del rows[item_id]
        with self.store.session() as s:
            if full:
                s.execute(
                    delete(SourceItem).where(
                        SourceItem.stream == stream,
                        SourceItem.seen_generation < generation,
                        SourceItem.indexed.is_(False),
                    )
                )
            pending = [r for r in rows.values() if r.pending_delete]
            for r in pending:
                s.merge(
                    SourceItem(
                        stream=stream, item_id=r.item_id, doc_id=r.doc_id, collection=r.collection,
                        content_hash=r.content_hash, version=r.version, extra=r.extra, indexed=r.indexed,
                        seen_generation=r.seen_generation, pending_delete=True, updated_at=datetime.now(UTC),
                    )
                )  # fmt: skip
            state = s.get(SourceSync, stream)
            assert state is not None
            state.in_progress = False
        indexed = sum(r.indexed for r in rows.values())
        if (
            pending
            and len(pending) > self.policy.max_delete_share * indexed
            and not self.policy.allow_mass_delete
        ):
            report.blocked_deletes = len(pending)
            log.error(
                "%s: %d of %d documents would be deleted; blocked (BRON_SYNC__MAX_DELETE_SHARE=%s)",
                stream, len(pending), indexed, self.policy.max_delete_share,
            )  # fmt: skip
            return
        for r in pending:
            self.backend.delete_document(r.doc_id)
            with self.store.session() as s:
                s.execute(
                    delete(SourceItem).where(SourceItem.stream == stream, SourceItem.item_id == r.item_id)
                )
            del rows[r.item_id]
            report.deleted.append(r.doc_id)


@dataclass(frozen=True)
class StreamStatus:
    source: str
    stream: str
    last_success_at: datetime | None
    last_error: str | None
    in_progress: bool
    documents: int

    def age_s(self, now: datetime | None = None) -> float | None:
        if self.last_success_at is None:
            return None
        when = self.last_success_at
        if when.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC
            when = when.replace(tzinfo=UTC)
        return ((now or datetime.now(UTC)) - when).total_seconds()


def stream_status(store: FeedbackStore) -> list[StreamStatus]:
    """Every synced stream: when it last succeeded, its last error and how many documents it serves."""
    with store.session() as s:
        counts = dict(
            s.execute(
                select(SourceItem.stream, func.count())
                .where(SourceItem.indexed.is_(True))
                .group_by(SourceItem.stream)
            ).all()
        )
        return [
            StreamStatus(
                st.source,
                st.stream,
                st.last_success_at,
                st.last_error,
                st.in_progress,
                int(counts.get(st.stream, 0)),
            )
            for st in s.scalars(select(SourceSync).order_by(SourceSync.stream))
        ]
