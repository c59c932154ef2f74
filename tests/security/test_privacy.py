"""`bron privacy export USER` and `bron privacy erase USER` on SQLite and PostgreSQL, spool included.

bcb969d had no way to hand over or erase one person's data (GDPR articles 15 and 17), and
`bron export eval|sft` wrote employees' questions into the source tree by default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import func, select

from feedback.feedback import record_feedback
from feedback.models import Feedback, Flag, Interaction, Review
from feedback.review import resolve_flag
from feedback.settings import FlagRules
from feedback.spool import FeedbackEntry, Spool
from feedback.store import FeedbackStore, record_interaction
from tests.security.support import bron
from tests.unit.feedback.records import expenses_record, verlof_record

ALICE, BOB = "U0ALICE01", "U0BOB0002"


def _seed(store_url: str, data_dir: Path) -> dict[str, str]:
    store = FeedbackStore(store_url)
    try:
        with store.session() as session:
            alice = record_interaction(
                session, verlof_record(asker=ALICE, question="Mag ik thuiswerken? (Alice)")
            )
            bob = record_interaction(session, expenses_record(asker=BOB, question="Taxi home? (Bob)"))
            record_feedback(
                session, bob.id, vote="down", user=ALICE, rules=FlagRules(), comment="Alice thinks"
            )
            record_feedback(session, alice.id, vote="up", user=BOB, rules=FlagRules())
            ids = {"alice": alice.id, "bob": bob.id}
        with store.session() as session:
            flag = session.scalars(select(Flag).where(Flag.interaction_id == ids["bob"])).first()
            assert flag is not None
            resolve_flag(session, flag.id, verdict="correct", reviewer=ALICE, note="reviewed by Alice")
    finally:
        store.close()
    spool = Spool(data_dir / "spool.jsonl")
    spool.add_interaction(verlof_record(asker=ALICE, question="Spooled (Alice)", interaction_id="a" * 32))
    spool.add_interaction(expenses_record(asker=BOB, question="Spooled (Bob)", interaction_id="b" * 32))
    spool.add_feedback(
        FeedbackEntry(interaction_id=ids["bob"], vote="down", user=ALICE, comment="Alice again")
    )
    spool.rejected_path.write_text(json.dumps({"kind": "feedback", "feedback": {"user": ALICE}}) + "\n")
    exports = data_dir / "exports"
    exports.mkdir(parents=True)
    regression = exports / "regression.jsonl"
    regression.write_text(
        json.dumps({"id": ids["alice"], "question": "Mag ik thuiswerken? (Alice)"}) + "\n"
        + json.dumps({"id": ids["bob"], "question": "Taxi home? (Bob)"}) + "\n"
    )  # fmt: skip
    trained = data_dir / "adapters" / "hr-lora"
    trained.mkdir(parents=True)
    digest = hashlib.sha256(regression.read_bytes()).hexdigest()
    (trained / "bron_adapter.json").write_text(
        json.dumps({"name": "hr-lora", "data": {"train_sha256": digest}})
    )
    return ids


def test_export_then_erase_one_person(store_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ids = _seed(store_url, data)
    env = {"BRON_STORE__URL": store_url}

    exported = bron(data, "privacy", "export", ALICE, env=env)
    assert exported.exit_code == 0, exported.output
    dump = json.loads((data / "exports" / f"privacy-{ALICE}.json").read_text())
    assert [i["question"] for i in dump["interactions"]] == ["Mag ik thuiswerken? (Alice)"]
    assert [f["comment"] for f in dump["feedback"]] == ["Alice thinks"]
    assert [r["note"] for r in dump["reviews"]] == ["reviewed by Alice"]
    assert len(dump["spool"]) == 3  # spooled answer, spooled vote, rejected line
    assert dump["adapters_trained_on_their_questions"] == [str(data / "adapters" / "hr-lora")]
    assert "Bob" not in json.dumps(dump["interactions"] + dump["spool"])

    erased = bron(data, "privacy", "erase", ALICE, env=env)
    assert erased.exit_code == 0, erased.output
    assert "hr-lora" in erased.output and "retrain" in erased.output.replace("\n", " ")
    store = FeedbackStore(store_url)
    try:
        with store.session() as session:
            assert (
                session.scalar(
                    select(func.count()).select_from(Interaction).where(Interaction.asker == ALICE)
                )
                == 0
            )
            assert session.get(Interaction, ids["bob"]) is not None
            assert (
                session.scalar(select(func.count()).select_from(Feedback).where(Feedback.user == ALICE)) == 0
            )
            assert (
                session.scalar(select(func.count()).select_from(Review).where(Review.reviewer == ALICE)) == 0
            )
    finally:
        store.close()
    spool_text = (data / "spool.jsonl").read_text() + (data / "spool.jsonl.rejected.jsonl").read_text()
    assert ALICE not in spool_text and "Spooled (Bob)" in spool_text
    regression = (data / "exports" / "regression.jsonl").read_text()
    assert ids["alice"] not in regression and ids["bob"] in regression
    assert not (data / "exports" / f"privacy-{ALICE}.json").exists()
    again = bron(data, "privacy", "export", ALICE, env=env)
    summary = json.loads(again.stdout.splitlines()[0])
    assert (summary["interactions"], summary["feedback"], summary["reviews"], summary["spool_entries"]) == (
        0,
        0,
        0,
        0,
    )


def test_exports_go_to_the_data_dir_by_default(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = bron(data, "export", "eval")
    assert result.exit_code == 0, result.output
    assert (data / "exports" / "regression.jsonl").exists()
    assert "exports" in result.output.replace("\n", "")
