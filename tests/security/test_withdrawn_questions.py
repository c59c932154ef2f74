"""A question deleted or edited in Slack is erased from the store and the spool (SQLite and PostgreSQL).

On bcb969d a deleted Slack message left its question, Bron's answer and the votes on it stored until
retention, and the store did not even record which message asked (only Bron's answer's ts). The Slack
side (listener, chat.delete, answering an edit anew) is in tests/scenario/test_withdrawn.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import func, make_url, select

from feedback.feedback import record_feedback
from feedback.migrate import upgrade
from feedback.models import Feedback, Flag, Interaction, RetrievedChunk, Review
from feedback.privacy import erase_question
from feedback.review import resolve_flag
from feedback.settings import FlagRules
from feedback.spool import FeedbackEntry, Spool, replay_spool
from feedback.store import FeedbackStore, record_interaction
from tests.unit.feedback.records import verlof_record

CHANNEL, ROOT, FOLLOW_UP = "C0HR000001", "1710000000.000100", "1710000000.000300"


def _count(store: FeedbackStore, model: type) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_deleted_question_goes_with_its_answer_sources_votes_and_reviews(
    store_url: str, tmp_path: Path
) -> None:
    store = FeedbackStore(store_url)
    spool = Spool(tmp_path / "spool.jsonl")
    try:
        with store.session() as session:
            asked = record_interaction(session, verlof_record(
                question="Mag ik mijn verlof meenemen?", channel=CHANNEL, thread_ts=ROOT, question_ts=ROOT,
                message_ts="1710000000.000200",
            ))  # fmt: skip
            kept = record_interaction(session, verlof_record(
                question="En voor parttimers?", channel=CHANNEL, thread_ts=ROOT, question_ts=FOLLOW_UP,
                message_ts="1710000000.000400",
            ))  # fmt: skip
            record_feedback(
                session, asked.id, vote="down", user="U0BOB0002", rules=FlagRules(), comment="mis"
            )
            record_feedback(session, kept.id, vote="up", user="U0BOB0002", rules=FlagRules())
            asked_id, kept_id = asked.id, kept.id
        with store.session() as session:
            flag = session.scalars(select(Flag).where(Flag.interaction_id == asked_id)).one()
            resolve_flag(session, flag.id, verdict="hallucination", reviewer="alice", note="fout")
        spool.add_interaction(verlof_record(
            question="Mag ik mijn verlof meenemen?", channel=CHANNEL, question_ts=ROOT, interaction_id="s" * 32
        ))  # fmt: skip
        spool.add_feedback(FeedbackEntry(interaction_id="s" * 32, vote="up", user="U0BOB0002"))
        spool.add_feedback(FeedbackEntry(interaction_id=kept_id, vote="down", user="U0BOB0002"))

        unchanged = erase_question(
            store, spool, channel=CHANNEL, question_ts=ROOT, unless_text="Mag ik mijn verlof meenemen?"
        )
        assert unchanged.interaction_ids == [] and "s" * 32 in spool.path.read_text()
        assert _count(store, Interaction) == 2

        gone = erase_question(store, spool, channel=CHANNEL, question_ts=ROOT)
        assert gone.answer_messages == ["1710000000.000200"]
        assert sorted(gone.interaction_ids) == sorted([asked_id, "s" * 32])
        with store.session() as session:
            assert (
                session.get(Interaction, asked_id) is None and session.get(Interaction, kept_id) is not None
            )
            assert session.scalar(select(func.count()).select_from(Feedback)) == 1
            assert session.scalar(
                select(func.count()).select_from(RetrievedChunk).where(RetrievedChunk.interaction_id == asked_id)
            ) == 0  # fmt: skip
        assert _count(store, Review) == 0
        left = spool.path.read_text()
        assert "s" * 32 not in left and kept_id in left
        # another channel's message with the same ts is someone else's
        assert erase_question(store, spool, channel="C0OTHER001", question_ts=FOLLOW_UP).interaction_ids == []
        assert _count(store, Interaction) == 1
    finally:
        store.close()


def _down(store_url: str, tmp_path: Path) -> FeedbackStore:
    """The same kind of database, unreachable (an outage)."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        return FeedbackStore(f"sqlite:///{tmp_path / 'gone' / 'bron.db'}")
    return FeedbackStore(url.set(host="127.0.0.1", port=9).render_as_string(hide_password=False))


def test_a_spool_that_cannot_be_rewritten_still_erases_the_rows_and_names_the_answer(
    store_url: str, tmp_path: Path
) -> None:
    """On c91b44e the OSError escaped: the rows were gone, but the caller never learnt which answer
    messages to delete in Slack."""
    store = FeedbackStore(store_url)
    spool = Spool(tmp_path / "spool.jsonl")
    try:
        with store.session() as session:
            asked = record_interaction(session, verlof_record(
                channel=CHANNEL, thread_ts=ROOT, question_ts=ROOT, message_ts="1710000000.000200",
            ))  # fmt: skip
            asked_id = asked.id
        spool.add_interaction(verlof_record(channel=CHANNEL, question_ts=ROOT, interaction_id="s" * 32))
        spool.path.with_name(spool.path.name + ".tmp").mkdir()  # the atomic rewrite cannot happen

        gone = erase_question(store, spool, channel=CHANNEL, question_ts=ROOT)

        assert gone.answer_messages == ["1710000000.000200"] and asked_id in gone.interaction_ids
        assert [e.split(":")[0] for e in gone.errors] == ["spool"]
        assert _count(store, Interaction) == 0
    finally:
        store.close()


