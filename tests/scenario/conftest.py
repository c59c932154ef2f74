"""One real pipeline for the Slack scenarios: sample handbook indexed once, the local LLM started once.

The llama.cpp server starts in about a second and answers in about five on one thread, so every
scenario that needs a real answer shares it; scenarios that only need routing or an outage use a
runtime whose LLM points at a closed port.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from feedback.settings import StoreSettings
from retrieval.ingest import ingest_paths
from serving.llm import LLMClient
from serving.local_server import LocalLLMServer
from serving.model_files import default_model_path
from serving.settings import ServingSettings
from tests.scenario.harness import HANDBOOK_FILES, REVIEWER, SAMPLE_HANDBOOK, dead_port


def _cache_dir() -> Path:
    return Path(os.environ.get("BRON_TEST_CACHE", Path.home() / ".cache" / "bron-test"))


@pytest.fixture(scope="session")
def llm_base_url() -> Iterator[str]:
    model = default_model_path(_cache_dir())  # assembled and hash-checked once per machine
    with LocalLLMServer.from_settings(model) as server:
        yield server.base_url


@pytest.fixture(scope="session")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs") / "handbook"
    folder.mkdir()
    for name in HANDBOOK_FILES:
        shutil.copy(SAMPLE_HANDBOOK / name, folder / name)
    return folder


def _settings(data_dir: Path, llm_base_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        serving=ServingSettings(
            llm_base_url=llm_base_url, max_retries=0, max_tokens=160, request_timeout_s=60
        ),
        store=StoreSettings(reviewers=[REVIEWER]),
    )


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory, handbook: Path) -> Path:
    """A data dir with the handbook indexed (no LLM needed), reused by every runtime."""
    data_dir = tmp_path_factory.mktemp("bron")
    with open_runtime(_settings(data_dir, "http://127.0.0.1:9/v1"), with_llm=False) as runtime:
        ingest_paths([handbook], backend=runtime.backend, embedder=runtime.embedder)
    return data_dir


@pytest.fixture(scope="session")
def runtime(indexed: Path, llm_base_url: str) -> Iterator[Runtime]:
    with open_runtime(_settings(indexed, llm_base_url)) as running:
        yield running


@pytest.fixture(scope="session")
def offline_runtime(indexed: Path) -> Iterator[Runtime]:
    """Real index and store, but the LLM at a closed port: every question meets an LLM outage."""
    with open_runtime(_settings(indexed, "http://127.0.0.1:9/v1"), with_llm=False) as running:
        llm = LLMClient.from_settings(base_url=f"http://127.0.0.1:{dead_port()}/v1", max_retries=0)
        yield replace(running, llm=llm)
