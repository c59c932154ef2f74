"""Bad input on the command line gets a clear error, not a traceback (found by trying the CLI as a user)."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_abstention_from_a_log_needs_no_clapnq_folder(runner: CliRunner, tmp_path: Path) -> None:
    """The documented `bron eval abstention --answers-log …` reads only the log (review finding)."""
    (tmp_path / "answers.jsonl").write_text("\n")
    assert runner.invoke(app, ["eval", "abstention", "--answers-log", "answers.jsonl"]).exit_code == 0
    missing = runner.invoke(app, ["eval", "abstention"])
    assert missing.exit_code == 2 and "clapnq_dev is not a folder" in missing.output


def test_bron_sync_without_sources_says_what_to_add(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sync"])
    assert "add [sources.NAME] to bron.toml" in result.output  # rich had read it as markup and dropped it


def test_commands_do_not_narrate_the_schema_check_but_migrate_does(tmp_path: Path) -> None:
    """Every command brings the database up to date; Alembic's INFO lines were printed by each of them."""
    env = {**os.environ, "BRON_DATA_DIR": str(tmp_path / "data")}
    bron = [str(Path(sys.executable).parent / "bron")]
    export = subprocess.run([*bron, "privacy", "export", "U1"], env=env, capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    assert "alembic" not in export.stderr
    migrate = subprocess.run([*bron, "migrate"], env={**env, "BRON_DATA_DIR": str(tmp_path / "d2")},
                             capture_output=True, text=True)  # fmt: skip
    assert migrate.returncode == 0 and "Running upgrade" in migrate.stderr
