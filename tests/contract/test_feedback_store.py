"""One contract for the feedback store on SQLite (a temp file) and PostgreSQL (a real server).

PostgreSQL is BRON_TEST_POSTGRES_URL or 127.0.0.1:5432; each session works in its own fresh database
(see tests/unit/feedback/postgres.py). The tests fail when no server answers, unless
BRON_SKIP_POSTGRES=1. The spool test starts a throwaway cluster of its own, so it can stop the
database under the store and start it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError

from feedback.errors import StoreUnavailableError
from feedback.feedback import record_feedback
from feedback.flags import flag_reasons, raise_flag
from feedback.migrate import downgrade, upgrade
from feedback.models import Feedback, Flag, Interaction, ProcessedEvent, RetrievedChunk, Review
from feedback.resilient import save_feedback, save_interaction
from feedback.retention import purge_older_than
from feedback.review import get_flag, resolve_flag
from feedback.settings import FlagRules
from feedback.spool import Spool, replay_spool
from feedback.stats import daily_stats, top_flagged_sources
from feedback.store import ChunkRecord, FeedbackStore, claim_event, record_interaction
from tests.support.noida import free_port
from tests.unit.feedback.postgres import ThrowawayCluster, fresh_database, server_url
from tests.unit.feedback.records import VERLOF, backdate, expenses_record, verlof_record

TABLES = {"interactions", "retrieved_chunks", "feedback", "flags", "reviews", "processed_events"}
RULES = FlagRules()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_database(server_url()) as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        lite = f"sqlite:///{tmp_path / 'bron.db'}"
        upgrade(lite)
        return lite
    u: str = request.getfixturevalue("pg_url")
    store = FeedbackStore(u)
    with store.session() as session:  # empty the shared database between tests
        for table in (Review, Flag, Feedback, RetrievedChunk, Interaction, ProcessedEvent):
            session.execute(delete(table))
    store.close()
    return u


@pytest.fixture
def store(url: str) -> Iterator[FeedbackStore]:
    s = FeedbackStore(url)
    yield s
    s.close()


def _count(store: FeedbackStore, model: type) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_migrations_upgrade_downgrade_upgrade(kind: str, tmp_path: Path) -> None:
    def tables(u: str) -> set[str]:
        s = FeedbackStore(u)
        try:
            return set(inspect(s.engine).get_table_names()) - {"alembic_version"}
        finally:
            s.close()

    def check(u: str) -> None:
        upgrade(u)
        assert tables(u) >= TABLES
        downgrade(u, "base")
        assert tables(u) == set()
        upgrade(u)
        assert tables(u) >= TABLES

    if kind == "sqlite":
        check(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        with fresh_database(server_url()) as u:
            check(u)


def test_interaction_round_trips(store: FeedbackStore, url: str) -> None:
    record = verlof_record()
    with store.session() as session:
        interaction_id = record_interaction(session, record).id
    other = FeedbackStore(url)  # a second engine: nothing comes from the first one's identity map
    try:
        with other.session() as session:
            got = session.get(Interaction, interaction_id)
            assert got is not None
            assert (got.question, got.answer, got.language, got.surface) == (
                record.question, record.answer, "nl", "slack")  # fmt: skip
            assert (got.asker, got.channel, got.thread_ts, got.message_ts) == (
                "U123", "C42", "1700000000.000100", "1700000001.000200")  # fmt: skip
            assert got.timings == {"retrieve_ms": 41.5, "generate_ms": 812.25, "first_token_ms": 120.0}
            assert got.grounding == record.grounding
            assert got.groundedness == pytest.approx(0.42)
            assert got.created_at is not None
            assert [(c.rank, c.chunk_id, c.citation) for c in got.chunks] == [
                (1, "c-verlof-1", 1), (2, "c-thuis-1", None)]  # fmt: skip
            first = got.chunks[0]
            assert first.scores == {"bm25": 7.2, "dense": 0.88, "bm25_rank": 1, "dense_rank": 2}
            assert first.score == pytest.approx(0.031)
            assert (first.heading, first.location) == ("Verlofregeling › Vakantiedagen", VERLOF.location)
    finally:
        other.close()


def test_chosen_interaction_id_is_kept(store: FeedbackStore) -> None:
    with store.session() as session:
        got = record_interaction(session, expenses_record(interaction_id="a" * 32))
    assert got.id == "a" * 32


def test_thumbs_down_records_feedback_and_opens_one_flag(store: FeedbackStore) -> None:
    with store.session() as session:
        interaction = record_interaction(session, expenses_record())
        assert flag_reasons(interaction, RULES) == []  # grounded and cited: nothing to review yet
        iid = interaction.id
    with store.session() as session:
        record_feedback(session, iid, vote="up", user="U1", rules=RULES)
    assert _count(store, Flag) == 0
    for user in ("U2", "U3"):
        with store.session() as session:
            record_feedback(session, iid, vote="down", user=user, rules=RULES, reason="incorrect",
                            comment="Taxi's alleen na middernacht", correct_answer="Na 00:00 [1].")  # fmt: skip
    with store.session() as session:
        flags = session.scalars(select(Flag)).all()
        assert [(f.interaction_id, f.status, f.reasons) for f in flags] == [(iid, "open", ["thumbs_down"])]
        votes = sorted((f.user, f.vote, f.reason) for f in session.scalars(select(Feedback)))
        assert votes == [("U1", "up", None), ("U2", "down", "incorrect"), ("U3", "down", "incorrect")]


@pytest.mark.parametrize(
    ("rules", "record_kwargs", "expected"),
    [
        (FlagRules(), {}, ["low_groundedness", "unsupported_sentence"]),
        (FlagRules(min_groundedness=0.3, on_unsupported_sentence=False), {}, []),
        (FlagRules(), {"groundedness": 0.9, "grounding": {"unsupported": []},
                       "chunks": [ChunkRecord(**{**VERLOF.__dict__, "citation": None})]}, ["no_citation"]),
        (FlagRules(on_no_citation=False), {"groundedness": 0.9, "grounding": {},
                                           "chunks": [ChunkRecord(**{**VERLOF.__dict__, "citation": None})]}, []),
        (FlagRules(), {"abstained": True, "groundedness": None, "grounding": {}}, []),
        (FlagRules(), {"groundedness": 0.9, "grounding": {"unsupported": [], "quoted": True,
                                                          "unsupported_draft": "25 weeks [1]."}}, ["draft_rejected"]),
        (FlagRules(on_quoted=False), {"groundedness": 0.9, "grounding": {"quoted": True}}, []),
    ],
)  # fmt: skip
def test_flag_rules_come_from_settings(
    store: FeedbackStore, rules: FlagRules, record_kwargs: dict[str, object], expected: list[str]
) -> None:
    with store.session() as session:
        interaction = record_interaction(session, verlof_record(**record_kwargs))
        reasons = flag_reasons(interaction, rules)
        raise_flag(session, interaction, reasons)
    assert reasons == expected
    with store.session() as session:
        stored = [f.reasons for f in session.scalars(select(Flag))]
    assert stored == ([sorted(expected)] if expected else [])


def test_claim_event_dedupes_across_replicas(url: str) -> None:
    replica_a, replica_b = FeedbackStore(url), FeedbackStore(url)
    try:
        assert claim_event(replica_a, "Ev0001") is True
        assert claim_event(replica_b, "Ev0001") is False
        assert claim_event(replica_a, "Ev0001") is False
        wins: list[bool] = []
        barrier = threading.Barrier(6)

        def race(store: FeedbackStore) -> None:
            barrier.wait()
            wins.append(claim_event(store, "Ev0002"))

        threads = [threading.Thread(target=race, args=(s,)) for s in (replica_a, replica_b) * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(wins) == [False] * 5 + [True]
    finally:
        replica_a.close()
        replica_b.close()


def test_error_mid_transaction_leaves_nothing(store: FeedbackStore) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        interaction = record_interaction(session, verlof_record())
        raise_flag(session, interaction, ["low_groundedness"])
        raise RuntimeError("the bot crashed after writing half the record")
    with pytest.raises(IntegrityError), store.session() as session:
        record_interaction(session, expenses_record())
        session.add(Feedback(interaction_id="no-such-answer", vote="down"))  # the foreign key refuses it
        session.flush()
    for model in (Interaction, RetrievedChunk, Flag):
        assert _count(store, model) == 0


def test_review_resolves_the_flag(store: FeedbackStore) -> None:
    with store.session() as session:
        interaction = record_interaction(session, verlof_record())
        flag_id = raise_flag(session, interaction, flag_reasons(interaction, RULES)).id  # type: ignore[union-attr]
    with store.session() as session:
        resolve_flag(session, flag_id, verdict="hallucination", reviewer="alice",
                     corrected_answer="Je hebt recht op 25 vakantiedagen per jaar [1].",
                     expected_sources=["hr/verlof.md"])  # fmt: skip
    with store.session() as session:
        view = get_flag(session, flag_id)
    assert view.status == "resolved"
    assert [(r.verdict, r.reviewer, r.expected_sources) for r in view.reviews] == [
        ("hallucination", "alice", ["hr/verlof.md"])]  # fmt: skip


def test_daily_stats_group_by_utc_day(store: FeedbackStore) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    ids = []
    for _ in range(3):
        with store.session() as session:
            interaction = record_interaction(session, verlof_record())
            raise_flag(session, interaction, flag_reasons(interaction, RULES))
            ids.append(interaction.id)
    with store.session() as session:
        record_feedback(session, ids[0], vote="down", user="U9", rules=RULES)
    backdate(store, ids[0], now - timedelta(days=1, hours=1))  # 19 Nov 11:00
    backdate(store, ids[1], datetime(2026, 11, 19, 23, 59, tzinfo=UTC))
    backdate(store, ids[2], now)
    with store.session() as session:
        days = daily_stats(session, days=3, now=now)
        top = top_flagged_sources(session, days=30, now=now)
    assert [(d.day.isoformat(), d.answers, d.thumbs_down, d.flagged) for d in days] == [
        ("2026-11-18", 0, 0, 0), ("2026-11-19", 2, 1, 2), ("2026-11-20", 1, 0, 1)]  # fmt: skip
    assert [(s.doc_id, s.flags) for s in top] == [("hr/verlof.md", 3)]


def test_purge_deletes_old_answers_with_everything_attached(store: FeedbackStore) -> None:
    now = datetime.now(UTC)
    with store.session() as session:
        old = record_interaction(session, verlof_record())
        raise_flag(session, old, ["low_groundedness"])
        new = record_interaction(session, expenses_record())
        old_id, new_id = old.id, new.id
    with store.session() as session:
        record_feedback(session, old_id, vote="down", user="U1", rules=RULES)
        flag_id = session.scalars(select(Flag.id)).one()
        resolve_flag(session, flag_id, verdict="correct", reviewer="bob")
        record_feedback(session, new_id, vote="up", user="U1", rules=RULES)
    backdate(store, old_id, now - timedelta(days=91))
    report = purge_older_than(store, now - timedelta(days=90))
    assert (report.interactions, report.chunks, report.feedback, report.flags, report.reviews) == (
        1,
        2,
        1,
        1,
        1,
    )
    with store.session() as session:
        assert [i.id for i in session.scalars(select(Interaction))] == [new_id]
        assert session.scalar(select(func.count()).select_from(RetrievedChunk)) == 1
        assert session.scalar(select(func.count()).select_from(Feedback)) == 1
        assert session.scalar(select(func.count()).select_from(Review)) == 0


def test_unreachable_server_is_store_unavailable(tmp_path: Path) -> None:
    for dead in (f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/bron",
                 f"sqlite:///{tmp_path / 'missing-dir' / 'bron.db'}"):  # fmt: skip
        store = FeedbackStore(dead)
        with pytest.raises(StoreUnavailableError, match="cannot be reached"), store.session() as session:
            record_interaction(session, expenses_record())
        store.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_nothing_is_lost_while_postgres_is_down(tmp_path: Path) -> None:
    server_url()  # same skip/fail policy as the rest of the suite
    cluster = ThrowawayCluster(free_port())
    try:
        cluster.init()
        cluster.start()
        with fresh_database(cluster.url) as url:
            upgrade(url)
            store = FeedbackStore(url)
            spool = Spool(tmp_path / "spool.jsonl")
            before = save_interaction(store, expenses_record(), rules=RULES, spool=spool)
            assert not before.spooled

            cluster.stop()
            during = save_interaction(store, verlof_record(), rules=RULES, spool=spool)
            down_on_new = save_feedback(store, during.interaction_id, vote="down", user="U7", rules=RULES,
                                        spool=spool, reason="incorrect", comment="Geen extra week")  # fmt: skip
            down_on_old = save_feedback(store, before.interaction_id, vote="down", user="U8", rules=RULES,
                                        spool=spool)  # fmt: skip
            assert during.spooled and down_on_new.spooled and down_on_old.spooled
            assert [e["kind"] for e in spool.pending()] == ["interaction", "feedback", "feedback"]

            cluster.start()
            after = save_interaction(store, expenses_record(), rules=RULES, spool=spool)  # drains first
            assert not after.spooled and not spool.has_pending()
            assert replay_spool(store, spool, rules=RULES).applied == 0
            with store.session() as session:
                spooled = session.get(Interaction, during.interaction_id)
                assert spooled is not None and len(spooled.chunks) == 2
                assert spooled.grounding["unsupported"]
                assert [(f.user, f.vote, f.comment) for f in spooled.feedback] == [
                    ("U7", "down", "Geen extra week")
                ]
                assert [sorted(f.reasons) for f in spooled.flags] == [
                    ["low_groundedness", "thumbs_down", "unsupported_sentence"]]  # fmt: skip
                old = session.get(Interaction, before.interaction_id)
                assert old is not None and [f.vote for f in old.feedback] == ["down"]
                assert session.scalar(select(func.count()).select_from(Interaction)) == 3
            store.close()
    finally:
        cluster.remove()
