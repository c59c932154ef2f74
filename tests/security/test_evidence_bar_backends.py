"""The evidence bar decides the same on every retrieval path: the embedded SQLite engine,
Elasticsearch fusing in Bron, and Elasticsearch fusing on the server with its `rrf` retriever.

With server-side RRF the hits came back without their question-chunk cosine, so no question was ever
declined there (bcb969d): the same unanswerable question was declined on one backend and sent to the
model on the other. The emulator has no `/_license`; the licence answer is stubbed so the `auto`
setting takes the server-side path as it does on a cluster whose licence allows it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch._sync.client.license import LicenseClient

from bot.runtime import open_runtime
from bot.settings import Settings
from retrieval.elasticsearch_backend import ElasticsearchBackend
from retrieval.ingest import ingest_paths
from serving.answer import answer_question
from serving.errors import GenerationError
from tests.scenario.harness import dead_port
from tests.support.noida import running_noida

pytestmark = pytest.mark.slow
CLAPNQ = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "clapnq_dev"
UNANSWERABLE, ANSWERABLE = 30, 15


def _sample() -> tuple[list[tuple[str, bool]], dict[str, str]]:
    """The first questions of each CLAPnq file by id, and every passage they come with."""
    questions: list[tuple[str, bool]] = []
    passages: dict[str, str] = {}
    for name, n, answerable in (("clapnq_dev_unanswerable.jsonl", UNANSWERABLE, False),
                                ("clapnq_dev_answerable.jsonl", ANSWERABLE, True)):  # fmt: skip
        rows = sorted(
            (json.loads(line) for line in (CLAPNQ / name).open(encoding="utf-8")), key=lambda r: r["id"]
        )
        for row in rows[:n]:
            questions.append((row["input"], answerable))
            for p in row["passages"]:
                passages[f"{len(passages):03d}.md"] = f"# {p['title']}\n\n{p['text']}\n"
    return questions, passages


@pytest.fixture(scope="module")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_noida(tmp_path_factory.mktemp("noida")) as url:
        yield url


def _declines(settings: Settings, corpus: Path, questions: list[tuple[str, bool]]) -> dict[str, bool]:
    """Per question: declined before the model (True), or sent to it (False: the dead LLM then fails)."""
    out: dict[str, bool] = {}
    with open_runtime(settings) as runtime:
        if isinstance(runtime.backend, ElasticsearchBackend):
            runtime.backend.ensure_index()
        report = ingest_paths([corpus], backend=runtime.backend, embedder=runtime.embedder)
        assert not report.failed
        assert runtime.llm is not None
        for question, _ in questions:
            try:
                answer = answer_question(
                    question, retriever=runtime.retriever, llm=runtime.llm, policy=runtime.policy
                )
                out[question] = answer.abstained and answer.model is None
            except GenerationError:
                out[question] = False
    return out


def test_declines_are_identical_on_sqlite_and_both_elasticsearch_fusions(
    es_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    questions, passages = _sample()
    corpus = tmp_path / "clapnq"
    corpus.mkdir()
    for name, text in passages.items():
        (corpus / name).write_text(text, encoding="utf-8")

    def active_licence(_self: Any, **_kw: Any) -> dict[str, Any]:
        return {"license": {"type": "enterprise", "status": "active"}}

    monkeypatch.setattr(LicenseClient, "get", active_licence)
    decisions = {}
    for name, retrieval in (
        ("sqlite", {}),
        ("es-app-side", {"backend": "elasticsearch", "elasticsearch": {"url": es_url, "server_side_rrf": "never",
                                                                       "index_prefix": f"t-{uuid.uuid4().hex[:8]}"}}),
        ("es-server-rrf", {"backend": "elasticsearch", "elasticsearch": {"url": es_url, "server_side_rrf": "auto",
                                                                         "index_prefix": f"t-{uuid.uuid4().hex[:8]}"},
                           "other_language_by_dense": False}),  # the server's rrf knows no languages
    ):  # fmt: skip
        settings = Settings(
            data_dir=tmp_path / "bron",  # one embedding cache; Elasticsearch holds its own index
            retrieval=retrieval,  # type: ignore[arg-type]
            serving={"llm_base_url": f"http://127.0.0.1:{dead_port()}/v1", "max_retries": 0},  # type: ignore[arg-type]
        )
        decisions[name] = _declines(settings, corpus, questions)
    unanswerable = [q for q, answerable in questions if not answerable]
    declined = sum(decisions["sqlite"][q] for q in unanswerable)
    assert declined > len(unanswerable) // 2  # the bar does decline most of them
    assert any(not d for d in decisions["sqlite"].values())  # some questions do reach the model
    for q, _ in questions:
        assert decisions["es-app-side"][q] == decisions["sqlite"][q], q
        assert decisions["es-server-rrf"][q] == decisions["sqlite"][q], q
