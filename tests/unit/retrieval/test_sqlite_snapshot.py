"""The embedded engine merges this process's writes into its search snapshot in place.

Before, every write dropped the snapshot and the next search reloaded every chunk from SQLite (12.5 s at
100,000 chunks on the loaded 2-core machine) although a sync had changed a handful. The merged snapshot
must be exactly the one a reload builds, with rowids reused, collections and terms new, and documents
deleted; another process's write still reloads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk, SearchFilters
from tests.contract.test_search_backend import DIM, JUN, make_chunk, unit_vectors

TEXTS = [
    "Medewerkers krijgen vijfentwintig vakantiedagen per jaar.",
    "Reiskosten declareer je binnen dertig dagen.",
    "Employees may work from home two days a week.",
    "The laptop is replaced every four years.",
    "Parkeren in de garage kan vanaf zeven uur.",
]


def _doc(doc_id: str, texts: list[str], seed: int, **kw: object) -> tuple[list[Chunk], np.ndarray]:
    return [make_chunk(doc_id, i, t, **kw) for i, t in enumerate(texts)], unit_vectors(len(texts), seed)


def _same(merged: SQLiteBackend, fresh: SQLiteBackend) -> None:
    a, b = merged._current(), fresh._current()
    for field in ("rowids", "matrix", "updated_at", "term_starts", "rows", "terms", "tf", "lengths"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    np.testing.assert_allclose(a.impacts, b.impacts, rtol=1e-6)
    assert a.vocabulary == b.vocabulary
    for query in ("vakantiedagen", "laptop replaced", "garage parkeren", "thuiswerken home", "nieuw beleid"):
        for filters in (
            None,
            SearchFilters(collections=["hr"]),
            SearchFilters(updated_after=JUN.replace(month=3)),
        ):
            assert [
                (h.chunk.chunk_id, round(h.score, 5))
                for h in merged.search_bm25(query, k=10, filters=filters)
            ] == [
                (h.chunk.chunk_id, round(h.score, 5)) for h in fresh.search_bm25(query, k=10, filters=filters)
            ]
    vector = unit_vectors(1, 99)
    assert [h.chunk.chunk_id for h in merged.search_dense(vector, k=10)] == [
        h.chunk.chunk_id for h in fresh.search_dense(vector, k=10)
    ]


def test_writes_are_merged_into_the_snapshot_as_a_reload_would_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "index.sqlite"
    backend = SQLiteBackend(path, dim=DIM)
    for n, doc in enumerate(("a", "b", "c")):
        chunks, vectors = _doc(doc, TEXTS[n : n + 3], seed=n)
        backend.replace_document(doc, f"h{n}", chunks, vectors)
    assert backend.search_bm25("vakantiedagen", k=3)  # the snapshot is loaded

    loads = 0
    load = backend._load

    def counted() -> object:
        nonlocal loads
        loads += 1
        return load()

    monkeypatch.setattr(backend, "_load", counted)
    chunks, vectors = _doc("c", ["Nieuw beleid: thuiswerken drie dagen per week."], seed=7)
    backend.replace_document("c", "h3", chunks, vectors)  # the last rowids go and may come back
    backend.delete_document("a")
    chunks, vectors = _doc("d", ["Het HR-beleid over ouderschapsverlof.", TEXTS[4]], seed=8,
                           collection="hr", updated_at=JUN)  # fmt: skip
    backend.replace_document("d", "h4", chunks, vectors)
    assert [h.chunk.doc_id for h in backend.search_bm25("ouderschapsverlof", k=3)] == ["d"]
    assert backend.search_bm25("vijfentwintig", k=3) == []  # document a is gone
    assert loads == 0

    fresh = SQLiteBackend(path, dim=DIM)
    try:
        _same(backend, fresh)
    finally:
        fresh.close()
    backend.close()


def test_another_process_write_still_reloads(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    reader, writer = SQLiteBackend(path, dim=DIM), SQLiteBackend(path, dim=DIM)
    chunks, vectors = _doc("a", TEXTS[:2], seed=1)
    writer.replace_document("a", "h1", chunks, vectors)
    assert reader.search_bm25("reiskosten", k=3)
    chunks, vectors = _doc("b", ["De garage opent om zeven uur."], seed=2)
    writer.replace_document("b", "h2", chunks, vectors)
    reader.delete_document("a")  # a write of its own as well: the reload must still see b
    assert [h.chunk.doc_id for h in reader.search_bm25("garage", k=3)] == ["b"]
    assert reader.search_bm25("reiskosten", k=3) == []
    writer.close()
    reader.close()
