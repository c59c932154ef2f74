"""Elasticsearch request bodies and index layout, as pure functions: testable without a cluster.

Every body here is written against the documented Elasticsearch 8.x/9.x REST API (not against the
emulator the tests use). The backend in `elasticsearch_backend.py` only sends what these functions build
and turns the responses back into `Chunk`s.

Layout, for an index prefix P:
- `P-v1`, `P-v2`, ... hold chunks; the alias `P` points at the live one. A full re-index builds the next
  version while `P` keeps answering, then one `update_aliases` call moves the alias.
- `P-docs-v1`, ... hold one small record per document (its content hash), behind the alias `P-docs`,
  versioned and swapped together with the chunks. A separate index, rather than a `content_hash` field
  answered by an aggregation over chunks, because a document with zero chunks still has a hash, because
  reading N hashes is N small records instead of an aggregation over every chunk, and because the hash
  is written *after* its chunks: a crash in between leaves the old hash, so the next ingest redoes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from retrieval.analysis import ES_DUTCH_OVERRIDES
from retrieval.types import Chunk, SearchFilters

Body = dict[str, Any]

VECTOR_FIELD = "vector"
TEMPLATE_PRIORITY = 200
MAX_RESULT_WINDOW = 10_000
HIGHLIGHT_TAGS = ("<em>", "</em>")

# Each searched text field is indexed three ways: folded with Dutch+English stop words (exact words),
# Dutch Snowball (`.nl`) and English Snowball (`.en`). `most_fields` adds the three scores, so an exact
# match outranks a stem-only match and a Dutch question still meets an English document.
_TEXT_FIELDS: Mapping[str, float] = {"title": 2.0, "heading_path": 1.5, "text": 1.0}
_SUBFIELDS = ("", ".nl", ".en")


def chunks_alias(prefix: str) -> str:
    return prefix


def docs_alias(prefix: str) -> str:
    return f"{prefix}-docs"


def chunks_index(prefix: str, version: int) -> str:
    return f"{prefix}-v{version}"


def docs_index(prefix: str, version: int) -> str:
    return f"{prefix}-docs-v{version}"


def parse_version(prefix: str, index_name: str) -> int | None:
    """The version number of a chunks index `P-vN`, or None for any other name."""
    head = f"{prefix}-v"
    if not index_name.startswith(head) or not index_name[len(head) :].isdigit():
        return None
    return int(index_name[len(head) :])


def _multilingual_text() -> Body:
    return {
        "type": "text",
        "analyzer": "bron_folded",
        "fields": {
            "nl": {"type": "text", "analyzer": "bron_dutch"},
            "en": {"type": "text", "analyzer": "english"},
        },
    }


def build_chunks_template(prefix: str, *, dim: int, shards: int, replicas: int | None) -> Body:
    """The index template every chunks version `P-vN` is created from.

    `int8_hnsw` is set explicitly: it keeps the HNSW graph over int8-quantised vectors (4x less memory
    than `hnsw` on float32, recall loss negligible for 384-dim e5 vectors) and it is available from 8.12
    on. Left implicit, 9.1+ picks `bbq_hnsw` (1-bit) at >= 384 dims, which changes recall on upgrade.
    Shards and replicas come from settings (one shard gives exact corpus-wide BM25 statistics). Vectors
    are indexed but not kept in `_source`: they would double the stored size, and nothing reads them back
    (searches and re-scoring run on the server; a re-index embeds again from the chunk text).
    `bron_dutch` is the built-in `dutch` analyzer as Elasticsearch documents it, spelled out so that the
    embedded engine's `retrieval.analysis.dutch_terms` can be checked token for token against it.
    """
    return {
        "index_patterns": [f"{prefix}-v*"],
        "priority": TEMPLATE_PRIORITY,
        "_meta": {"managed_by": "bron", "kind": "chunks"},
        "template": {
            "settings": {
                "number_of_shards": shards,
                **({"number_of_replicas": replicas} if replicas is not None else {}),
                "analysis": {
                    "analyzer": {
                        "bron_folded": {
                            "type": "custom",
                            "tokenizer": "standard",
                            "filter": ["lowercase", "asciifolding", "bron_stop_nl", "bron_stop_en"],
                        },
                        "bron_dutch": {
                            "type": "custom",
                            "tokenizer": "standard",
                            "filter": [
                                "lowercase",
                                "bron_stop_nl",
                                "bron_dutch_override",
                                "bron_dutch_stemmer",
                            ],
                        },
                    },
                    "filter": {
                        "bron_stop_nl": {"type": "stop", "stopwords": "_dutch_"},
                        "bron_stop_en": {"type": "stop", "stopwords": "_english_"},
                        "bron_dutch_override": {
                            "type": "stemmer_override",
                            "rules": [f"{word}=>{out}" for word, out in ES_DUTCH_OVERRIDES.items()],
                        },
                        "bron_dutch_stemmer": {"type": "stemmer", "language": "dutch"},
                    },
                },
            },
            "mappings": {
                "dynamic": "strict",
                "_source": {"excludes": [VECTOR_FIELD]},
                "properties": {
                    "chunk_id": {"type": "keyword"},
                    "doc_id": {"type": "keyword"},
                    "collection": {"type": "keyword"},
                    "language": {"type": "keyword"},
                    "content_hash": {"type": "keyword"},
                    "updated_at": {"type": "date"},
                    "title": _multilingual_text(),
                    "heading_path": _multilingual_text(),
                    "text": _multilingual_text(),
                    "source": {"type": "keyword", "index": False},
                    "url": {"type": "keyword", "index": False},
                    "ordinal": {"type": "integer"},
                    VECTOR_FIELD: {
                        "type": "dense_vector",
                        "dims": dim,
                        "index": True,
                        "similarity": "cosine",
                        "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 100},
                    },
                },
            },
        },
    }


def build_docs_template(prefix: str, *, replicas: int | None) -> Body:
    """The index template for the per-document hash records `P-docs-vN`."""
    return {
        "index_patterns": [f"{prefix}-docs-v*"],
        "priority": TEMPLATE_PRIORITY,
        "_meta": {"managed_by": "bron", "kind": "documents"},
        "template": {
            "settings": {
                "number_of_shards": 1,
                **({"number_of_replicas": replicas} if replicas is not None else {}),
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "doc_id": {"type": "keyword"},
                    "content_hash": {"type": "keyword"},
                    "chunk_count": {"type": "integer"},
                },
            },
        },
    }


def chunk_to_source(chunk: Chunk, *, content_hash: str, vector: Sequence[float]) -> Body:
    return {
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "collection": chunk.collection,
        "language": chunk.language,
        "content_hash": content_hash,
        "updated_at": chunk.updated_at.isoformat() if chunk.updated_at else None,
        "title": chunk.title,
        "heading_path": list(chunk.heading_path),
        "text": chunk.text,
        "source": chunk.source,
        "url": chunk.url,
        "ordinal": chunk.ordinal,
        VECTOR_FIELD: [float(x) for x in vector],
    }


def chunk_from_source(source: Mapping[str, Any]) -> Chunk:
    updated = source.get("updated_at")
    return Chunk(
        chunk_id=source["chunk_id"],
        doc_id=source["doc_id"],
        title=source.get("title") or "",
        heading_path=tuple(source.get("heading_path") or ()),
        text=source.get("text") or "",
        source=source.get("source") or "",
        collection=source.get("collection") or "public",
        language=source.get("language") or "en",
        ordinal=int(source.get("ordinal") or 0),
        updated_at=datetime.fromisoformat(updated) if updated else None,
        url=source.get("url"),
    )


SOURCE_EXCLUDES: Body = {"excludes": [VECTOR_FIELD]}


def build_filter_clauses(filters: SearchFilters | None) -> list[Body]:
    """Filter clauses for a bool `filter` and for kNN's `filter` (so kNN filters *before* taking top k)."""
    if filters is None:
        return []
    clauses: list[Body] = []
    if filters.collections is not None:
        clauses.append({"terms": {"collection": list(filters.collections)}})
    if filters.updated_after is not None:
        clauses.append({"range": {"updated_at": {"gt": filters.updated_after.isoformat()}}})
    if filters.doc_ids is not None:
        clauses.append({"terms": {"doc_id": list(filters.doc_ids)}})
    return clauses


