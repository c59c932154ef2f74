"""The Elasticsearch request bodies and index layout, checked as plain dicts (no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrieval import es_query as q
from retrieval.types import Chunk, SearchFilters


def test_chunks_template_has_explicit_mappings() -> None:
    body = q.build_chunks_template("bron", dim=384, shards=1, replicas=None)
    assert body["index_patterns"] == ["bron-v*"]
    props = body["template"]["mappings"]["properties"]
    assert body["template"]["mappings"]["dynamic"] == "strict"
    assert props["vector"] == {
        "type": "dense_vector",
        "dims": 384,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 100},
    }
    for field in ("chunk_id", "doc_id", "collection", "language", "content_hash"):
        assert props[field] == {"type": "keyword"}
    assert props["updated_at"] == {"type": "date"}
    for field in ("title", "heading_path", "text"):
        assert props[field]["fields"]["nl"]["analyzer"] == "bron_dutch"
        assert props[field]["fields"]["en"]["analyzer"] == "english"
        assert props[field]["analyzer"] == "bron_folded"
    analysis = body["template"]["settings"]["analysis"]
    assert "bron_folded" in analysis["analyzer"]
    # Elasticsearch's documented rebuild of the built-in `dutch` analyzer (its keyword marker is empty)
    dutch = analysis["analyzer"]["bron_dutch"]
    assert dutch["tokenizer"] == "standard"
    assert [analysis["filter"].get(f, f) for f in dutch["filter"]] == [
        "lowercase",
        {"type": "stop", "stopwords": "_dutch_"},
        {
            "type": "stemmer_override",
            "rules": ["fiets=>fiets", "bromfiets=>bromfiets", "ei=>eier", "kind=>kinder"],
        },
        {"type": "stemmer", "language": "dutch"},
    ]
    assert {"source", "url", "ordinal"} <= props.keys()


def test_docs_template_does_not_overlap_the_chunks_pattern() -> None:
    docs = q.build_docs_template("bron", replicas=None)["index_patterns"][0]
    assert docs == "bron-docs-v*"
    assert q.parse_version("bron", q.docs_index("bron", 3)) is None
    assert q.parse_version("bron", q.chunks_index("bron", 3)) == 3
    assert q.parse_version("bron", "bron-v") is None
    assert q.parse_version("bron", "bron-vx") is None
    assert q.parse_version("bron", "other-v1") is None


def test_filters_become_filter_clauses() -> None:
    after = datetime(2024, 3, 1, tzinfo=UTC)
    clauses = q.build_filter_clauses(
        SearchFilters(collections=("hr", "it"), updated_after=after, doc_ids=("a",))
    )
    assert clauses == [
        {"terms": {"collection": ["hr", "it"]}},
        {"range": {"updated_at": {"gt": "2024-03-01T00:00:00+00:00"}}},
        {"terms": {"doc_id": ["a"]}},
    ]
    assert q.build_filter_clauses(None) == []
    assert q.build_filter_clauses(SearchFilters()) == []
    # an empty tuple means "none of them", not "no restriction"
    assert q.build_filter_clauses(SearchFilters(collections=())) == [{"terms": {"collection": []}}]


def test_bm25_body_searches_every_analysis_with_boosts_and_filters() -> None:
    filters = SearchFilters(collections=("hr",))
    body = q.build_bm25_body("vakantiedagen", k=7, filters=filters, highlight=True)
    assert body["size"] == 7
    match = body["query"]["bool"]["must"][0]["multi_match"]
    assert match["type"] == "most_fields"
    assert "title.nl^2" in match["fields"] and "heading_path.en^1.5" in match["fields"]
    assert "text^1" in match["fields"]
    assert body["query"]["bool"]["filter"] == [{"terms": {"collection": ["hr"]}}]
    assert set(body["highlight"]["fields"]) == {"text", "text.nl", "text.en"}
    assert body["_source"] == {"excludes": ["vector"]}
    assert "highlight" not in q.build_bm25_body("x", k=1, filters=None)


def test_knn_body_filters_inside_the_search() -> None:
    body = q.build_knn_body([0.5, 0.5], k=5, filters=SearchFilters(doc_ids=("d",)))
    assert body["size"] == 5
    assert body["knn"] == {
        "field": "vector",
        "query_vector": [0.5, 0.5],
        "k": 5,
        "num_candidates": 100,
        "filter": [{"terms": {"doc_id": ["d"]}}],
    }


@pytest.mark.parametrize(("k", "expected"), [(1, 100), (60, 120), (9_000, 10_000)])
def test_num_candidates_exceeds_k_within_the_engine_limit(k: int, expected: int) -> None:
    assert q.num_candidates(k) == expected


def test_rrf_body_uses_standard_and_knn_retrievers() -> None:
    filters = SearchFilters(collections=("hr",))
    body = q.build_rrf_body("fiets", [1.0, 0.0], k=5, filters=filters, rank_constant=60, window=50)
    rrf = body["retriever"]["rrf"]
    assert rrf["rank_constant"] == 60 and rrf["rank_window_size"] == 50
    standard, knn = rrf["retrievers"]
    assert standard["standard"]["query"] == q.build_bm25_query("fiets", filters)
    assert knn["knn"]["filter"] == [{"terms": {"collection": ["hr"]}}]
    assert knn["knn"]["k"] == 50
    assert body["size"] == 5
    assert q.build_rrf_body("x", [1.0], k=80, filters=None, rank_constant=1, window=10)["retriever"]["rrf"][
        "rank_window_size"
    ] == 80  # fmt: skip


def test_chunk_source_round_trip() -> None:
    chunk = Chunk(
        chunk_id="c1",
        doc_id="d1",
        title="Verlof",
        heading_path=("HR", "Verlof"),
        text="Vakantiedagen.",
        source="hr/verlof.md",
        collection="hr",
        language="nl",
        ordinal=3,
        updated_at=datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
        url="https://wiki/verlof",
    )
    source = q.chunk_to_source(chunk, content_hash="h", vector=[0.25, 0.75])
    assert source["vector"] == [0.25, 0.75] and source["content_hash"] == "h"
    assert q.chunk_from_source(source) == chunk
    bare = Chunk(chunk_id="c", doc_id="d", title="", heading_path=(), text="t", source="s")
    assert q.chunk_from_source(q.chunk_to_source(bare, content_hash="h", vector=[1.0])) == bare


def test_cosine_from_score_inverts_the_engine_scale() -> None:
    assert q.cosine_from_score(1.0) == 1.0
    assert q.cosine_from_score(0.5) == 0.0
    assert q.cosine_from_score(0.0) == -1.0


def test_best_highlight_prefers_most_marked_terms() -> None:
    highlight = {
        "text": ["een <em>dag</em>"],
        "text.nl": ["<em>vakantiedagen</em> en <em>dag</em>"],
    }
    assert q.best_highlight(highlight) == "<em>vakantiedagen</em> en <em>dag</em>"
    assert q.best_highlight(None) is None
    assert q.best_highlight({"text": []}) is None


def test_rrf_score() -> None:
    assert q.rrf_score(1, rank_constant=60) == pytest.approx(1 / 61)


def test_vectors_are_indexed_but_not_stored_and_shards_come_from_settings() -> None:
    body = q.build_chunks_template("bron", dim=384, shards=3, replicas=2)
    assert body["template"]["mappings"]["_source"] == {"excludes": ["vector"]}
    assert body["template"]["settings"]["number_of_shards"] == 3
    assert body["template"]["settings"]["number_of_replicas"] == 2
    assert (
        "number_of_replicas"
        not in q.build_chunks_template("bron", dim=384, shards=1, replicas=None)["template"]["settings"]
    )
    assert q.build_docs_template("bron", replicas=2)["template"]["settings"]["number_of_replicas"] == 2
