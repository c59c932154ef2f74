"""A bad setting stops the CLI with the variable's name and what to do, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app


def test_a_bad_setting_is_named_and_nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRON_SERVING__SOURCE_MARGIN", "-0.1")
    monkeypatch.setenv("BRON_RETRIEVAL__BACKEND", "solr")
    result = CliRunner().invoke(app, ["ask", "How many vacation days do I get?"])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "BRON_SERVING__SOURCE_MARGIN" in result.output and "BRON_RETRIEVAL__BACKEND" in result.output
    assert "Traceback" not in result.output


def test_an_evidence_model_without_its_bar_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The e5 bar means nothing on another model's cosine scale, so the CLI asks for the model's own."""
    monkeypatch.setenv("BRON_SERVING__EVIDENCE_MODEL", str(tmp_path))
    result = CliRunner().invoke(app, ["ask", "How many vacation days do I get?"])
    assert result.exit_code == 2
    assert "BRON_SERVING__EVIDENCE_BAR" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "named"),
    [("BRON_RETRIEVAL__EMBEDDER_MODEL", "MIN_DENSE_SCORE"), ("BRON_SERVING__EVIDENCE_MODEL", "EVIDENCE_BAR")],
)
def test_a_check_across_settings_never_prints_their_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, named: str
) -> None:
    """Such a check gets all the settings it spans as its input; printing that put tokens in the log."""
    monkeypatch.setenv(variable, str(tmp_path))
    monkeypatch.setenv("BRON_SLACK__BOT_TOKEN", "xoxb-not-for-the-log")
    monkeypatch.setenv("BRON_SERVING__LLM_API_KEY", "sk-not-for-the-log")
    result = CliRunner().invoke(app, ["ask", "How many vacation days do I get?"])
    assert result.exit_code == 2
    assert named in result.output
    assert "not-for-the-log" not in result.output
