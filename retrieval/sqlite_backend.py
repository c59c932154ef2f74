"""The embedded search engine: one SQLite file for storage, BM25 and exact vector search in memory.

Why this engine: SQLite ships with Python and one file holds text, vectors, BM25 term counts and document
hashes, so a re-ingest replaces a document in a single transaction (nothing stale, nothing half-written,
even if the process dies). Searching happens in memory with numpy, on a snapshot loaded once; this
process's own writes (a scheduled sync, an ingest) are merged into it in place, reading only the rows they
wrote, while another process's write (seen through `PRAGMA data_version`) reloads it:
- vectors as one float32 matrix; a query is one matrix-vector product (exact, no recall loss);
- BM25 as a term-major impact index (Okapi BM25, k1 1.2, b 0.75, FTS5's idf), so a query costs one
  weighted `bincount` over its terms' postings. FTS5 ranked the same scores but took ~0.5 s a query at
  100,000 chunks, where the matrix product takes tens of milliseconds;
- collection, date and document filters as arrays, applied before the top k is taken.
Terms come from `retrieval.analysis.index_terms` (Snowball for English, Elasticsearch's `dutch` for Dutch).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.analysis import analyze_query, index_terms
from retrieval.chunking import embedding_text
from retrieval.embedding import Vectors
from retrieval.errors import BackendUnavailableError
from retrieval.shape import IndexShape, IndexShapeError
from retrieval.types import Chunk, ScoredChunk, SearchFilters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT UNIQUE NOT NULL,
    doc_id TEXT NOT NULL,
    meta TEXT NOT NULL,
    collection TEXT NOT NULL,
    updated_at TEXT,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS terms (id INTEGER PRIMARY KEY, term TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS postings (
    rowid INTEGER PRIMARY KEY,
    length INTEGER NOT NULL,
    term_ids BLOB NOT NULL,
    counts BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Bumped whenever the stored terms change. 2: Dutch as Elasticsearch's `dutch`. 3: per-chunk term counts
# (`postings`) instead of an FTS5 table.
ANALYSIS_VERSION = "3"
K1 = 1.2
B = 0.75

IntArray = npt.NDArray[np.int32]


def _terms(chunk: Chunk) -> list[str]:
    return index_terms(embedding_text(chunk), chunk.language)


@dataclass(frozen=True)
class _Columns:
    """One value per chunk, row i being the i-th chunk by rowid."""

    rowids: npt.NDArray[np.int64]
    matrix: Vectors
    collection_codes: IntArray
    collections: dict[str, int]
    doc_codes: IntArray
    doc_ids: dict[str, int]
    updated_at: npt.NDArray[np.str_]
    lengths: npt.NDArray[np.float32]  # terms per row

    def columns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(_Columns)}


@dataclass(frozen=True)
class _Snapshot(_Columns):
    """Everything a search reads: the chunks' columns and a term-major BM25 index over them."""

    vocabulary: dict[str, int]
    term_starts: npt.NDArray[np.int64]  # postings of term t: rows[term_starts[t]:term_starts[t + 1]]
    rows: IntArray
    impacts: npt.NDArray[np.float32]  # BM25's term-frequency part, idf left out
    terms: IntArray  # the term of each posting (term-major, as `rows`)
    tf: npt.NDArray[np.float32]  # the count of each posting

    def mask(self, filters: SearchFilters | None) -> npt.NDArray[np.bool_] | None:
        if filters is None:
            return None
        keep = np.ones(len(self.rowids), dtype=bool)
        if filters.collections is not None:
            codes = [self.collections[c] for c in filters.collections if c in self.collections]
            keep &= np.isin(self.collection_codes, codes)
        if filters.updated_after is not None:
            # ISO strings compare as the SQL did; chunks without a date ("") never pass
            keep &= self.updated_at > filters.updated_after.isoformat()
        if filters.doc_ids is not None:
            codes = [self.doc_ids[d] for d in filters.doc_ids if d in self.doc_ids]
            keep &= np.isin(self.doc_codes, codes)
        return keep

    def bm25(self, terms: Sequence[str]) -> npt.NDArray[np.float64]:
        """Okapi BM25 of every row, as FTS5's bm25() computes it (0 where no term occurs)."""
        n = len(self.rowids)
        rows: list[IntArray] = []
        weights: list[npt.NDArray[np.float32]] = []
        for term in dict.fromkeys(terms):
            t = self.vocabulary.get(term)
            if t is None or t + 1 >= len(self.term_starts):
                continue
            lo, hi = int(self.term_starts[t]), int(self.term_starts[t + 1])
            if hi == lo:
                continue
            idf = math.log((n - (hi - lo) + 0.5) / ((hi - lo) + 0.5))
            rows.append(self.rows[lo:hi])
            weights.append(self.impacts[lo:hi] * np.float32(idf if idf > 0 else 1e-6))
        if not rows:
            return np.zeros(n)
        scores = np.bincount(np.concatenate(rows), weights=np.concatenate(weights), minlength=n)
        return np.asarray(scores, dtype=np.float64)


