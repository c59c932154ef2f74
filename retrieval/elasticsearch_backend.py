"""The production search engine: Elasticsearch 8.x/9.x through the official client.

Request bodies and the index layout are built in `es_query.py`; this module sends them, maps responses
to `Chunk`s and turns client errors into `RetrievalError`s whose message says what to check.

Client and server majors must match: a 9.x client sends `compatible-with=9` media types, which an 8.x
server refuses (400 `media_type_header_exception`); install `elasticsearch>=8,<9` for an 8.x cluster.
Nothing connects until the first call.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import elasticsearch
from elasticsearch import Elasticsearch, helpers

from retrieval import es_query as q
from retrieval.analysis import analyze_query
from retrieval.embedding import Vectors
from retrieval.errors import BackendUnavailableError, RetrievalError
from retrieval.settings import ElasticsearchSettings
from retrieval.shape import IndexShape, IndexShapeError
from retrieval.types import Chunk, Hit, ScoredChunk, SearchFilters

log = logging.getLogger(__name__)

_RRF_LICENCES = frozenset({"enterprise", "trial"})
_PAGE = 1_000
_SHAPE_META = "bron_shape"  # the chunks mapping's `_meta` key holding the IndexShape as JSON
_CLIENT_VERSION = importlib.metadata.version("elasticsearch")


class IndexingError(RetrievalError):
    """Some chunks of a document were refused; `failures` holds each refused bulk item."""

    def __init__(self, doc_id: str, failures: list[dict[str, Any]]) -> None:
        first = failures[0] if failures else {}
        super().__init__(
            f"Elasticsearch refused {len(failures)} item(s) of document {doc_id!r} (first: {first}); "
            "its old version stays searchable and its hash is not updated, so the next ingest retries it"
        )
        self.doc_id = doc_id
        self.failures = failures


class ServerSideRRFUnavailableError(RetrievalError):
    """The cluster's licence does not allow the `rrf` retriever."""


@dataclass(frozen=True)
class _PendingDocument:
    doc_id: str
    content_hash: str
    chunks: Sequence[Chunk]
    vectors: Vectors


