"""The review commands as the lead mounts them: `bron flags ...`, `bron export ...`, `bron purge`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from bot.review.cli import export_eval, export_sft, flags_app, purge
from feedback.migrate import upgrade
from feedback.models import Interaction
from feedback.store import FeedbackStore
from tests.unit.feedback.records import backdate, seed_review_queue


def bron() -> typer.Typer:
    """The same mounting bot/cli.py does."""
    app = typer.Typer()
    app.add_typer(flags_app, name="flags")
    export_app = typer.Typer()
    export_app.command("eval")(export_eval)
    export_app.command("sft")(export_sft)
    app.add_typer(export_app, name="export")
    app.command("purge")(purge)
    return app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BRON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BRON_STORE__URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def test_list_show_resolve_export_purge(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{(data_dir / 'bron.db').resolve()}"
    upgrade(url)
    store = FeedbackStore(url)
    flags = seed_review_queue(store, now=datetime.now(UTC))
    runner = CliRunner()
    app = bron()

    listed = runner.invoke(app, ["flags", "list"])
    assert listed.exit_code == 0, listed.output
    assert all(f"#{i}" in listed.output for i in flags.values())

    shown = runner.invoke(app, ["flags", "show", str(flags["verlof"])])
    assert shown.exit_code == 0 and "unsupported" in shown.output and "hr/verlof.md" in shown.output

    resolved = runner.invoke(app, ["flags", "resolve", str(flags["verlof"]), "--verdict", "hallucination",
                                   "--corrected-answer", "Je hebt 25 vakantiedagen [1].", "--reviewer", "alice"])  # fmt: skip
    assert resolved.exit_code == 0, resolved.output
    bad = runner.invoke(app, ["flags", "resolve", str(flags["taxi"]), "--verdict", "maybe"])
    assert bad.exit_code == 1 and "verdict must be one of" in bad.output
    missing = runner.invoke(app, ["flags", "show", "9999"])
    assert missing.exit_code == 1 and "no flag with id 9999" in missing.output

    out = tmp_path / "reg.jsonl"
    exported = runner.invoke(app, ["export", "eval", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert [json.loads(x)["expected_answer"] for x in out.read_text().splitlines()] == [
        "Je hebt 25 vakantiedagen [1]."
    ]

    backdate(store, next(iter(_interaction_ids(store))), datetime.now(UTC) - timedelta(days=100))
    dry = runner.invoke(app, ["purge", "--older-than", "90d", "--dry-run"])
    assert dry.exit_code == 0 and json.loads(dry.stdout.splitlines()[0])["interactions"] == 1
    done = runner.invoke(app, ["purge", "--older-than", "90d"])
    assert json.loads(done.stdout.splitlines()[0])["interactions"] == 1
    assert len(_interaction_ids(store)) == 3
    assert runner.invoke(app, ["purge"]).exit_code == 1  # no age and no retention_days: say so
    store.close()


def _interaction_ids(store: FeedbackStore) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(Interaction.id).order_by(Interaction.created_at)))
