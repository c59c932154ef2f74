"""The spool keeps answers and votes while the database is away and replays them, in order, once."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feedback.errors import StoreError
from feedback.migrate import upgrade
from feedback.models import Feedback, Flag, Interaction
from feedback.resilient import save_feedback, save_interaction
from feedback.retention import purge_older_than
from feedback.settings import FlagRules, StoreSettings
from feedback.spool import Spool, SpoolReplayer, replay_spool, spool_path
from feedback.store import FeedbackStore
from tests.unit.feedback.records import expenses_record, verlof_record

RULES = FlagRules()


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    d = tmp_path / "db"
    d.mkdir()
    upgrade(f"sqlite:///{d / 'bron.db'}")
    return d


def _count(store: FeedbackStore, model: type) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _take_away(store: FeedbackStore, db_dir: Path) -> Path:
    """The database file's folder disappears (an unmounted volume); pooled connections go with it."""
    away = db_dir.with_name("db-away")
    db_dir.rename(away)
    store.engine.dispose()
    return away


def test_spool_path_defaults_to_the_data_dir(tmp_path: Path) -> None:
    assert spool_path(StoreSettings(), tmp_path) == tmp_path / "spool.jsonl"
    assert spool_path(StoreSettings(spool_path=tmp_path / "x.jsonl"), tmp_path / "d") == tmp_path / "x.jsonl"


def test_outage_spools_then_replay_applies_once(db_dir: Path, tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{db_dir / 'bron.db'}")
    spool = Spool(tmp_path / "spool.jsonl")
    away = _take_away(store, db_dir)
    saved = save_interaction(store, verlof_record(), rules=RULES, spool=spool)
    vote = save_feedback(store, saved.interaction_id, vote="down", user="U1", rules=RULES, spool=spool,
                         reason="incorrect", comment="Die extra week bestaat niet")  # fmt: skip
    assert saved.spooled and vote.spooled and saved.flag_reasons == []
    assert spool.pending_interaction_ids() == {saved.interaction_id}

    away.rename(db_dir)
    backup = tmp_path / "spool-before-replay.jsonl"
    shutil.copy(spool.path, backup)
    report = replay_spool(store, spool, rules=RULES)
    assert (report.applied, report.rejected, report.remaining) == (2, 0, 0)
    assert not spool.has_pending()
    # a crash between applying and rewriting the file replays the same lines again: they are skipped
    shutil.copy(backup, spool.path)
    assert replay_spool(store, spool, rules=RULES).applied == 2
    assert (_count(store, Interaction), _count(store, Feedback), _count(store, Flag)) == (1, 1, 1)
    with store.session() as session:
        interaction = session.get(Interaction, saved.interaction_id)
        assert interaction is not None
        assert sorted(interaction.flags[0].reasons) == [
            "low_groundedness",
            "thumbs_down",
            "unsupported_sentence",
        ]
        assert interaction.feedback[0].comment == "Die extra week bestaat niet"
    store.close()


def test_replay_stops_while_database_is_still_away(db_dir: Path, tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{db_dir / 'bron.db'}")
    spool = Spool(tmp_path / "spool.jsonl")
    away = _take_away(store, db_dir)
    save_interaction(store, expenses_record(), rules=RULES, spool=spool)
    report = replay_spool(store, spool, rules=RULES)
    assert (report.applied, report.remaining) == (0, 1) and "cannot be reached" in report.errors[0]
    away.rename(db_dir)
    later = save_interaction(store, verlof_record(), rules=RULES, spool=spool)  # drains the spool first
    assert not later.spooled and later.flag_reasons == ["low_groundedness", "unsupported_sentence"]
    assert _count(store, Interaction) == 2 and not spool.has_pending()
    store.close()


def test_refused_entry_is_kept_aside_and_does_not_block(db_dir: Path, tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{db_dir / 'bron.db'}")
    spool = Spool(tmp_path / "spool.jsonl")
    gone = save_interaction(store, expenses_record(), rules=RULES, spool=spool)
    away = _take_away(store, db_dir)
    save_feedback(store, gone.interaction_id, vote="down", user="U1", rules=RULES, spool=spool)
    kept = save_interaction(store, verlof_record(), rules=RULES, spool=spool)
    away.rename(db_dir)
    purge_older_than(store, datetime.now(UTC) + timedelta(minutes=1))  # the answer voted on is purged
    with spool.path.open("a") as f:
        f.write('{"kind": "interaction", "record": {"quest')  # a torn line from a crash mid-write
    report = replay_spool(store, spool, rules=RULES)
    assert (report.applied, report.rejected, report.remaining) == (1, 1, 0)
    rejected = spool.rejected_path.read_text().splitlines()
    assert len(rejected) == 2 and any("no answer with id" in line for line in rejected)
    with store.session() as session:
        assert session.get(Interaction, kept.interaction_id) is not None
    store.close()


def test_feedback_on_an_unknown_answer_is_an_error_not_spooled(db_dir: Path, tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{db_dir / 'bron.db'}")
    spool = Spool(tmp_path / "spool.jsonl")
    with pytest.raises(StoreError, match="no answer with id"):
        save_feedback(store, "f" * 32, vote="down", user="U1", rules=RULES, spool=spool)
    with pytest.raises(StoreError, match="vote must be"):
        save_feedback(store, "f" * 32, vote="meh", user="U1", rules=RULES, spool=spool)
    assert not spool.has_pending()
    store.close()


def test_background_replayer_drains_without_new_writes(db_dir: Path, tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{db_dir / 'bron.db'}")
    spool = Spool(tmp_path / "spool.jsonl")
    away = _take_away(store, db_dir)
    save_interaction(store, expenses_record(), rules=RULES, spool=spool)
    away.rename(db_dir)
    replayer = SpoolReplayer(store, spool, rules=RULES, interval_s=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while spool.has_pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        replayer.stop()
    assert not spool.has_pending() and _count(store, Interaction) == 1
    store.close()


def test_unwritable_spool_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = FeedbackStore(f"sqlite:///{tmp_path / 'missing' / 'bron.db'}")
    with pytest.raises(StoreError, match="BRON_STORE__SPOOL_PATH"):
        save_interaction(store, expenses_record(), rules=RULES, spool=Spool(blocker / "spool.jsonl"))
    store.close()
