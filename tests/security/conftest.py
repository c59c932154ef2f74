"""Helpers for the leak tests: a data dir per test, the real CLI, what the real index serves to whom, and
the feedback store on SQLite and on PostgreSQL (a fresh database per test, dropped afterwards)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from feedback.migrate import upgrade
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import SearchFilters
from tests.unit.feedback.postgres import fresh_database, server_url

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / ".bron"
    monkeypatch.setenv("BRON_DATA_DIR", str(folder))
    monkeypatch.delenv("BRON_CORPUS", raising=False)
    monkeypatch.chdir(tmp_path)
    return folder


def bron(*args: str) -> Result:
    """One `bron` command in-process, as a user types it."""
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def said(result: Result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def bron_run_restart(corpus: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`bron run` in a fresh process (a restart): its start-up sync, then the local chat closed at once."""
    env = {**os.environ, "BRON_CORPUS": corpus, "BRON_SERVING__LLM_BASE_URL": "http://127.0.0.1:9/v1",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    env.pop("SLACK_BOT_TOKEN", None)
    env.pop("SLACK_APP_TOKEN", None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "bron"), "run"], input="", capture_output=True, text=True, env=env,
        cwd=cwd, timeout=300, check=True,
    )  # fmt: skip


def served(data_dir: Path, collections: tuple[str, ...] | None) -> dict[str, str]:
    """Every chunk a search limited to `collections` can reach: source path → collection."""
    backend = SQLiteBackend(data_dir / "index.sqlite", dim=384)
    try:
        filters = SearchFilters(collections=collections) if collections is not None else None
        hits = backend.search_dense(np.ones((1, 384), np.float32)[0], k=10_000, filters=filters)
        return {h.chunk.source: h.chunk.collection for h in hits}
    finally:
        backend.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bron.db'}"
        upgrade(url)
        yield url
        return
    with fresh_database(server_url()) as url:
        upgrade(url)
        yield url
