"""An index built with other chunking refuses to be searched or ingested into, naming `bron reindex`;
`bron reindex` rebuilds it from the documents it holds, on SQLite and on Elasticsearch (the noida-db
emulator), into exactly the chunks a fresh ingest with the new settings makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.runtime import build_backend, build_embedder, reindex
from bot.settings import Settings
from retrieval.ingest import ingest_paths
from retrieval.settings import ElasticsearchSettings, RetrievalSettings
from retrieval.shape import IndexShapeError
from tests.support.noida import running_noida

PARAGRAPHS = [
    " ".join(f"Rule {s}.{i}: employees record their {topic} hours in the portal each week." for i in range(6))
    for s, topic in enumerate(("overtime", "travel", "training", "on-call", "holiday", "sick-leave"))
]


def _corpus(root: Path) -> Path:
    folder = root / "handbook"
    folder.mkdir()
    body = "\n\n".join(PARAGRAPHS[:3]) + "\n\n## Claims\n\n" + "\n\n".join(PARAGRAPHS[3:])
    (folder / "hours.md").write_text(f"# Working hours\n\n{body}\n")
    (folder / "short.md").write_text("# Lockers\n\nLockers are free and open at 7:00.\n")
    return folder


def _texts(backend: object) -> set[tuple[str, tuple[str, ...], str]]:
    out = set()
    for doc_id in backend.document_hashes():  # type: ignore[attr-defined]
        out |= {(c.doc_id, c.heading_path, c.text) for c in backend.document_chunks(doc_id)}  # type: ignore[attr-defined]
    return out


def test_sqlite_refuses_other_chunking_until_reindexed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    corpus = _corpus(tmp_path)
    monkeypatch.setenv("BRON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRON_CORPUS", json.dumps([str(corpus)]))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(corpus)]).exit_code == 0

    monkeypatch.setenv("BRON_RETRIEVAL__CHUNK_WORDS", "60")
    for command in (["sources", "overtime hours"], ["ingest", str(corpus)]):
        refused = runner.invoke(app, command)
        said = " ".join(refused.output.split())  # rich wraps long lines
        assert refused.exit_code == 1, said
        assert "run `bron reindex`" in said and "chunk_words: index 180, settings 60" in said

    rebuilt = runner.invoke(app, ["reindex"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "2 documents re-indexed with chunk_words=60" in " ".join(rebuilt.output.split())
    found = runner.invoke(app, ["sources", "overtime hours"])
    assert found.exit_code == 0 and "Working hours" in found.output

    settings = Settings()
    fresh = settings.model_copy(update={"data_dir": tmp_path / "fresh"})
    embedder = build_embedder(settings)
    reindexed, direct = build_backend(settings, embedder), build_backend(fresh, build_embedder(fresh))
    try:
        ingest_paths([corpus], backend=direct, embedder=embedder, settings=fresh.retrieval)
        assert _texts(reindexed) == _texts(direct)
        assert reindexed.count_chunks() > 3  # 60-word chunks, not the 180-word ones
        assert reindexed.document_hashes() == direct.document_hashes()  # the next ingest changes nothing
    finally:
        reindexed.close()
        direct.close()


@pytest.fixture(scope="module")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_noida(tmp_path_factory.mktemp("noida")) as url:
        yield url


def _es_settings(tmp_path: Path, url: str, chunk_words: int) -> Settings:
    retrieval = RetrievalSettings(
        backend="elasticsearch",
        chunk_words=chunk_words,
        elasticsearch=ElasticsearchSettings(
            url=url, index_prefix=f"bron-reindex-{tmp_path.name[-12:].lower()}"
        ),
    )
    return Settings(data_dir=tmp_path / "data", retrieval=retrieval)


def test_elasticsearch_reindexes_into_a_new_version_behind_the_alias(es_url: str, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    before = _es_settings(tmp_path, es_url, 180)
    embedder = build_embedder(before)
    backend = build_backend(before, embedder)
    try:
        backend.ensure_index()  # type: ignore[attr-defined]
        ingest_paths([corpus], backend=backend, embedder=embedder, settings=before.retrieval)
        old_chunks = backend.count_chunks()
    finally:
        backend.close()

    after = _es_settings(tmp_path, es_url, 60)
    backend = build_backend(after, embedder)
    try:
        with pytest.raises(IndexShapeError, match=r"bron reindex.*") as refused:
            backend.search_bm25("overtime", k=3)
        assert "chunk_words: index 180, settings 60" in str(refused.value)
        with pytest.raises(IndexShapeError):
            ingest_paths([corpus], backend=backend, embedder=embedder, settings=after.retrieval)
    finally:
        backend.close()

    report = reindex(after)
    assert report.documents >= 2 and report.chunks_before == old_chunks < report.chunks_after

    backend = build_backend(after, embedder)
    try:
        assert backend.live_versions() == [2]  # type: ignore[attr-defined]
        assert backend.search_bm25("overtime", k=3)
        assert backend.count_chunks() == report.chunks_after
        unchanged = ingest_paths([corpus], backend=backend, embedder=embedder, settings=after.retrieval)
        assert unchanged.added == unchanged.updated == [] and len(unchanged.unchanged) == 2
    finally:
        backend.close()


def test_bron_starts_only_on_an_elasticsearch_index_of_its_own_shape(es_url: str, tmp_path: Path) -> None:
    """A replica with new chunking settings and no corpus of its own (production's Elasticsearch) used to
    start and fail on the first question; now it refuses at start with the way out."""
    from bot.runtime import open_runtime

    before = _es_settings(tmp_path, es_url, 180)
    embedder = build_embedder(before)
    backend = build_backend(before, embedder)
    try:
        backend.ensure_index()  # type: ignore[attr-defined]
        ingest_paths([_corpus(tmp_path)], backend=backend, embedder=embedder, settings=before.retrieval)
    finally:
        backend.close()

    with open_runtime(before, with_llm=False) as runtime:
        assert runtime.backend.count_chunks() > 0
    refused = pytest.raises(IndexShapeError, match=r"chunk_words: index 180, settings 60.*bron reindex")
    with refused, open_runtime(_es_settings(tmp_path, es_url, 60), with_llm=False):
        pass