@dataclass(frozen=True)
class _Rows(_Columns):
    """Chunks as read from the database, postings row by row: what a snapshot is built from."""

    terms: IntArray  # the term of each (row, term) pair, row by row
    counts: npt.NDArray[np.int32] | npt.NDArray[np.float32]
    row_of: IntArray

    @classmethod
    def read(
        cls, rows: list[tuple[Any, ...]], dim: int, collections: dict[str, int], doc_ids: dict[str, int]
    ) -> _Rows:
        """`rows` from `SQLiteBackend._SELECT`, in rowid order; new collections and documents get the next
        codes in `collections` and `doc_ids` (changed in place)."""
        n = len(rows)
        matrix = (
            np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(n, dim)
            if rows
            else np.zeros((0, dim), dtype=np.float32)
        )
        term_ids = [np.frombuffer(r[6], dtype=np.int32) for r in rows]
        per_row = np.fromiter((len(t) for t in term_ids), np.int64, n)
        terms = np.concatenate(term_ids) if rows else np.zeros(0, dtype=np.int32)
        return cls(
            rowids=np.fromiter((r[0] for r in rows), np.int64, n),
            matrix=matrix,
            collection_codes=np.fromiter(
                (collections.setdefault(str(r[2]), len(collections)) for r in rows), np.int32, n
            ),
            collections=collections,
            doc_codes=np.fromiter((doc_ids.setdefault(str(r[1]), len(doc_ids)) for r in rows), np.int32, n),
            doc_ids=doc_ids,
            updated_at=np.array([r[3] for r in rows], dtype=np.str_),
            lengths=np.fromiter((r[5] for r in rows), np.float32, n),
            terms=terms,
            counts=(
                np.concatenate([np.frombuffer(r[7], dtype=np.int32) for r in rows])
                if rows
                else np.zeros(0, dtype=np.int32)
            ),
            row_of=np.repeat(np.arange(n, dtype=np.int32), per_row),
        )


def _to_meta(chunk: Chunk) -> str:
    return json.dumps(
        {
            "chunk_id": chunk.chunk_id,
            "doc_id": chunk.doc_id,
            "title": chunk.title,
            "heading_path": list(chunk.heading_path),
            "text": chunk.text,
            "source": chunk.source,
            "collection": chunk.collection,
            "language": chunk.language,
            "ordinal": chunk.ordinal,
            "updated_at": chunk.updated_at.isoformat() if chunk.updated_at else None,
            "url": chunk.url,
        }
    )


def _from_meta(raw: str) -> Chunk:
    d = json.loads(raw)
    return Chunk(
        chunk_id=d["chunk_id"],
        doc_id=d["doc_id"],
        title=d["title"],
        heading_path=tuple(d["heading_path"]),
        text=d["text"],
        source=d["source"],
        collection=d["collection"],
        language=d["language"],
        ordinal=d["ordinal"],
        updated_at=datetime.fromisoformat(d["updated_at"]) if d["updated_at"] else None,
        url=d["url"],
    )