def search_fields() -> list[str]:
    return [f"{name}{sub}^{boost:g}" for name, boost in _TEXT_FIELDS.items() for sub in _SUBFIELDS]


def build_bm25_query(query: str, filters: SearchFilters | None) -> Body:
    return {
        "bool": {
            "must": [{"multi_match": {"query": query, "fields": search_fields(), "type": "most_fields"}}],
            "filter": build_filter_clauses(filters),
        }
    }


def build_bm25_body(query: str, *, k: int, filters: SearchFilters | None, highlight: bool = False) -> Body:
    body: Body = {
        "size": min(k, MAX_RESULT_WINDOW),
        "query": build_bm25_query(query, filters),
        "_source": SOURCE_EXCLUDES,
    }
    if highlight:
        body["highlight"] = {
            "pre_tags": [HIGHLIGHT_TAGS[0]],
            "post_tags": [HIGHLIGHT_TAGS[1]],
            "fields": {f"text{sub}": {"number_of_fragments": 1, "fragment_size": 200} for sub in _SUBFIELDS},
        }
    return body


def num_candidates(k: int) -> int:
    """Candidates per shard for HNSW: more than k for recall, capped at the engine's 10,000."""
    return min(max(2 * k, 100), MAX_RESULT_WINDOW)


def build_knn(vector: Sequence[float], *, k: int, filters: SearchFilters | None) -> Body:
    k = min(k, MAX_RESULT_WINDOW)
    return {
        "field": VECTOR_FIELD,
        "query_vector": [float(x) for x in vector],
        "k": k,
        "num_candidates": num_candidates(k),
        "filter": build_filter_clauses(filters),
    }


