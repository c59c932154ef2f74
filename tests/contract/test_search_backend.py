"""One contract for every `SearchBackend`: the embedded SQLite engine and Elasticsearch.

The Elasticsearch case runs against the noida-db emulator started here, or against a real cluster when
BRON_TEST_ELASTICSEARCH_URL is set (optionally BRON_TEST_ELASTICSEARCH_API_KEY); each test then uses its
own index prefix and deletes what it created. The emulator's kNN is approximate, so the data sets here are
tiny (where it is exact) and no test asserts an order among near-ties.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from retrieval.backend import SearchBackend
from retrieval.elasticsearch_backend import (
    ElasticsearchBackend,
    IndexingError,
    ServerSideRRFUnavailableError,
)
from retrieval.embedding import Vectors
from retrieval.errors import BackendUnavailableError
from retrieval.fusion import fuse
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.settings import ElasticsearchSettings
from retrieval.shape import IndexShapeError
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk, SearchFilters
from tests.support.noida import free_port, running_noida

DIM = 8
JAN = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)
JUN = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("BRON_TEST_ELASTICSEARCH_URL")
    if external:
        yield external
        return
    with running_noida(tmp_path_factory.mktemp("noida")) as url:
        yield url


def _es_settings(url: str, **overrides: object) -> ElasticsearchSettings:
    return ElasticsearchSettings(
        url=url,
        api_key=os.environ.get("BRON_TEST_ELASTICSEARCH_API_KEY"),
        index_prefix=f"bron-test-{uuid.uuid4().hex[:10]}",
        **overrides,  # type: ignore[arg-type]
    )


def _drop(url: str, prefix: str) -> None:
    client = Elasticsearch(url, api_key=os.environ.get("BRON_TEST_ELASTICSEARCH_API_KEY"))
    try:
        # real clusters refuse wildcard deletes (action.destructive_requires_name), so name each index
        names = list(client.indices.get(index=f"{prefix}-*", allow_no_indices=True).body)
        if names:
            client.indices.delete(index=names)
        for name in (prefix, f"{prefix}-docs"):
            client.options(ignore_status=404).indices.delete_index_template(name=name)
    finally:
        client.close()


@pytest.fixture
def es_backend(es_url: str) -> Iterator[ElasticsearchBackend]:
    backend = ElasticsearchBackend(_es_settings(es_url), dim=DIM)
    backend.ensure_index()
    try:
        yield backend
    finally:
        backend.close()
        _drop(es_url, backend.prefix)


@pytest.fixture(params=["sqlite", "elasticsearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchBackend]:
    if request.param == "sqlite":
        sqlite = SQLiteBackend(tmp_path / "index.sqlite", dim=DIM)
        yield sqlite
        sqlite.close()
    else:
        es: ElasticsearchBackend = request.getfixturevalue("es_backend")
        checked: SearchBackend = es  # mypy proves the class implements the Protocol
        yield checked


def unit_vectors(n: int, seed: int) -> Vectors:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    out: Vectors = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def make_chunk(doc_id: str, ordinal: int, text: str, **kw: object) -> Chunk:
    fields: dict[str, object] = {
        "chunk_id": f"{doc_id}-{ordinal}-{abs(hash(text)) % 10**8}",
        "doc_id": doc_id,
        "title": f"Titel {doc_id}",
        "heading_path": ("Handboek", f"Sectie {ordinal}"),
        "text": text,
        "source": f"docs/{doc_id}.md",
        "ordinal": ordinal,
        "updated_at": JAN,
        "language": "nl",
        "collection": "public",
    }
    fields.update(kw)
    return Chunk(**fields)  # type: ignore[arg-type]


def ingest(backend: SearchBackend, doc_id: str, texts: list[str], *, seed: int, **kw: object) -> list[Chunk]:
    chunks = [make_chunk(doc_id, i, t, **kw) for i, t in enumerate(texts)]
    backend.replace_document(doc_id, f"hash-{doc_id}-{seed}", chunks, unit_vectors(len(chunks), seed))
    return chunks


def ids(results: list) -> list[str]:  # type: ignore[type-arg]
    return [r.chunk.chunk_id for r in results]


def test_replace_then_search_finds_it_by_word_and_by_vector(backend: SearchBackend) -> None:
    ingest(backend, "other", ["Het parkeerbeleid geldt voor iedereen op kantoor."], seed=1)
    chunks = ingest(backend, "hr", ["De zonnepanelen op het dak leveren stroom.", "Lunch is gratis."], seed=2)
    assert ids(backend.search_bm25("zonnepanelen", k=5)) == [chunks[0].chunk_id]
    own = unit_vectors(2, 2)[1]
    assert ids(backend.search_dense(own, k=1)) == [chunks[1].chunk_id]
    assert backend.search_dense(own, k=1)[0].score == pytest.approx(1.0, abs=0.02)


def test_replacing_a_document_leaves_nothing_stale(backend: SearchBackend) -> None:
    old = ingest(backend, "policy", ["Oude regel over de zebrapaden.", "Tweede oude alinea."], seed=3)
    new = ingest(backend, "policy", ["Nieuwe regel over kangoeroes."], seed=4)
    assert backend.search_bm25("zebrapaden", k=5) == []
    assert ids(backend.search_bm25("kangoeroes", k=5)) == [new[0].chunk_id]
    assert backend.get_chunks([c.chunk_id for c in old]) == []
    assert backend.count_chunks() == 1
    assert backend.document_hashes() == {"policy": "hash-policy-4"}


def test_replacing_keeps_unchanged_chunks(backend: SearchBackend) -> None:
    first = ingest(backend, "doc", ["Blijft staan over fietsen.", "Gaat weg over treinen."], seed=5)
    second = [first[0], make_chunk("doc", 1, "Komt erbij over boten.")]
    backend.replace_document("doc", "h2", second, unit_vectors(2, 6))
    found = backend.get_chunks([c.chunk_id for c in first + second])
    assert {c.chunk_id for c in found} == {c.chunk_id for c in second}
    assert backend.search_bm25("treinen", k=5) == []
    assert backend.count_chunks() == 2


def test_delete_document_removes_it(backend: SearchBackend) -> None:
    ingest(backend, "keep", ["Over de koffieautomaat."], seed=7)
    gone = ingest(backend, "gone", ["Over de koffieautomaat en de printer."], seed=8)
    backend.delete_document("gone")
    assert backend.search_bm25("printer", k=5) == []
    assert gone[0].chunk_id not in ids(backend.search_dense(unit_vectors(1, 8)[0], k=5))
    assert backend.count_chunks() == 1
    assert backend.document_hashes() == {"keep": "hash-keep-7"}
    backend.delete_document("never-existed")  # deleting twice, or something unknown, is not an error


def test_document_hashes_round_trip(backend: SearchBackend) -> None:
    assert backend.document_hashes() == {}
    ingest(backend, "a", ["Alfa."], seed=9)
    ingest(backend, "b", ["Bravo.", "Bravo twee."], seed=10)
    backend.replace_document("empty", "hash-empty", [], np.zeros((0, DIM), dtype=np.float32))
    assert backend.document_hashes() == {"a": "hash-a-9", "b": "hash-b-10", "empty": "hash-empty"}
    ingest(backend, "a", ["Alfa gewijzigd."], seed=11)
    assert backend.document_hashes()["a"] == "hash-a-11"


@pytest.fixture
def filtered(backend: SearchBackend) -> SearchBackend:
    word = "reiskostenvergoeding"
    ingest(backend, "hr-old", [f"{word} oud"], seed=20, collection="hr", updated_at=JAN)
    ingest(backend, "hr-new", [f"{word} nieuw"], seed=21, collection="hr", updated_at=JUN)
    ingest(backend, "it-new", [f"{word} laptops"], seed=22, collection="it", updated_at=JUN)
    ingest(backend, "undated", [f"{word} zonder datum"], seed=23, collection="it", updated_at=None)
    return backend


FILTER_CASES = {
    "collection": (SearchFilters(collections=("hr",)), {"hr-old", "hr-new"}),
    "two collections": (SearchFilters(collections=("hr", "it")), {"hr-old", "hr-new", "it-new", "undated"}),
    "no collection": (SearchFilters(collections=()), set()),
    "updated_after": (SearchFilters(updated_after=datetime(2024, 3, 1, tzinfo=UTC)), {"hr-new", "it-new"}),
    "doc_ids": (SearchFilters(doc_ids=("it-new", "hr-old")), {"it-new", "hr-old"}),
    "combined": (
        SearchFilters(collections=("hr",), updated_after=datetime(2024, 3, 1, tzinfo=UTC)),
        {"hr-new"},
    ),
}


@pytest.mark.parametrize("case", FILTER_CASES)
def test_filters_apply_to_bm25_and_dense(filtered: SearchBackend, case: str) -> None:
    filters, expected = FILTER_CASES[case]
    bm25 = filtered.search_bm25("reiskostenvergoeding", k=10, filters=filters)
    assert {s.chunk.doc_id for s in bm25} == expected
    dense = filtered.search_dense(unit_vectors(1, 20)[0], k=10, filters=filters)
    assert {s.chunk.doc_id for s in dense} == expected


def test_filtered_dense_search_fills_k_from_allowed_documents(filtered: SearchBackend) -> None:
    # the nearest chunk (hr-old's own vector) is filtered out *inside* the search, not after top-k
    dense = filtered.search_dense(unit_vectors(1, 20)[0], k=1, filters=SearchFilters(collections=("it",)))
    assert len(dense) == 1
    assert dense[0].chunk.collection == "it"


def test_get_chunks_in_requested_order_with_all_fields(backend: SearchBackend) -> None:
    a = ingest(
        backend, "a", ["Eerste.", "Tweede."], seed=30, url="https://wiki.example/a", language="en",
        updated_at=datetime(2023, 11, 2, 8, 15, 30, 123000, tzinfo=UTC),
    )  # fmt: skip
    b = ingest(backend, "b", ["Derde."], seed=31, url=None, heading_path=(), collection="sales")
    wanted = [b[0].chunk_id, "unknown-id", a[1].chunk_id, a[0].chunk_id]
    assert backend.get_chunks(wanted) == [b[0], a[1], a[0]]
    assert backend.get_chunks([]) == []


def test_dutch_and_english_stemming(backend: SearchBackend) -> None:
    nl = ingest(backend, "verlof", ["Je hebt recht op vijfentwintig vakantiedagen per jaar."], seed=40)
    en = ingest(backend, "leave", ["Employees get several sick days each year."], seed=41, language="en")
    assert ids(backend.search_bm25("vakantiedag", k=5)) == [nl[0].chunk_id]
    assert ids(backend.search_bm25("Hoeveel vakantiedagen heb ik?", k=5))[0] == nl[0].chunk_id
    assert ids(backend.search_bm25("sick day", k=5)) == [en[0].chunk_id]


def test_stop_word_only_query_finds_nothing(backend: SearchBackend) -> None:
    ingest(backend, "x", ["De en het van een."], seed=42)
    assert backend.search_bm25("de het", k=5) == []


def test_count_chunks(backend: SearchBackend) -> None:
    assert backend.count_chunks() == 0
    ingest(backend, "a", ["Een.", "Twee.", "Drie."], seed=50)
    ingest(backend, "b", ["Vier."], seed=51)
    assert backend.count_chunks() == 4


# ---- Elasticsearch only: licence-gated server-side RRF, versioned indices, errors ----------------------


def _rrf_corpus(backend: ElasticsearchBackend) -> None:
    # distinct term frequencies keep BM25 scores apart; random vectors keep cosines apart
    texts = ["fiets " * n + f"regel {n}" for n in range(1, 7)] + ["over treinen", "over boten"]
    for i, text in enumerate(texts):
        ingest(backend, f"d{i}", [text], seed=100 + i, collection="hr" if i % 2 else "it")


@pytest.mark.parametrize("filters", [None, SearchFilters(collections=("hr",))])
def test_server_side_rrf_matches_fusion_in_bron(es_url: str, filters: SearchFilters | None) -> None:
    backend = ElasticsearchBackend(_es_settings(es_url, server_side_rrf="always"), dim=DIM)
    try:
        _rrf_corpus(backend)
        query, vector = "fiets", unit_vectors(1, 103)[0]
        runs = {
            "bm25": backend.search_bm25(query, k=20, filters=filters),
            "dense": backend.search_dense(vector, k=20, filters=filters),
        }
        local = fuse(runs, k=5, rank_constant=60)
        server = backend.search_hybrid_server(query, vector, k=5, filters=filters, candidates=20)
        local_scores = {h.chunk.chunk_id: h.score for h in local}
        server_scores = {h.chunk.chunk_id: h.score for h in server}
        assert set(server_scores) == set(local_scores)
        for cid, score in local_scores.items():
            assert server_scores[cid] == pytest.approx(score, rel=1e-4)
        assert server[0].chunk.chunk_id == local[0].chunk.chunk_id
    finally:
        backend.close()
        _drop(es_url, backend.prefix)


@pytest.mark.parametrize(
    ("mode", "by_dense", "stage"),
    [("always", False, "server_rrf_ms"), ("never", False, "fuse_ms"), ("always", True, "fuse_ms")],
)
def test_hybrid_retriever_fuses_on_the_server_only_where_allowed(
    es_url: str, mode: str, by_dense: bool, stage: str
) -> None:
    """The server's rrf knows no languages: with `other_language_by_dense` (the default) Bron fuses."""
    backend = ElasticsearchBackend(_es_settings(es_url, server_side_rrf=mode), dim=DIM)
    try:
        _rrf_corpus(backend)

        class FixedEmbedder:
            name, dim = "fixed", DIM

            def embed_query(self, text: str) -> Vectors:
                return np.asarray(unit_vectors(1, 103)[0], dtype=np.float32)

            def embed_passages(self, texts: Sequence[str]) -> Vectors:
                raise AssertionError("not used")

        fusion = FusionConfig.from_settings(other_language_by_dense=by_dense)
        result = HybridRetriever(backend, FixedEmbedder(), fusion=fusion).search("fiets", k=5)
        assert stage in result.timings_ms
        assert result.hits and "fiets" in result.hits[0].chunk.text
    finally:
        backend.close()
        _drop(es_url, backend.prefix)


