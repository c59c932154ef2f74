"""A bad setting stops the CLI with the variable's name and what to do, not a traceback."""

from __future__ import annotations

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
