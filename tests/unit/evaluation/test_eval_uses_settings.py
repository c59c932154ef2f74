"""`bron eval retrieval` measures what `bron ask` runs: one settings object, one builder, the same
embedder, chunking and fusion; a flag that departs from the settings is printed and recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bot.runtime
import evaluation.retrieval
import retrieval.ingest
from bot.cli import app
from retrieval.backend import SearchBackend
from retrieval.embedding import Embedder
from retrieval.hybrid import HybridRetriever

LONG = " ".join(f"Sentence {i} about the pension scheme and its yearly contribution." for i in range(30))


def _beir(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    docs = {
        "d1": ("Pension", LONG),
        "d2": ("Vacation", "Employees get 25 vacation days a year, 27 from age 55."),
        "d3": ("Passwords", "Passwords must be at least 14 characters long."),
    }
    with (folder / "corpus.jsonl").open("w") as fh:
        for doc_id, (title, text) in docs.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as fh:
        fh.write(json.dumps({"_id": "q1", "text": "How many vacation days do I get?"}) + "\n")
        fh.write(json.dumps({"_id": "q2", "text": "How long must a password be?"}) + "\n")
    (folder / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td3\t1\n")
    return {
        "corpus": folder / "corpus.jsonl",
        "queries": folder / "queries.jsonl",
        "qrels": folder / "test.tsv",
    }


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """Record each retriever the builder makes and each chunking call, in ingest and in the benchmark."""
    retrievers: list[tuple[Any, ...]] = []
    chunkings: list[tuple[int, int]] = []
    build = bot.runtime.build_retriever

    def recording_build(settings: Any, backend: SearchBackend, embedder: Embedder) -> HybridRetriever:
        made = build(settings, backend, embedder)
        retrievers.append((made.fusion, type(embedder), embedder.name, embedder.dim, type(backend)))
        return made

    def recording_chunker(module: Any) -> Callable[..., Any]:
        chunk = module.chunk_document

        def chunk_document(doc: Any, *, max_words: int, overlap_words: int) -> Any:
            chunkings.append((max_words, overlap_words))
            return chunk(doc, max_words=max_words, overlap_words=overlap_words)

        return chunk_document

    monkeypatch.setattr(bot.runtime, "build_retriever", recording_build)
    for module in (retrieval.ingest, evaluation.retrieval):
        monkeypatch.setattr(module, "chunk_document", recording_chunker(module))
    return retrievers, chunkings


def test_eval_retrieval_and_ask_build_the_same_retriever(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _beir(tmp_path / "beir")
    handbook = tmp_path / "handbook"
    handbook.mkdir()
    (handbook / "pension.md").write_text(f"# Pension\n\n{LONG}\n")
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "BRON_DATA_DIR": str(tmp_path / "data"),
        "BRON_CORPUS": json.dumps([str(handbook)]),
        "BRON_RETRIEVAL__CHUNK_WORDS": "40",
        "BRON_RETRIEVAL__CHUNK_OVERLAP_WORDS": "5",
        "BRON_RETRIEVAL__RRF_RANK_CONSTANT": "23",
        "BRON_SERVING__LLM_BASE_URL": "http://127.0.0.1:9/v1",  # never reached: the question is declined
        "BRON_SERVING__MIN_DENSE_SCORE": "0.999",
    }.items():
        monkeypatch.setenv(name, value)
    retrievers, chunkings = _spy(monkeypatch)
    runner = CliRunner()

    out = tmp_path / "retrieval.json"
    args = ["eval", "retrieval", *(f"--{k}={v}" for k, v in data.items()), f"--work-dir={tmp_path / 'bench'}"]
    evaluated = runner.invoke(app, [*args, f"--out={out}"])
    assert evaluated.exit_code == 0, evaluated.output
    eval_chunkings = list(chunkings)
    asked = runner.invoke(app, ["ask", "What is the capital of Peru?"])
    assert asked.exit_code == 0, asked.output

    assert len(retrievers) == 2 and retrievers[0] == retrievers[1]
    assert retrievers[0][0].rank_constant == 23
    assert eval_chunkings and chunkings[len(eval_chunkings) :]  # both chunked something
    assert set(chunkings) == {(40, 5)}
    report = json.loads(out.read_text())
    assert report["fusion"]["rank_constant"] == 23
    assert report["chunking"] == {"words": 40, "overlap": 5}
    assert report["settings_changed"]["retrieval.chunk_words"] == {"value": 40, "default": 180}
    assert "retrieval.chunk_words=40 (default 180)" in evaluated.output

    chunkings.clear()
    flagged = runner.invoke(app, [*args, "--chunk-words=60"])
    assert flagged.exit_code == 0, flagged.output
    assert "retrieval.chunk_words=60 (default 180)" in flagged.output
    assert set(chunkings) == {(60, 5)}
