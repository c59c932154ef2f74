"""The terminal is a member's view too: `bron ask`, `bron sources` and `bron chat` search what every
member holds (`public` by default) unless `--collection` widens it. On bcb969d they searched every
collection, so the README's first commands showed an `hr` page to whoever sat at the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.scenario.harness import dead_port
from tests.security.conftest import bron

SECRET = "# Salarissen\n\nHet salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk.\n"
QUESTION = "Wat is het salaris van de directeur per jaar?"


@pytest.fixture
def indexed(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "salarissen.md").write_text(SECRET)
    (tmp_path / "handbook").mkdir()
    (tmp_path / "handbook" / "welkom.md").write_text("# Welkom\n\nWelkom bij de koffiebranderij.\n")
    assert bron("ingest", str(tmp_path / "hr"), "--collection", "hr").exit_code == 0
    assert bron("ingest", str(tmp_path / "handbook")).exit_code == 0
    # every question declined before the model, listing its closest sources: what the asker could reach
    monkeypatch.setenv("BRON_SERVING__MIN_DENSE_SCORE", "1.01")
    monkeypatch.setenv("BRON_SERVING__QUOTE_BAR", "")
    monkeypatch.setenv("BRON_SERVING__LLM_BASE_URL", f"http://127.0.0.1:{dead_port()}/v1")
    return data_dir


def test_bron_sources_and_ask_search_public_unless_widened(indexed: Path) -> None:
    assert "salarissen" not in bron("sources", "salaris directeur").output.lower()
    assert "salarissen" in bron("sources", "salaris directeur", "--collection", "hr").output.lower()
    asked = bron("ask", QUESTION, "--json")
    assert asked.exit_code == 0, asked.output
    assert "salarissen" not in json.dumps(json.loads(asked.output)).lower()


def test_the_local_chat_searches_public_only(indexed: Path) -> None:
    result = CliRunner().invoke(app, ["chat"], input=QUESTION + "\n/quit\n")
    assert "Welkom" in result.output and "Salarissen" not in result.output and "250000" not in result.output


def test_an_ask_context_that_names_no_collections_searches_only_public(indexed: Path) -> None:
    """Every surface builds its own AskContext; one that forgets `collections` must not search
    everything (on e37db44 None meant every collection)."""
    from bot.asking import AskContext, ask
    from bot.runtime import open_runtime
    from bot.settings import load_settings

    with open_runtime(load_settings()) as runtime:
        result = ask(runtime, QUESTION, AskContext(surface="test"))
    shown = " ".join(h.chunk.source for h in result.answer.hits)
    assert "salarissen" not in shown and "welkom" in shown
