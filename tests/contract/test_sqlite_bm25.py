"""The embedded engine's in-memory BM25 scores as SQLite FTS5's bm25() does, and sees every write.

FTS5 is the reference: the same terms (each written as one opaque token, so FTS5's tokenizer cannot split
them differently) go into an FTS5 table, and both rank the handbook questions identically, score for score.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from retrieval.analysis import analyze_query, index_terms
from retrieval.chunking import embedding_text
from retrieval.embedding import Vectors
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.ingest import ingest_paths
from retrieval.settings import RetrievalSettings
from retrieval.sqlite_backend import SQLiteBackend, _from_meta
from retrieval.types import Chunk, SearchFilters

ROOT = Path(__file__).parents[2]
DIM = 8


class ConstantEmbedder:
    name = "constant"
    dim = DIM

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), DIM), dtype=np.float32) / np.sqrt(DIM)

    def embed_query(self, text: str) -> Vectors:
        return np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SQLiteBackend, Path]]:
    path = tmp_path_factory.mktemp("bm25") / "index.sqlite"
    backend = SQLiteBackend(path, dim=DIM)
    ingest_paths([ROOT / "retrieval" / "sample_handbook"], backend=backend, embedder=ConstantEmbedder())
    yield backend, path
    backend.close()


def test_scores_equal_fts5_bm25_on_the_handbook_questions(handbook: tuple[SQLiteBackend, Path]) -> None:
    backend, path = handbook
    token: dict[str, str] = {}
    fts = sqlite3.connect(":memory:")
    fts.execute("CREATE VIRTUAL TABLE t USING fts5(terms)")
    chunk_of: dict[int, str] = {}
    with sqlite3.connect(path) as raw:
        for rowid, meta in raw.execute("SELECT rowid, meta FROM chunks"):
            chunk = _from_meta(meta)
            chunk_of[rowid] = chunk.chunk_id
            terms = index_terms(embedding_text(chunk), chunk.language)
            fts.execute(
                "INSERT INTO t (rowid, terms) VALUES (?, ?)",
                (rowid, " ".join(token.setdefault(x, f"t{len(token)}") for x in terms)),
            )
    assert len(chunk_of) > 40
    questions = json.loads(
        (ROOT / "retrieval" / "sample_handbook_questions.json").read_text(encoding="utf-8")
    )
    compared = 0
    for q in questions:
        known = [token[x] for x in analyze_query(q["question"]) if x in token]
        if not known:
            continue
        expected = fts.execute(
            "SELECT rowid, -bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t), rowid LIMIT 10",
            (" OR ".join(known),),
        ).fetchall()
        got = backend.search_bm25(q["question"], k=10)
        assert [h.chunk.chunk_id for h in got] == [chunk_of[r] for r, _ in expected], q["question"]
        assert [h.score for h in got] == pytest.approx([s for _, s in expected], rel=1e-5)
        compared += 1
    assert compared >= 50


def test_filters_apply_before_the_top_k(handbook: tuple[SQLiteBackend, Path]) -> None:
    backend, _ = handbook
    question = "Hoeveel vakantiedagen krijg ik per jaar?"
    everything = backend.search_bm25(question, k=100)
    public = backend.search_bm25(question, k=100, filters=SearchFilters(collections=("public",)))
    assert {h.chunk.collection for h in public} == {"public"}
    assert [h.chunk.chunk_id for h in public] == [
        h.chunk.chunk_id for h in everything if h.chunk.collection == "public"
    ]
    assert backend.search_bm25(question, k=5, filters=SearchFilters(collections=())) == []
    assert (
        backend.search_dense(ConstantEmbedder().embed_query(""), k=5, filters=SearchFilters(collections=()))
        == []
    )
    one = everything[3].chunk.doc_id
    only = backend.search_bm25(question, k=100, filters=SearchFilters(doc_ids=(one,)))
    assert only and {h.chunk.doc_id for h in only} == {one}


def chunk(text: str) -> Chunk:
    return Chunk(chunk_id=f"c-{text}", doc_id=f"d-{text}", title="", heading_path=(), text=text, source="x.md",
                 ordinal=0, language="en")  # fmt: skip


def test_a_second_process_writing_is_seen_by_the_next_search(tmp_path: Path) -> None:
    serving = SQLiteBackend(tmp_path / "index.sqlite", dim=DIM)
    ingesting = SQLiteBackend(tmp_path / "index.sqlite", dim=DIM)
    vector = ConstantEmbedder().embed_passages(["x"])
    ingesting.replace_document("d-espresso", "1", [chunk("espresso")], vector)
    assert [h.chunk.text for h in serving.search_bm25("espresso", k=5)] == ["espresso"]
    assert len(serving.search_dense(vector[0], k=5)) == 1
    ingesting.replace_document("d-ristretto", "1", [chunk("ristretto")], vector)
    ingesting.delete_document("d-espresso")
    assert serving.search_bm25("espresso", k=5) == []
    assert [h.chunk.text for h in serving.search_dense(vector[0], k=5)] == ["ristretto"]
    serving.close()
    ingesting.close()


class PointingEmbedder:
    """Puts every question next to the English page, as a good multilingual embedder would."""

    name = "pointing"
    dim = DIM

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), DIM), dtype=np.float32) / np.sqrt(DIM)

    def embed_query(self, text: str) -> Vectors:
        return np.eye(DIM, dtype=np.float32)[0]


def test_the_retriever_ranks_other_language_chunks_by_dense_by_default(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "index.sqlite", dim=DIM)
    eye = np.eye(DIM, dtype=np.float32)
    page = Chunk(chunk_id="en", doc_id="en", title="Parental leave", heading_path=(), source="en.md",
                 text="Pregnancy and maternity leave lasts at least 16 weeks.", language="en")  # fmt: skip
    backend.replace_document("en", "1", [page], eye[:1])
    for i in range(3):
        dutch = Chunk(chunk_id=f"nl{i}", doc_id=f"nl{i}", title="Verlof", heading_path=(), source=f"nl{i}.md",
                      text=f"Hoeveel weken verlof krijg je? Regel {i}.", language="nl")  # fmt: skip
        backend.replace_document(f"nl{i}", "1", [dutch], (0.6 * eye[0] + 0.8 * eye[i + 1])[None, :])
    question = "Hoeveel weken zwangerschapsverlof krijg ik?"
    settings = RetrievalSettings()
    off = FusionConfig.from_settings(settings.model_copy(update={"other_language_by_dense": False}))
    plain = HybridRetriever(backend, PointingEmbedder(), fusion=off)
    assert plain.search(question, k=4).hits[0].chunk.chunk_id != "en"
    crossed = FusionConfig.from_settings(settings)  # the default
    assert (
        HybridRetriever(backend, PointingEmbedder(), fusion=crossed)
        .search(question, k=4)
        .hits[0]
        .chunk.chunk_id
        == "en"
    )
    backend.close()