def stored_dim(path: Path) -> int | None:
    """The vector size an existing index file holds (None: no index there yet)."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM info WHERE key='dim'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return int(row[0]) if row else None


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, path: Path, *, dim: int, shape: IndexShape | None = None) -> None:
        """`shape`: the settings the index must have been built with (stored on first use); None opens
        it whatever its shape, as `bron reindex` does to read it."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailableError(
                f"cannot open the search index at {path} ({exc}); check BRON_DATA_DIR is writable"
            ) from exc
        stored = self._db.execute("SELECT value FROM info WHERE key='dim'").fetchone()
        if stored and int(stored[0]) != dim:
            raise IndexShapeError(f"at {path}", [f"dim: index {stored[0]}, settings {dim}"])
        self._db.execute("INSERT OR IGNORE INTO info VALUES ('dim', ?)", (str(dim),))
        self._db.commit()
        self.dim = dim
        self._lock = threading.RLock()
        self._term_ids: dict[str, int] = {}
        self._snapshot: _Snapshot | None = None
        self._snapshot_version = -1
        # this process's writes since the snapshot: rowids gone from it, rowids written (merged at the next
        # search); `_writing` collects one transaction's in `_txn_*` and keeps them only if it commits
        self._gone: set[int] = set()
        self._added: set[int] = set()
        self._txn_gone: set[int] = set()
        self._txn_added: set[int] = set()
        self._reanalyze_if_stale()
        self.path = path
        self._mismatch: IndexShapeError | None = None
        if shape is not None:
            self._check_shape(shape)

    def stored_shape(self) -> IndexShape | None:
        row = self._db.execute("SELECT value FROM info WHERE key='shape'").fetchone()
        return IndexShape.from_json(row[0]) if row else None

    def _check_shape(self, shape: IndexShape) -> None:
        """Record `shape` on a new index (or one from before shapes were stored); remember a mismatch,
        so every read and write refuses with the way out. The analysis is not compared: this engine
        remakes its BM25 terms itself when it changes (`_reanalyze_if_stale`)."""
        stored = self.stored_shape()
        if stored is None:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO info VALUES ('shape', ?)", (shape.to_json(),))
            return
        differences = stored.differences(shape, ignore=("analysis",))
        if differences:
            self._mismatch = IndexShapeError(f"at {self.path}", differences)

    def _usable(self) -> None:
        if self._mismatch is not None:
            raise self._mismatch

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        with self._lock:
            rows = self._db.execute("SELECT meta FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
        return sorted((_from_meta(r[0]) for r in rows), key=lambda c: c.ordinal)

    def _reanalyze_if_stale(self) -> None:
        """Remake the stored terms when they were made by another analysis or kept in another form.

        Queries would not meet terms from a changed analysis, so the terms are remade from the stored
        chunks (no re-embedding) in one transaction; an FTS5 table from before version 3 is dropped.
        """
        stored = self._db.execute("SELECT value FROM info WHERE key='analysis'").fetchone()
        if stored and stored[0] == ANALYSIS_VERSION:
            return
        with self._lock, self._writing():
            self._db.execute("DROP TABLE IF EXISTS chunk_terms")
            self._db.execute("DELETE FROM postings")
            for rowid, meta in self._db.execute("SELECT rowid, meta FROM chunks").fetchall():
                self._store_terms(rowid, _terms(_from_meta(meta)))
            self._db.execute("INSERT OR REPLACE INTO info VALUES ('analysis', ?)", (ANALYSIS_VERSION,))

    @contextmanager
    def batched(self) -> Iterator[list[tuple[str, str]]]:
        """Nothing to buffer: each replacement is one local transaction, visible at once, never refused."""
        yield []

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction; if it rolls back, so do the vocabulary ids it made, so they are forgotten."""
        self._txn_gone, self._txn_added = set(), set()
        try:
            with self._db:
                yield
        except BaseException:
            self._term_ids.clear()
            raise
        self._gone |= self._txn_gone
        self._added |= self._txn_added

    def _ids_of(self, terms: Sequence[str]) -> list[int]:
        """Vocabulary ids, adding new terms; ids never change, so they are remembered."""
        new = [t for t in terms if t not in self._term_ids]
        for i in range(0, len(new), 500):
            part = new[i : i + 500]
            self._db.executemany("INSERT OR IGNORE INTO terms (term) VALUES (?)", [(t,) for t in part])
            marks = ",".join("?" * len(part))
            self._term_ids.update(
                (term, tid)
                for tid, term in self._db.execute(f"SELECT id, term FROM terms WHERE term IN ({marks})", part)
            )
        return [self._term_ids[t] for t in terms]

    def _store_terms(self, rowid: int, terms: list[str]) -> None:
        counts = Counter(terms)
        self._db.execute(
            "INSERT OR REPLACE INTO postings (rowid, length, term_ids, counts) VALUES (?, ?, ?, ?)",
            (
                rowid,
                len(terms),
                np.asarray(self._ids_of(list(counts)), dtype=np.int32).tobytes(),
                np.asarray(list(counts.values()), dtype=np.int32).tobytes(),
            ),
        )

    def replace_document(
        self, doc_id: str, content_hash: str, chunks: Sequence[Chunk], vectors: Vectors
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self._usable()
        with self._lock, self._writing():
            self._delete(doc_id)
            for chunk, vector in zip(chunks, vectors, strict=True):
                cur = self._db.execute(
                    "INSERT INTO chunks (chunk_id, doc_id, meta, collection, updated_at, vector)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        chunk.chunk_id,
                        doc_id,
                        _to_meta(chunk),
                        chunk.collection,
                        chunk.updated_at.isoformat() if chunk.updated_at else None,
                        np.asarray(vector, dtype=np.float32).tobytes(),
                    ),
                )
                assert cur.lastrowid is not None
                self._txn_added.add(cur.lastrowid)
                self._store_terms(cur.lastrowid, _terms(chunk))
            self._db.execute("INSERT OR REPLACE INTO documents VALUES (?, ?)", (doc_id, content_hash))

    def _delete(self, doc_id: str) -> None:
        self._txn_gone.update(
            r[0] for r in self._db.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))
        )
        self._db.execute(
            "DELETE FROM postings WHERE rowid IN (SELECT rowid FROM chunks WHERE doc_id = ?)", (doc_id,)
        )
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    def delete_document(self, doc_id: str) -> None:
        self._usable()
        with self._lock, self._writing():
            self._delete(doc_id)

    def document_hashes(self) -> dict[str, str]:
        self._usable()
        with self._lock:
            return dict(self._db.execute("SELECT doc_id, content_hash FROM documents").fetchall())

    def _current(self) -> _Snapshot:
        """The snapshot: this process's writes merged in, or reloaded after anyone else's (`data_version`)."""
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        old = self._snapshot
        if old is None or version != self._snapshot_version:
            self._snapshot = self._load()
        elif self._gone or self._added:
            self._snapshot = self._merged(old, self._gone, self._added)
        self._snapshot_version = version
        self._gone, self._added = set(), set()
        assert self._snapshot is not None
        return self._snapshot

    _SELECT = (
        "SELECT c.rowid, c.doc_id, c.collection, coalesce(c.updated_at, ''), c.vector, p.length,"
        " p.term_ids, p.counts FROM chunks c JOIN postings p ON p.rowid = c.rowid"
    )

    def _load(self) -> _Snapshot:
        rows = self._db.execute(self._SELECT + " ORDER BY c.rowid").fetchall()
        vocabulary = dict(self._db.execute("SELECT term, id FROM terms").fetchall())
        return self._build(_Rows.read(rows, self.dim, {}, {}), vocabulary)

    def _merged(self, old: _Snapshot, gone: set[int], added: set[int]) -> _Snapshot:
        """`old` less the rows in `gone`, plus the rows in `added` as they are stored now, exactly as
        `_load` would build it, reading only the written rows (and the terms they brought).

        SQLite gives a new row the largest rowid plus one, so the written rows all come after the kept
        ones: rows stay in rowid order by appending, and the kept postings stay in (term, row) order;
        the few new postings are sorted and inserted where they belong. Should that ever not hold, the
        snapshot is reloaded instead."""
        fetched: list[tuple[Any, ...]] = []
        wanted = sorted(added)
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            fetched += self._db.execute(f"{self._SELECT} WHERE c.rowid IN ({marks})", part).fetchall()
        new = _Rows.read(sorted(fetched, key=lambda r: int(r[0])), self.dim,
                         dict(old.collections), dict(old.doc_ids))  # fmt: skip
        keep = ~np.isin(old.rowids, np.fromiter(gone, np.int64, len(gone)))
        rowids = np.concatenate([old.rowids[keep], new.rowids])
        if not bool(np.all(rowids[1:] > rowids[:-1])):
            return self._load()
        n_kept = int(keep.sum())
        postings = keep[old.rows]
        old_terms, old_rows = old.terms[postings], (np.cumsum(keep, dtype=np.int32) - 1)[old.rows[postings]]
        new_rows = new.row_of + np.int32(n_kept)
        n = max(len(rowids), 1)
        new_key = new.terms.astype(np.int64) * n + new_rows
        by_key = np.argsort(new_key, kind="stable")
        at = np.searchsorted(old_terms.astype(np.int64) * n + old_rows, new_key[by_key])
        last = max(old.vocabulary.values(), default=-1)
        vocabulary = dict(old.vocabulary)
        vocabulary.update(self._db.execute("SELECT term, id FROM terms WHERE id > ?", (last,)).fetchall())
        merged = _Rows(
            rowids=rowids,
            matrix=np.concatenate([old.matrix[keep], new.matrix]),
            collection_codes=np.concatenate([old.collection_codes[keep], new.collection_codes]),
            collections=new.collections,
            doc_codes=np.concatenate([old.doc_codes[keep], new.doc_codes]),
            doc_ids=new.doc_ids,
            updated_at=np.concatenate([old.updated_at[keep], new.updated_at]),
            lengths=np.concatenate([old.lengths[keep], new.lengths]),
            terms=np.insert(old_terms, at, new.terms[by_key]),
            counts=np.insert(old.tf[postings], at, new.counts[by_key]),
            row_of=np.insert(old_rows, at, new_rows[by_key]),
        )
        return self._build(merged, vocabulary, term_major=True)

    def _build(self, r: _Rows, vocabulary: dict[str, int], *, term_major: bool = False) -> _Snapshot:
        """Term-major postings and BM25 impacts over rows in rowid order; postings of one term by row.
        `term_major`: `r`'s postings are in that order already."""
        n = len(r.rowids)
        size = max(max(vocabulary.values(), default=0), int(r.terms.max()) if len(r.terms) else 0) + 1
        terms, counts, row_of = r.terms, r.counts, r.row_of
        if not term_major:  # numpy sorts 16-bit keys by radix (linear), wider ones by comparison
            narrow = size <= 1 << 16
            order = np.argsort(terms.astype(np.uint16) if narrow else terms, kind="stable")
            terms, counts, row_of = terms[order], counts[order], row_of[order]
        term_starts = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=size), out=term_starts[1:])
        tf = counts.astype(np.float32, copy=False)
        row_sorted = row_of.astype(np.int32, copy=False)
        norm = np.float32(K1) * (
            1 - B + B * r.lengths[row_sorted] / max(float(r.lengths.mean()) if n else 1.0, 1e-9)
        )
        return _Snapshot(
            **r.columns(),
            vocabulary=vocabulary,
            term_starts=term_starts,
            rows=row_sorted,
            impacts=(tf * np.float32(K1 + 1) / (tf + norm)).astype(np.float32),
            terms=terms.astype(np.int32, copy=False),
            tf=tf,
        )

    def _top(self, snapshot: _Snapshot, scores: npt.NDArray[np.float64], k: int) -> list[ScoredChunk]:
        """The k best rows with a finite score, best first (ties by rowid), as chunks."""
        candidates = np.flatnonzero(np.isfinite(scores))
        if len(candidates) == 0 or k <= 0:
            return []
        if len(candidates) > k:  # keep every row tied with the k-th, so the tie-break below decides
            kth = np.partition(-scores[candidates], k - 1)[k - 1]
            candidates = candidates[-scores[candidates] <= kth]
        candidates = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        rowids = [int(snapshot.rowids[i]) for i in candidates]
        metas = self._metas(rowids)
        return [
            ScoredChunk(chunk=metas[r], score=float(scores[i]))
            for r, i in zip(rowids, candidates, strict=True)
            if r in metas
        ]

    def search_bm25(self, query: str, *, k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        self._usable()
        terms = analyze_query(query)
        if not terms:
            return []
        with self._lock:
            snapshot = self._current()
            scores = snapshot.bm25(terms)
            scores[scores <= 0] = -np.inf
            mask = snapshot.mask(filters)
            if mask is not None:
                scores[~mask] = -np.inf
            return self._top(snapshot, scores, k)

    def search_dense(
        self, vector: Vectors, *, k: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        self._usable()
        with self._lock:
            snapshot = self._current()
            if len(snapshot.rowids) == 0:
                return []
            scores = (snapshot.matrix @ np.asarray(vector, dtype=np.float32).reshape(self.dim)).astype(
                np.float64
            )
            mask = snapshot.mask(filters)
            if mask is not None:
                scores[~mask] = -np.inf
            return self._top(snapshot, scores, k)

    def vectors(self) -> Vectors:
        """The stored vectors as the search holds them (read-only), e.g. to time a bare matrix product."""
        with self._lock:
            return self._current().matrix

    def _metas(self, rowids: list[int]) -> dict[int, Chunk]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self._db.execute(f"SELECT rowid, meta FROM chunks WHERE rowid IN ({marks})", rowids).fetchall()
        return {r[0]: _from_meta(r[1]) for r in rows}

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT chunk_id, meta FROM chunks WHERE chunk_id IN ({marks})", list(chunk_ids)
            ).fetchall()
        by_id = {cid: _from_meta(meta) for cid, meta in rows}
        return [by_id[c] for c in chunk_ids if c in by_id]

    def check_shape(self) -> None:
        self._usable()

    def count_chunks(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
