"""A search-only query is held to the question's length limit, in the CLI and in /bron-sources.

Embedding a 100 kB query took 42 s of CPU in `bron sources`, and nothing limited the length of a
`/bron-sources` query, so one pasted document could keep a worker busy for a minute.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_bolt import App
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.runtime import Runtime
from serving.context import max_question_chars
from serving.settings import ServingSettings
from tests.fakeslack import FakeSlack, payloads
from tests.scenario.harness import build, send

LONG = "vakantiedagen " * 8_000  # 112 kB


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def test_bron_sources_refuses_an_over_long_query_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRON_DATA_DIR", str(tmp_path))
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["sources", LONG])
    limit = max_question_chars(ServingSettings().context_tokens)
    assert result.exit_code == 2 and f"at most {limit:,}" in " ".join(result.output.split())
    assert time.perf_counter() - start < 5


def test_bron_sources_in_slack_answers_too_long_in_the_askers_language(
    offline_runtime: Runtime, fake: FakeSlack
) -> None:
    app: App = build(offline_runtime, fake)
    url = fake.new_response_url()
    send(app, fake, payloads.slash_command("/bron-sources", LONG[:5_000], response_url=url))
    [reply] = fake.wait_for_response(url=url)
    assert reply.body["text"].startswith("Die vraag is te lang voor mij")
    assert reply.body["response_type"] == "ephemeral"
    fake.assert_all_calls_valid()
