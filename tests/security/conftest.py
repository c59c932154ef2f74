"""The feedback store on SQLite and on PostgreSQL (a fresh database per test, dropped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from feedback.migrate import upgrade
from tests.unit.feedback.postgres import fresh_database, server_url


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