def test_while_the_database_is_down_the_spooled_answer_is_erased_and_not_replayed(
    store_url: str, tmp_path: Path
) -> None:
    """On c91b44e erase_question raised before it reached the spool, so the answer spooled during the
    outage came back into the database, withdrawn question and all, once it was up again."""
    store, down = FeedbackStore(store_url), _down(store_url, tmp_path)
    spool = Spool(tmp_path / "spool.jsonl")
    try:
        spool.add_interaction(verlof_record(
            question="Mag ik mijn verlof meenemen?", channel=CHANNEL, question_ts=ROOT, interaction_id="s" * 32
        ))  # fmt: skip
        spool.add_interaction(verlof_record(
            question="En voor parttimers?", channel=CHANNEL, question_ts=FOLLOW_UP, interaction_id="k" * 32
        ))  # fmt: skip
        spool.add_feedback(FeedbackEntry(interaction_id="s" * 32, vote="down", user="U0BOB0002"))

        gone = erase_question(down, spool, channel=CHANNEL, question_ts=ROOT)

        assert gone.interaction_ids == ["s" * 32]
        assert [e.split(":")[0] for e in gone.errors] == ["database"]
        assert replay_spool(store, spool, rules=FlagRules()).applied == 2  # the answer kept, the withdrawal
        with store.session() as session:
            assert [i.question for i in session.scalars(select(Interaction))] == ["En voor parttimers?"]
        assert _count(store, Feedback) == 0
    finally:
        store.close()
        down.close()


def test_a_question_withdrawn_during_an_outage_is_erased_by_the_replay(
    store_url: str, tmp_path: Path
) -> None:
    """Before this, the rows stored before the outage stayed until retention, and an answer still being
    written when the question went was spooled afterwards and replayed with it."""
    store, down = FeedbackStore(store_url), _down(store_url, tmp_path)
    spool = Spool(tmp_path / "spool.jsonl")
    try:
        with store.session() as session:
            before = record_interaction(
                session, verlof_record(channel=CHANNEL, thread_ts=ROOT, question_ts=ROOT)
            )
            kept = record_interaction(
                session, verlof_record(channel=CHANNEL, thread_ts=ROOT, question_ts=FOLLOW_UP)
            )
            before_id, kept_id = before.id, kept.id
            record_feedback(session, before_id, vote="up", user="U0BOB0002", rules=FlagRules())

        gone = erase_question(down, spool, channel=CHANNEL, question_ts=ROOT)
        assert gone.interaction_ids == [] and gone.errors
        spool.add_interaction(verlof_record(channel=CHANNEL, question_ts=ROOT, interaction_id="s" * 32))
        spool.add_feedback(FeedbackEntry(interaction_id="s" * 32, vote="down", user="U0BOB0002"))
        spool.add_feedback(FeedbackEntry(interaction_id=kept_id, vote="down", user="U0BOB0002"))

        replayed = replay_spool(store, spool, rules=FlagRules())
        assert (replayed.applied, replayed.rejected, replayed.remaining) == (2, 0, 0)
        with store.session() as session:
            assert [i.id for i in session.scalars(select(Interaction))] == [kept_id]
            assert [f.interaction_id for f in session.scalars(select(Feedback))] == [kept_id]
        assert spool.pending() == []
    finally:
        store.close()
        down.close()


def test_a_database_error_after_the_rows_were_found_still_names_the_answer(tmp_path: Path) -> None:
    """Two jobs erasing the same message: the other one holds the write lock past the busy timeout.
    On c91b44e the StoreError lost the answers found, so Bron's answer stayed in Slack."""
    url = f"sqlite:///{tmp_path / 'bron.db'}"
    upgrade(url)
    store = FeedbackStore(url)
    spool = Spool(tmp_path / "spool.jsonl")
    other = sqlite3.connect(tmp_path / "bron.db", isolation_level=None)
    try:
        with store.session() as session:
            record_interaction(session, verlof_record(
                channel=CHANNEL, thread_ts=ROOT, question_ts=ROOT, message_ts="1710000000.000200",
            ))  # fmt: skip
        other.execute("BEGIN IMMEDIATE")  # the other job's transaction, not yet committed

        gone = erase_question(store, spool, channel=CHANNEL, question_ts=ROOT)

        assert gone.answer_messages == ["1710000000.000200"]
        assert [e.split(":")[0] for e in gone.errors] == ["database"]
        assert "withdrawn" in spool.path.read_text()  # replay finishes the erasure
    finally:
        other.close()
        store.close()
