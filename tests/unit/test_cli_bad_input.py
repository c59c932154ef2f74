"""Bad input on the command line gets a clear error, not a traceback (found by trying the CLI as a user)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BRON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "retrieval", "--corpus", "nope.jsonl", "--queries", "nope.jsonl", "--qrels", "nope.tsv"],
        ["eval", "answers", "--regression", "nope.jsonl"],
        ["eval", "hallucination", "--data-dir", "nope"],
        ["finetune", "train", "--base", "nope.gguf", "--data", "nope", "--out", "adapter"],
        ["finetune", "promote", "nope-adapter", "--served-dir", "served"],
    ],
)
def test_a_missing_input_file_is_named_without_a_traceback(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output
    assert "nope" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bron_sync_without_sources_says_what_to_add(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sync"])
    assert "add [sources.NAME] to bron.toml" in result.output  # rich had read it as markup and dropped it