@dataclass(frozen=True)
class HighlightedChunk:
    """A BM25 result with the best matching fragment of its text (terms wrapped in <em>)."""

    chunk: Chunk
    score: float
    highlight: str | None


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(
        self,
        settings: ElasticsearchSettings,
        *,
        dim: int,
        client: Elasticsearch | None = None,
        version: int | None = None,
        shape: IndexShape | None = None,
    ) -> None:
        """`version` pins reads and writes to one concrete index version (a re-index in progress);
        by default they go through the aliases, so a swap is seen without restarting. `shape`: the
        settings the index must have been built with (stored in the mapping's `_meta`); None reads it
        whatever its shape, as `bron reindex` does."""
        self.settings = settings
        self.shape = shape
        self._shape_checked = shape is None
        self.dim = dim
        self.prefix = settings.index_prefix
        self.version = version
        self._client = client or _make_client(settings)
        self._owns_client = client is None
        self._ensured = False
        self._rrf_allowed: bool | None = None
        # inside `batched()`: documents waiting for the next bulk, and the refused ones reported at its end
        self._pending: list[_PendingDocument] | None = None
        self._refused: list[tuple[str, str]] = []
        if version is None:
            self._chunks, self._docs = q.chunks_alias(self.prefix), q.docs_alias(self.prefix)
        else:
            self._chunks, self._docs = (
                q.chunks_index(self.prefix, version),
                q.docs_index(self.prefix, version),
            )

    @classmethod
    def from_settings(
        cls, settings: ElasticsearchSettings, *, dim: int, shape: IndexShape | None = None
    ) -> ElasticsearchBackend:
        return cls(settings, dim=dim, shape=shape)

    # -- errors ---------------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        url = self.settings.url
        try:
            yield
        except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as exc:
            raise BackendUnavailableError(
                f"cannot reach Elasticsearch at {url} while trying to {action} ({exc.message}); "
                "check BRON_RETRIEVAL__ELASTICSEARCH__URL and that the cluster is up"
            ) from exc
        except (elasticsearch.AuthenticationException, elasticsearch.AuthorizationException) as exc:
            raise BackendUnavailableError(
                f"Elasticsearch at {url} refused the credentials while trying to {action} "
                f"({exc.meta.status}); check BRON_RETRIEVAL__ELASTICSEARCH__API_KEY, or __USERNAME and "
                "__PASSWORD, and that the key may read and write indices matching "
                f"{self.prefix}*"
            ) from exc
        except elasticsearch.NotFoundError as exc:
            if exc.error == "index_not_found_exception":
                raise BackendUnavailableError(
                    f"Elasticsearch at {url} has no index {self._chunks!r} (needed to {action}); run "
                    "`bron ingest` to create it, or check BRON_RETRIEVAL__ELASTICSEARCH__INDEX_PREFIX"
                ) from exc
            raise RetrievalError(f"Elasticsearch could not {action}: {exc}") from exc
        except elasticsearch.UnsupportedProductError as exc:
            raise BackendUnavailableError(
                f"the server at {url} does not identify as Elasticsearch; "
                "check BRON_RETRIEVAL__ELASTICSEARCH__URL"
            ) from exc
        except elasticsearch.ApiError as exc:
            if exc.error == "media_type_header_exception":
                raise BackendUnavailableError(
                    f"Elasticsearch at {url} refused the media type of client {_CLIENT_VERSION}; "
                    "the client's major version must match the server's (elasticsearch>=8,<9 for an 8.x "
                    "cluster)"
                ) from exc
            raise RetrievalError(f"Elasticsearch could not {action}: {exc}") from exc

    # -- index lifecycle ------------------------------------------------------------------------------

    def ensure_index(self) -> None:
        """Install the templates and create version 1 behind the aliases if none exists; check dims.

        Called before every write. Reads never create indices: a missing index is reported instead.
        """
        if self._ensured:
            return
        with self._errors("prepare the index"):
            self._put_templates()
            if self.version is None and not self._client.indices.exists_alias(name=self._chunks):
                self._create_version(1, with_aliases=True)
            self._check_dims()
        self._check_shape(store=True)
        self._ensured = True

    def _check_shape(self, *, store: bool = False) -> None:
        """Refuse an index built with other settings; with `store`, record the shape on an index that
        has none yet (a new one, or one from before shapes were stored). The analysis is not compared:
        the analyzers are the mapping's, fixed when a version is created."""
        if self._shape_checked or self.shape is None:
            return
        with self._errors("read the index settings"):
            if not self._client.indices.exists(index=self._chunks):
                return  # nothing built yet: the first write creates the index and records the shape
            mappings = self._client.indices.get_mapping(index=self._chunks).body
            for index, body in mappings.items():
                raw = body["mappings"].get("_meta", {}).get(_SHAPE_META)
                if raw is None:
                    if store:
                        self._store_shape(index, self.shape)
                    continue
                differences = IndexShape.from_json(raw).differences(self.shape, ignore=("analysis",))
                if differences:
                    raise IndexShapeError(f"{index} at {self.settings.url}", differences)
        self._shape_checked = True

    def stored_shape(self) -> IndexShape | None:
        """The shape recorded on the live index (None: none recorded, or no index)."""
        with self._errors("read the index settings"):
            if not self._client.indices.exists_alias(name=self._chunks) and self.version is None:
                return None
            for body in self._client.indices.get_mapping(index=self._chunks).body.values():
                raw = body["mappings"].get("_meta", {}).get(_SHAPE_META)
                if raw is not None:
                    return IndexShape.from_json(raw)
        return None

    def _store_shape(self, index: str, shape: IndexShape) -> None:
        self._client.indices.put_mapping(index=index, meta={_SHAPE_META: shape.to_json()})

    def _put_templates(self) -> None:
        s = self.settings
        for name, body in (
            (
                self.prefix,
                q.build_chunks_template(
                    self.prefix, dim=self.dim, shards=s.number_of_shards, replicas=s.number_of_replicas
                ),
            ),
            (q.docs_alias(self.prefix), q.build_docs_template(self.prefix, replicas=s.number_of_replicas)),
        ):
            self._client.indices.put_index_template(name=name, **body)

    def _create_version(self, version: int, *, with_aliases: bool) -> None:
        for index, alias in (
            (q.chunks_index(self.prefix, version), q.chunks_alias(self.prefix)),
            (q.docs_index(self.prefix, version), q.docs_alias(self.prefix)),
        ):
            try:
                self._client.indices.create(index=index, aliases={alias: {}} if with_aliases else None)
            except elasticsearch.BadRequestError as exc:
                if exc.error != "resource_already_exists_exception":  # another process won the race
                    raise

    def _check_dims(self) -> None:
        mappings = self._client.indices.get_mapping(index=self._chunks)
        for index, body in mappings.body.items():
            dims = body["mappings"]["properties"][q.VECTOR_FIELD].get("dims")
            if dims is not None and int(dims) != self.dim:
                raise IndexShapeError(index, [f"dim: index {dims}, settings {self.dim}"])

    def live_versions(self) -> list[int]:
        """Versions the chunks alias points at now (one, except mid-swap by hand)."""
        with self._errors("read the index alias"):
            if not self._client.indices.exists_alias(name=q.chunks_alias(self.prefix)):
                return []
            names = self._client.indices.get_alias(name=q.chunks_alias(self.prefix)).body
        return sorted(v for n in names if (v := q.parse_version(self.prefix, n)) is not None)

    def reindex_into_new_version(self) -> ElasticsearchBackend:
        """Create the next empty version and return a backend that writes and reads only there.

        Ingest every document into it while the alias keeps serving the old version, then call its
        `swap_alias()`. The new version takes this backend's `dim`, so a new embedder can be rolled out.
        """
        with self._errors("create a new index version"):
            self._put_templates()
            existing = self._client.indices.get(index=f"{self.prefix}-v*", allow_no_indices=True).body
            versions = [v for n in existing if (v := q.parse_version(self.prefix, n)) is not None]
            version = max(versions, default=0) + 1
            self._create_version(version, with_aliases=False)
            if self.shape is not None:
                self._store_shape(q.chunks_index(self.prefix, version), self.shape)
        staged = ElasticsearchBackend(
            self.settings, dim=self.dim, client=self._client, version=version, shape=self.shape
        )
        staged._ensured = staged._shape_checked = True
        return staged

    def swap_alias(self, *, delete_old: bool = False) -> None:
        """Point both aliases at this backend's version in one atomic `update_aliases` call."""
        if self.version is None:
            raise ValueError("swap_alias needs a backend from reindex_into_new_version()")
        old = [v for v in self.live_versions() if v != self.version]
        actions: list[dict[str, Any]] = []
        for v in old:
            actions.append({"remove": {"index": q.chunks_index(self.prefix, v), "alias": self.prefix}})
            actions.append(
                {"remove": {"index": q.docs_index(self.prefix, v), "alias": q.docs_alias(self.prefix)}}
            )
        actions.append({"add": {"index": self._chunks, "alias": q.chunks_alias(self.prefix)}})
        actions.append({"add": {"index": self._docs, "alias": q.docs_alias(self.prefix)}})
        with self._errors("swap the index alias"):
            self._client.indices.update_aliases(actions=actions)
            if delete_old:
                for v in old:
                    self._client.indices.delete(
                        index=[q.chunks_index(self.prefix, v), q.docs_index(self.prefix, v)]
                    )

    # -- writes ---------------------------------------------------------------------------------------

    @contextmanager
    def batched(self) -> Iterator[list[tuple[str, str]]]:
        """Buffer `replace_document` calls into bulk requests and refresh once, at the end.

        A sync of N documents then costs O(N / bulk_chunk_size) bulk requests and one refresh, instead
        of three refreshing requests per document. Each flush keeps `replace_document`'s guarantee per
        document: its stale chunks are deleted and its hash written only once all its new chunks are
        in; a refused document is taken out again, keeps its old version and is yielded as
        (doc_id, reason) in the list, so the next sync retries it. Nested calls join the outer batch.
        """
        if self._pending is not None:
            yield self._refused
            return
        self._pending, self._refused = [], []
        try:
            yield self._refused
            self._flush()
        finally:
            self._pending = None
        if self._ensured:
            with self._errors("refresh the index"):
                self._client.indices.refresh(index=[self._chunks, self._docs])

    def replace_document(
        self, doc_id: str, content_hash: str, chunks: Sequence[Chunk], vectors: Vectors
    ) -> None:
        """Index the new chunks, then delete the stale ones, then record the hash.

        Not delete-then-insert: a reader between the two would find the document missing. Chunk ids
        are content-addressed, so unchanged chunks are overwritten in place and only stale ids go.
        Elasticsearch has no transactions and a bulk request is not atomic (a refused item does not stop
        the others), hence two phases: if any new chunk is refused, the ones that went in are taken out
        again and the old version stays whole. The price is that a periodic refresh between the phases
        can show old and new chunks side by side for a moment; the hash is written last, so a crash
        anywhere leaves the old hash and the next ingest redoes the document.
        """
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.ensure_index()
        if self._pending is not None:
            self._pending.append(_PendingDocument(doc_id, content_hash, chunks, vectors))
            s = self.settings
            if sum(len(p.chunks) for p in self._pending) >= s.bulk_chunk_size * s.bulk_workers:
                self._flush()
            return
        new_ids = [c.chunk_id for c in chunks]
        with self._errors(f"replace document {doc_id!r}"):
            old_ids = set(self._chunk_ids_of(doc_id))
            failures = self._bulk(
                {
                    "_op_type": "index",
                    "_index": self._chunks,
                    "_id": chunk.chunk_id,
                    "_source": q.chunk_to_source(chunk, content_hash=content_hash, vector=vector.tolist()),
                }
                for chunk, vector in zip(chunks, vectors, strict=True)
            )
            if failures:
                refused = {_item_id(f) for f in failures}
                self._delete_ids([c for c in new_ids if c not in old_ids and c not in refused])
                raise IndexingError(doc_id, failures)
            self._delete_ids(sorted(old_ids - set(new_ids)))
            self._client.index(
                index=self._docs,
                id=doc_id,
                document={"doc_id": doc_id, "content_hash": content_hash, "chunk_count": len(chunks)},
                refresh="wait_for",
            )

    def _flush(self) -> None:
        """Send the buffered documents: chunks in parallel bulks, then stale deletes, then hashes."""
        pending, self._pending = self._pending or [], []
        if not pending:
            return
        with self._errors(f"index {len(pending)} documents"):
            old = self._chunk_ids_of_docs([p.doc_id for p in pending])
            owner: dict[str, str] = {}
            actions: list[dict[str, Any]] = []
            for p in pending:
                for chunk, vector in zip(p.chunks, p.vectors, strict=True):
                    owner[chunk.chunk_id] = p.doc_id
                    source = q.chunk_to_source(chunk, content_hash=p.content_hash, vector=vector.tolist())
                    actions.append({"_op_type": "index", "_index": self._chunks, "_id": chunk.chunk_id,
                                    "_source": source})  # fmt: skip
            refused: dict[str, list[dict[str, Any]]] = {}
            for failure in self._parallel_bulk(actions):
                refused.setdefault(owner.get(_item_id(failure) or "", "?"), []).append(failure)
            gone: list[str] = []
            hashes: list[dict[str, Any]] = []
            for p in pending:
                new_ids = {c.chunk_id for c in p.chunks}
                if p.doc_id in refused:
                    bad = {_item_id(f) for f in refused[p.doc_id]}
                    gone += [c for c in new_ids if c not in old.get(p.doc_id, set()) and c not in bad]
                    self._refused.append((p.doc_id, str(IndexingError(p.doc_id, refused[p.doc_id]))))
                    continue
                gone += sorted(old.get(p.doc_id, set()) - new_ids)
                record = {"doc_id": p.doc_id, "content_hash": p.content_hash, "chunk_count": len(p.chunks)}
                hashes.append({"_op_type": "index", "_index": self._docs, "_id": p.doc_id, "_source": record})
            failures = self._parallel_bulk(
                {"_op_type": "delete", "_index": self._chunks, "_id": c} for c in gone
            )
            failures += self._parallel_bulk(hashes)
            if failures:
                raise RetrievalError(
                    f"Elasticsearch refused {len(failures)} item(s) of a batch: {failures[:3]}"
                )

    def _parallel_bulk(self, actions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bulk requests of `bulk_chunk_size` actions, `bulk_workers` at once, each retried on 429.

        elasticsearch-py's `parallel_bulk` does not retry 429s; its `bulk` does (with back-off), so this
        runs `bulk` on slices in a small pool. No refresh: `batched()` refreshes once at its end.
        """
        s = self.settings
        items = list(actions)
        parts = [items[i : i + s.bulk_chunk_size] for i in range(0, len(items), s.bulk_chunk_size)]

        def send(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
            _, errors = helpers.bulk(self._client, part, raise_on_error=False, chunk_size=s.bulk_chunk_size,
                                     max_retries=s.bulk_max_retries, initial_backoff=s.bulk_initial_backoff_s)  # fmt: skip
            return [e for e in errors if not _is_missing_delete(e)] if isinstance(errors, list) else []

        if len(parts) <= 1:
            return send(parts[0]) if parts else []
        with ThreadPoolExecutor(max_workers=s.bulk_workers, thread_name_prefix="es-bulk") as pool:
            return [e for errors in pool.map(send, parts) for e in errors]

    def _chunk_ids_of_docs(self, doc_ids: Sequence[str]) -> dict[str, set[str]]:
        """The chunk ids each document has in the index now: one paged search for the whole batch."""
        out: dict[str, set[str]] = {}
        after: list[Any] | None = None
        while True:
            resp = self._client.search(index=self._chunks, query={"terms": {"doc_id": list(doc_ids)}},
                                       sort=[{"chunk_id": "asc"}], source_includes=["doc_id"], size=_PAGE,
                                       search_after=after)  # fmt: skip
            hits = resp["hits"]["hits"]
            for h in hits:
                out.setdefault(h["_source"]["doc_id"], set()).add(h["_id"])
            if len(hits) < _PAGE:
                return out
            after = hits[-1]["sort"]

    def _bulk(self, actions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send actions with `refresh=wait_for`; return the refused items (a delete of a gone id is fine)."""
        _, errors = helpers.bulk(
            self._client, actions, raise_on_error=False, refresh="wait_for", chunk_size=500
        )
        return [e for e in errors if not _is_missing_delete(e)] if isinstance(errors, list) else []

    def _delete_ids(self, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        failures = self._bulk({"_op_type": "delete", "_index": self._chunks, "_id": c} for c in chunk_ids)
        if failures:
            raise RetrievalError(f"Elasticsearch refused to delete chunks: {failures[:3]}")

    def _chunk_ids_of(self, doc_id: str) -> list[str]:
        ids: list[str] = []
        after: list[Any] | None = None
        while True:
            resp = self._client.search(
                index=self._chunks,
                query={"term": {"doc_id": doc_id}},
                sort=[{"chunk_id": "asc"}],
                source=False,
                size=_PAGE,
                search_after=after,
            )
            hits = resp["hits"]["hits"]
            ids += [h["_id"] for h in hits]
            if len(hits) < _PAGE:
                return ids
            after = hits[-1]["sort"]

    def delete_document(self, doc_id: str) -> None:
        """Chunks first, hash last: a crash in between leaves a hash, so the next ingest deletes again.

        Inside `batched()` nothing refreshes here: the batch's one refresh at its end shows the deletion.
        """
        self.ensure_index()
        immediate = self._pending is None
        with self._errors(f"delete document {doc_id!r}"):
            self._client.delete_by_query(
                index=self._chunks, query={"term": {"doc_id": doc_id}}, refresh=immediate, conflicts="proceed"
            )
            self._client.options(ignore_status=404).delete(
                index=self._docs, id=doc_id, refresh="wait_for" if immediate else False
            )

    # -- reads ----------------------------------------------------------------------------------------

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        with self._errors(f"read document {doc_id!r}"):
            ids = self._chunk_ids_of(doc_id)
        return sorted(self.get_chunks(ids), key=lambda c: c.ordinal)

    def document_hashes(self) -> dict[str, str]:
        """Every document's stored hash; none before the first ingest has created the index, so that
        first `bron ingest` can run (it failed asking to run `bron ingest`)."""
        self._check_shape()
        out: dict[str, str] = {}
        after: list[Any] | None = None
        with self._errors("read document hashes"):
            if not self._client.indices.exists(index=self._docs):
                return out
            while True:
                resp = self._client.search(
                    index=self._docs, sort=[{"doc_id": "asc"}], size=_PAGE, search_after=after
                )
                hits = resp["hits"]["hits"]
                out.update({h["_source"]["doc_id"]: h["_source"]["content_hash"] for h in hits})
                if len(hits) < _PAGE:
                    return out
                after = hits[-1]["sort"]

    def search_bm25(self, query: str, *, k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        return [ScoredChunk(chunk=h.chunk, score=h.score) for h in self._bm25(query, k, filters, False)]

    def search_bm25_highlighted(
        self, query: str, *, k: int, filters: SearchFilters | None = None
    ) -> list[HighlightedChunk]:
        """Like `search_bm25`, with the best matching fragment for a snippet."""
        return self._bm25(query, k, filters, True)

    def _bm25(
        self, query: str, k: int, filters: SearchFilters | None, highlight: bool
    ) -> list[HighlightedChunk]:
        # Same rule as the embedded engine: a query of only stop words finds nothing.
        if k <= 0 or not analyze_query(query):
            return []
        self._check_shape()
        body = q.build_bm25_body(query, k=k, filters=filters, highlight=highlight)
        with self._errors("run a BM25 search"):
            hits = self._client.search(index=self._chunks, **body)["hits"]["hits"]
        return [
            HighlightedChunk(
                chunk=q.chunk_from_source(h["_source"]),
                score=float(h["_score"]),
                highlight=q.best_highlight(h.get("highlight")),
            )
            for h in hits
        ]

    def search_dense(
        self, vector: Vectors, *, k: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        """kNN with filters inside the search; scores are cosine similarities, as the embedded engine's."""
        if k <= 0:
            return []
        self._check_shape()
        body = q.build_knn_body(vector.reshape(-1).tolist(), k=k, filters=filters)
        with self._errors("run a kNN search"):
            hits = self._client.search(index=self._chunks, **body)["hits"]["hits"]
        return [
            ScoredChunk(chunk=q.chunk_from_source(h["_source"]), score=q.cosine_from_score(h["_score"]))
            for h in hits
        ]

    def server_side_rrf_available(self) -> bool:
        """`always`/`never` from settings; `auto` asks `GET /_license` once (any error there: no)."""
        mode = self.settings.server_side_rrf
        if mode != "auto":
            return mode == "always"
        if self._rrf_allowed is None:
            try:
                licence = self._client.license.get()["license"]
                self._rrf_allowed = licence.get("type") in _RRF_LICENCES and licence.get("status") == "active"
            except (elasticsearch.ApiError, KeyError) as exc:  # refused or unknown: ask no more
                log.info("no server-side RRF: the licence check failed (%s)", exc)
                self._rrf_allowed = False
            except elasticsearch.TransportError as exc:  # unreachable now: fuse in Bron, ask again later
                log.warning("no server-side RRF for now: cannot read the licence (%s)", exc)
                return False
        return self._rrf_allowed

    def search_hybrid_server(
        self,
        query: str,
        vector: Vectors,
        *,
        k: int,
        filters: SearchFilters | None = None,
        rank_constant: int = 60,
        candidates: int = 100,
    ) -> list[Hit]:
        """BM25 and kNN fused by the cluster's `rrf` retriever (score = sum 1/(rank_constant + rank)).

        Bron fuses in the application by default (`retrieval/fusion.py`); this is for clusters whose
        licence allows the retriever. The server reports only the fused score, so the kNN run over the
        same window is asked for again: each hit in it gets its question-chunk cosine and dense rank,
        exactly as fusion in Bron gives them, and the evidence bar, prompt filter and quote bar decide
        the same on both paths. Without it no hit had a cosine and every question passed the bar.
        """
        if not self.server_side_rrf_available():
            raise ServerSideRRFUnavailableError(
                "this cluster's licence does not allow the `rrf` retriever; fuse in Bron "
                "(BRON_RETRIEVAL__ELASTICSEARCH__SERVER_SIDE_RRF=never)"
            )
        if k <= 0:
            return []
        flat = vector.reshape(-1).tolist()
        window = max(candidates, k)
        dense_run = self.search_dense(vector, k=window, filters=filters)
        dense = {s.chunk.chunk_id: (rank, s.score) for rank, s in enumerate(dense_run, start=1)}

        def hit(chunk: Chunk, score: float, rank: int) -> Hit:
            if chunk.chunk_id not in dense:
                return Hit(chunk=chunk, score=score, rank=rank)
            dense_rank, cosine = dense[chunk.chunk_id]
            return Hit(chunk=chunk, score=score, rank=rank, ranks={"dense": dense_rank},
                       scores={"dense": cosine})  # fmt: skip

        if not analyze_query(query):  # rrf needs two retrievers; with no terms only kNN is left
            return [
                hit(s.chunk, q.rrf_score(i, rank_constant=rank_constant), i)
                for i, s in enumerate(dense_run[:k], start=1)
            ]
        self._check_shape()
        body = q.build_rrf_body(query, flat, k=k, filters=filters, rank_constant=rank_constant, window=window)
        with self._errors("run a server-side hybrid search"):
            hits = self._client.search(index=self._chunks, **body)["hits"]["hits"]
        return [hit(q.chunk_from_source(h["_source"]), float(h["_score"]), i) for i, h in enumerate(hits, 1)]

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        if not chunk_ids:
            return []
        with self._errors("fetch chunks by id"):
            docs = self._client.mget(
                index=self._chunks, ids=list(chunk_ids), source_excludes=[q.VECTOR_FIELD]
            )
        return [q.chunk_from_source(d["_source"]) for d in docs["docs"] if d.get("found")]

    def check_shape(self) -> None:
        self._check_shape()

    def count_chunks(self) -> int:
        with self._errors("count chunks"):
            return int(self._client.count(index=self._chunks)["count"])

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def _item_id(item: dict[str, Any]) -> str | None:
    for result in item.values():
        if isinstance(result, dict):
            return str(result.get("_id"))
    return None


def _is_missing_delete(item: Any) -> bool:
    """A delete of an id that is already gone is what we wanted, not a failure."""
    return isinstance(item, dict) and item.get("delete", {}).get("status") == 404


def _make_client(settings: ElasticsearchSettings) -> Elasticsearch:
    kwargs: dict[str, Any] = {}
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
    if settings.api_key:
        kwargs["api_key"] = settings.api_key.get_secret_value()
    elif settings.username:
        kwargs["basic_auth"] = (
            settings.username,
            settings.password.get_secret_value() if settings.password else "",
        )
    return Elasticsearch(
        settings.url,
        request_timeout=settings.request_timeout_s,
        retry_on_timeout=True,
        max_retries=2,
        **kwargs,
    )
