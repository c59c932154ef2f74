"""Retention really deletes: replayed answers keep their age, the spool is purged, SQLite keeps no copy.

On bcb969d a replayed spool entry got a new timestamp (restarting the retention clock), `bron purge`
left the spool and its rejected file alone, and SQLite kept the deleted text in free pages and the WAL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from feedback.models import Interaction
from feedback.settings import FlagRules
from feedback.spool import Spool, replay_spool
from feedback.store import FeedbackStore, record_interaction
from tests.security.support import bron
from tests.unit.feedback.records import verlof_record

OLD = "Een heel oude vraag over verlof die weg moet"


def _age_spool(spool: Spool, days: int) -> None:
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    lines = [json.loads(line) for line in spool.path.read_text().splitlines()]
    spool.path.write_text("".join(json.dumps({**e, "spooled_at": when}) + "\n" for e in lines))


def test_a_replayed_answer_keeps_its_age_and_is_purged_with_the_spool(store_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    spool = Spool(data / "spool.jsonl")
    spool.add_interaction(verlof_record(question=OLD, interaction_id="c" * 32))
    _age_spool(spool, 100)
    store = FeedbackStore(store_url)
    try:
        replay_spool(store, spool, rules=FlagRules())
        with store.session() as session:
            row = session.get(Interaction, "c" * 32)
            assert row is not None
            assert row.created_at.replace(tzinfo=UTC) < datetime.now(UTC) - timedelta(days=99)
    finally:
        store.close()
    spool.add_interaction(verlof_record(question="Nog in de spool", interaction_id="d" * 32))
    _age_spool(spool, 100)
    spool.rejected_path.write_text(
        json.dumps({"kind": "feedback", "spooled_at": "2020-01-01T00:00:00+00:00"}) + "\n"
    )

    result = bron(data, "purge", "--older-than", "90d", env={"BRON_STORE__URL": store_url})
    assert result.exit_code == 0, result.output
    store = FeedbackStore(store_url)
    try:
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(Interaction)) == 0
    finally:
        store.close()
    assert spool.path.read_text().strip() == "" and spool.rejected_path.read_text().strip() == ""


def test_purged_text_is_gone_from_the_sqlite_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'bron.db'}"
    bron(data, "migrate")
    store = FeedbackStore(url)
    try:
        with store.session() as session:
            old = record_interaction(session, verlof_record(question=OLD))
            old.created_at = datetime.now(UTC) - timedelta(days=200)
            record_interaction(session, verlof_record(question="Een nieuwe vraag"))
    finally:
        store.close()
    result = bron(data, "purge", "--older-than", "90d")
    assert result.exit_code == 0, result.output
    on_disk = b"".join(p.read_bytes() for p in data.glob("bron.db*"))
    assert OLD.encode() not in on_disk
    assert b"Een nieuwe vraag" in on_disk


def test_bron_run_applies_retention_on_a_schedule(store_url: str, tmp_path: Path) -> None:
    """The runtime `bron run` opens purges by itself (bcb969d only purged when someone ran `bron purge`)."""
    import time

    from bot.runtime import open_runtime
    from bot.settings import Settings
    from feedback.settings import StoreSettings

    store = FeedbackStore(store_url)
    try:
        with store.session() as session:
            old = record_interaction(session, verlof_record(question=OLD))
            old.created_at = datetime.now(UTC) - timedelta(days=200)
            record_interaction(session, verlof_record(question="Een nieuwe vraag"))
        settings = Settings(data_dir=tmp_path / "data", store=StoreSettings(
            url=store_url, retention_days=90, retention_interval_h=0.001))  # fmt: skip
        with open_runtime(settings, with_llm=False):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with store.session() as session:
                    questions = set(session.scalars(select(Interaction.question)))
                if OLD not in questions:
                    break
                time.sleep(0.2)
        assert questions == {"Een nieuwe vraag"}
    finally:
        store.close()


def test_kubernetes_runs_the_purge_on_a_schedule() -> None:
    import yaml

    path = Path(__file__).parents[2] / "deploy" / "k8s" / "jobs" / "purge-cronjob.yaml"
    [job] = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "CronJob"]
    [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["args"] == ["purge"] and job["spec"]["schedule"]
    assert "postgresql" in env["BRON_STORE__URL"]
    # the period comes from bron-config, as for the replicas (tests/deploy/test_deploy_settings.py)
    assert container["envFrom"] == [{"configMapRef": {"name": "bron-config"}}]