def test_server_side_rrf_needs_a_licence(es_url: str) -> None:
    backend = ElasticsearchBackend(_es_settings(es_url, server_side_rrf="auto"), dim=DIM)
    if os.environ.get("BRON_TEST_ELASTICSEARCH_URL"):
        pytest.skip("the licence of a real cluster decides; this pins the emulator's (no /_license)")
    assert backend.server_side_rrf_available() is False
    with pytest.raises(ServerSideRRFUnavailableError, match="SERVER_SIDE_RRF"):
        backend.search_hybrid_server("fiets", unit_vectors(1, 0)[0], k=3)
    backend.close()


def test_highlight_marks_the_matching_word(es_backend: ElasticsearchBackend) -> None:
    ingest(es_backend, "verlof", ["Je hebt recht op vijfentwintig vakantiedagen per jaar."], seed=60)
    [hit] = es_backend.search_bm25_highlighted("vakantiedag", k=3)
    assert hit.highlight is not None and "<em>vakantiedagen</em>" in hit.highlight


def test_reindex_swaps_in_without_downtime(es_backend: ElasticsearchBackend) -> None:
    old = ingest(es_backend, "old", ["Oude inhoud over walvissen."], seed=70)
    staged = es_backend.reindex_into_new_version()
    new = ingest(staged, "new", ["Nieuwe inhoud over dolfijnen."], seed=71)
    # readers still see version 1 while version 2 fills
    assert ids(es_backend.search_bm25("walvissen", k=3)) == [old[0].chunk_id]
    assert es_backend.search_bm25("dolfijnen", k=3) == []
    staged.swap_alias(delete_old=True)
    assert es_backend.live_versions() == [2]
    assert ids(es_backend.search_bm25("dolfijnen", k=3)) == [new[0].chunk_id]
    assert es_backend.search_bm25("walvissen", k=3) == []
    assert es_backend.document_hashes() == {"new": "hash-new-71"}
    ingest(es_backend, "later", ["Later over robben."], seed=72)  # writes now go to version 2
    assert es_backend.count_chunks() == 2


