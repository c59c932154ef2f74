"""A real Bron on the embedded defaults: the sample handbook in the SQLite engine, e5 embeddings, the
local llama.cpp server with the packaged model, and the SQL log. Started once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from retrieval.ingest import ingest_paths

HANDBOOK = Path(__file__).resolve().parents[2] / "retrieval" / "sample_handbook"
MODEL_CACHE = Path(os.environ.get("BRON_TEST_MODEL_DIR", Path.home() / ".cache" / "bron-test"))


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings as a fresh install has them, with the model assembled once into a shared cache."""
    from serving.model_files import default_model_path

    model = default_model_path(MODEL_CACHE)
    serving = {"temperature": 0.0, "local": {"model_path": model}}
    return Settings(data_dir=data_dir, serving=serving, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def bron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    settings = embedded_settings(tmp_path_factory.mktemp("bron"))
    with open_runtime(settings) as runtime:
        report = ingest_paths([HANDBOOK], backend=runtime.backend, embedder=runtime.embedder)
        assert not report.failed, report.failed
        yield runtime