def build_knn_body(vector: Sequence[float], *, k: int, filters: SearchFilters | None) -> Body:
    return {
        "size": min(k, MAX_RESULT_WINDOW),
        "knn": build_knn(vector, k=k, filters=filters),
        "_source": SOURCE_EXCLUDES,
    }


def cosine_from_score(score: float) -> float:
    """Elasticsearch reports cosine similarity as (1 + cos) / 2; give back the cosine itself."""
    return 2.0 * score - 1.0


def build_rrf_body(
    query: str,
    vector: Sequence[float],
    *,
    k: int,
    filters: SearchFilters | None,
    rank_constant: int,
    window: int,
) -> Body:
    """Server-side reciprocal rank fusion via the `rrf` retriever (Enterprise or trial licence only).

    Filters go into each sub-retriever, which every version with retrievers (8.14+) accepts.
    """
    window = max(window, k)
    return {
        "size": k,
        "retriever": {
            "rrf": {
                "retrievers": [
                    {"standard": {"query": build_bm25_query(query, filters)}},
                    {"knn": build_knn(vector, k=window, filters=filters)},
                ],
                "rank_constant": rank_constant,
                "rank_window_size": window,
            }
        },
        "_source": SOURCE_EXCLUDES,
    }


def best_highlight(highlight: Mapping[str, Sequence[str]] | None) -> str | None:
    """The fragment with the most marked terms across the three analyses of `text`."""
    if not highlight:
        return None
    fragments = [frag for frags in highlight.values() for frag in frags]
    if not fragments:
        return None
    return max(fragments, key=lambda f: (f.count(HIGHLIGHT_TAGS[0]), -len(f)))


def rrf_score(rank: int, *, rank_constant: int) -> float:
    return 1.0 / (rank_constant + rank)