def test_refused_chunks_raise_and_keep_the_old_version(es_backend: ElasticsearchBackend) -> None:
    old = ingest(es_backend, "doc", ["Oude tekst over pinguins."], seed=80)
    bad = [make_chunk("doc", 0, "Nieuwe tekst over ijsberen.")]
    with pytest.raises(IndexingError) as caught:
        es_backend.replace_document("doc", "hash-bad", bad, np.ones((1, DIM // 2), dtype=np.float32))
    assert caught.value.failures and caught.value.doc_id == "doc"
    assert es_backend.document_hashes() == {"doc": "hash-doc-80"}
    assert ids(es_backend.search_bm25("pinguins", k=3)) == [old[0].chunk_id]


def test_other_vector_size_is_refused(es_backend: ElasticsearchBackend) -> None:
    other = ElasticsearchBackend(es_backend.settings, dim=DIM * 2)
    with pytest.raises(IndexShapeError, match=r"dim: index 8, settings 16.*bron reindex"):
        other.ensure_index()
    other.close()


def test_missing_index_says_to_ingest(es_url: str) -> None:
    backend = ElasticsearchBackend(_es_settings(es_url), dim=DIM)
    with pytest.raises(BackendUnavailableError, match="bron ingest"):
        backend.search_bm25("iets", k=3)
    backend.close()


def test_unreachable_cluster_names_the_setting() -> None:
    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", request_timeout_s=2)
    backend = ElasticsearchBackend(settings, dim=DIM)
    with pytest.raises(BackendUnavailableError, match="BRON_RETRIEVAL__ELASTICSEARCH__URL"):
        backend.count_chunks()
    backend.close()


@contextmanager
def _answering(status: int, error_type: str) -> Iterator[str]:
    """A stand-in server that answers every request with one Elasticsearch error, as a cluster would."""
    body = json.dumps({"error": {"type": error_type, "reason": "stand-in"}, "status": status}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "error_type", "advice"),
    [
        (401, "security_exception", "API_KEY"),
        (403, "security_exception", "__USERNAME"),
        # what an 8.x server answers a 9.x client's `compatible-with=9` media type
        (400, "media_type_header_exception", "major version must match"),
    ],
)
def test_refusals_say_what_to_check(status: int, error_type: str, advice: str) -> None:
    with _answering(status, error_type) as url:
        backend = ElasticsearchBackend(ElasticsearchSettings(url=url, request_timeout_s=2), dim=DIM)
        with pytest.raises(BackendUnavailableError, match=advice):
            backend.search_bm25("iets", k=3)
        backend.close()


def test_the_first_ingest_into_an_empty_cluster_creates_the_index(es_url: str, tmp_path: Path) -> None:
    """`bron ingest` reads the stored hashes before it writes; on a new cluster there are none yet."""
    from retrieval.ingest import ingest_paths

    class FixedEmbedder:
        name, dim = "fixed", DIM

        def embed_query(self, text: str) -> Vectors:
            raise AssertionError("not used")

        def embed_passages(self, texts: Sequence[str]) -> Vectors:
            return np.asarray(unit_vectors(len(texts), 7), dtype=np.float32)

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "fiets.md").write_text("# Fiets\n\nDe fietsvergoeding is 19 cent per kilometer.\n")
    backend = ElasticsearchBackend(_es_settings(es_url), dim=DIM)
    try:
        assert backend.document_hashes() == {}
        report = ingest_paths([tmp_path / "docs"], backend=backend, embedder=FixedEmbedder())
        assert report.added == ["docs/fiets.md"] and backend.count_chunks() == 1
    finally:
        backend.close()
        _drop(es_url, backend.prefix)
