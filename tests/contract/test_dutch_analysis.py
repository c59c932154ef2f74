"""The embedded engine's Dutch BM25 terms are Elasticsearch's: token for token, on real Dutch text.

Compared against the `text.nl` field of an index made from Bron's own template (the emulator started
here, or a real cluster when BRON_TEST_ELASTICSEARCH_URL is set). The template spells out Elasticsearch's
documented `dutch` analyzer as `bron_dutch`; the emulator's built-in `dutch` lacks Lucene's four stem
overrides ("fiets", "bromfiets", "ei", "kind"), which is why the template does not rely on it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from retrieval.analysis import ES_DUTCH_OVERRIDES, analyze_query, dutch_terms, index_terms
from retrieval.es_query import build_chunks_template, chunks_index
from retrieval.sqlite_backend import ANALYSIS_VERSION, SQLiteBackend
from retrieval.types import Chunk
from tests.support.noida import running_noida

ROOT = Path(__file__).parents[2]
EDGES = (
    "Re-integratie na ziekte: mail hr@bron.nl of bel 010-1234567 vóór 09:00; 2,45 euro per dag, v1.2, "
    "café's, één, naïef, coördinator, O'Neill, fiets, fietsen, bromfiets, ei, eieren, kind, kinderen. "
    "Vakantiedagen, vakantiedag, vakantiegeld; maanden en maand; www.bron.nl/handboek"
)


def texts() -> list[str]:
    handbook = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "retrieval/sample_handbook").glob("*.md"))
    ]
    questions = json.loads((ROOT / "bench/language/short_questions.json").read_text(encoding="utf-8"))
    return [*handbook, *(q["text"] for q in questions["questions"]), EDGES]


@pytest.fixture(scope="module")
def es(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Elasticsearch, str]]:
    external = os.environ.get("BRON_TEST_ELASTICSEARCH_URL")
    server: AbstractContextManager[str] = (
        nullcontext(external) if external else running_noida(tmp_path_factory.mktemp("noida"))
    )
    with server as url:
        client = Elasticsearch(url, api_key=os.environ.get("BRON_TEST_ELASTICSEARCH_API_KEY"))
        prefix = f"bron-test-{uuid.uuid4().hex[:10]}"
        client.indices.put_index_template(
            name=prefix, **build_chunks_template(prefix, dim=4, shards=1, replicas=None)
        )
        index = chunks_index(prefix, 1)
        client.indices.create(index=index)
        try:
            yield client, index
        finally:
            client.indices.delete(index=index)
            client.indices.delete_index_template(name=prefix)
            client.close()


def es_tokens(client: Elasticsearch, index: str, text: str, **how: str) -> list[str]:
    return [t["token"] for t in client.indices.analyze(index=index, text=text, **how)["tokens"]]


def test_dutch_terms_equal_the_mappings_dutch_field(es: tuple[Elasticsearch, str]) -> None:
    client, index = es
    compared = 0
    for text in texts():
        expected = es_tokens(client, index, text, field="text.nl")
        assert dutch_terms(text) == expected, text[:80]
        compared += len(expected)
    assert compared > 5000


def test_builtin_dutch_differs_at_most_by_the_stem_overrides(es: tuple[Elasticsearch, str]) -> None:
    client, index = es
    ours = dutch_terms(EDGES)
    builtin = es_tokens(client, index, EDGES, analyzer="dutch")
    assert len(ours) == len(builtin)
    assert all(a == b or a in ES_DUTCH_OVERRIDES.values() for a, b in zip(ours, builtin, strict=True))


def test_stop_words_stems_and_compounds() -> None:
    assert dutch_terms("Hoeveel vakantiedagen heb ik nog over?") == ["hoevel", "vakantiedag"]
    assert dutch_terms("vakantiedag") == dutch_terms("vakantiedagen") == dutch_terms("Vakantiedagen")
    assert dutch_terms("maanden") == dutch_terms("maand")
    assert dutch_terms("fietsen fiets kinderen kind") == ["fiets", "fiets", "kinder", "kinder"]
    assert dutch_terms("de het een en van") == []
    assert index_terms("re-integratie", "nl") == ["re", "integratie"]


def test_a_dutch_question_meets_a_dutch_chunk_and_english_words_stay_out() -> None:
    question = analyze_query("How many vakantiedagen?")
    assert "vakantiedag" in question and not {"how", "many"} & set(question)
    assert set(index_terms("Je krijgt 25 vakantiedagen per jaar.", "nl")) & set(analyze_query("vakantiedag"))


def chunk(text: str, n: int = 0) -> Chunk:
    return Chunk(
        chunk_id=f"verlof-{n}", doc_id="verlof", title="Verlof", heading_path=(), text=text,
        source="verlof.md", ordinal=n, language="nl",
    )  # fmt: skip


def test_an_index_made_by_an_older_analysis_is_reanalysed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    backend = SQLiteBackend(path, dim=4)
    vectors = np.eye(4, dtype=np.float32)[:2]
    backend.replace_document(
        "verlof", "h1", [chunk("Je krijgt 25 vakantiedagen."), chunk("Fietsen", 1)], vectors
    )
    backend.close()
    raw = sqlite3.connect(path)
    with raw:  # as version 2 left it: terms in a contentless FTS5 table, and no postings
        raw.execute("CREATE VIRTUAL TABLE chunk_terms USING fts5(terms, content='', tokenize='unicode61')")
        raw.execute(
            "INSERT INTO chunk_terms (rowid, terms) SELECT rowid, 'krijgt 25 vakantiedaag' FROM chunks"
        )
        raw.execute("DELETE FROM postings")
        raw.execute("UPDATE info SET value = '2' WHERE key = 'analysis'")
    raw.close()

    backend = SQLiteBackend(path, dim=4)
    assert [h.chunk.chunk_id for h in backend.search_bm25("vakantiedag", k=5)] == ["verlof-0"]
    assert [h.chunk.chunk_id for h in backend.search_bm25("fiets", k=5)] == ["verlof-1"]
    backend.replace_document("verlof", "h2", [chunk("Je krijgt 26 vakantiedagen.")], vectors[:1])
    assert [h.chunk.text for h in backend.search_bm25("vakantiedagen", k=5)] == [
        "Je krijgt 26 vakantiedagen."
    ]
    assert backend.search_bm25("fiets", k=5) == []
    backend.close()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT value FROM info WHERE key = 'analysis'").fetchone() == (ANALYSIS_VERSION,)
    assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'chunk_terms'").fetchone() is None
    raw.close()
