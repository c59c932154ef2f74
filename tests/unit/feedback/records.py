"""Realistic interaction records for the feedback-store tests (Dutch and English answers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from feedback.feedback import record_feedback
from feedback.flags import flag_reasons, raise_flag
from feedback.migrate import upgrade
from feedback.models import Flag, Interaction
from feedback.settings import FlagRules
from feedback.store import ChunkRecord, FeedbackStore, InteractionRecord, record_interaction

VERLOF = ChunkRecord(
    rank=1, chunk_id="c-verlof-1", doc_id="hr/verlof.md", title="Verlofregeling",
    heading="Verlofregeling › Vakantiedagen", location="https://intranet.example/hr/verlof",
    snippet="Medewerkers met een voltijds dienstverband hebben recht op 25 vakantiedagen per jaar.",
    score=0.031, scores={"bm25": 7.2, "dense": 0.88, "bm25_rank": 1, "dense_rank": 2}, citation=1,
    collection="public",
)  # fmt: skip
THUISWERK = ChunkRecord(
    rank=2, chunk_id="c-thuis-1", doc_id="hr/thuiswerken.md", title="Thuiswerkbeleid",
    heading="Thuiswerkbeleid › Vergoeding", location="handbook/hr/thuiswerken.md",
    snippet="De thuiswerkvergoeding bedraagt 2,35 euro per thuiswerkdag.",
    score=0.027, scores={"bm25": 3.1, "dense": 0.84}, citation=None,
    collection="public",
)  # fmt: skip
EXPENSES = ChunkRecord(
    rank=1, chunk_id="c-exp-2", doc_id="finance/expenses.md", title="Expense policy",
    heading="Expense policy › Travel", location="https://intranet.example/finance/expenses",
    snippet="Train travel in second class is reimbursed; taxis only after 23:00.",
    score=0.033, scores={"bm25": 8.0, "dense": 0.9}, citation=1,
    collection="public",
)  # fmt: skip


def verlof_record(**overrides: object) -> InteractionRecord:
    fields: dict[str, object] = dict(
        question="Hoeveel vakantiedagen heb ik per jaar?",
        answer="Je hebt recht op 25 vakantiedagen per jaar [1]. Daarnaast krijg je elk jaar een extra week bij "
        "je verjaardag [1].",
        language="nl", abstained=False, model="bron-local", chunks=[VERLOF, THUISWERK],
        timings={"retrieve_ms": 41.5, "generate_ms": 812.25, "first_token_ms": 120.0},
        groundedness=0.42,
        grounding={
            "score": 0.42,
            "sentences": [
                {"sentence": "Je hebt recht op 25 vakantiedagen per jaar [1].", "citations": [1], "score": 0.91,
                 "supported": True, "issues": [], "wrong_citation": False},
                {"sentence": "Daarnaast krijg je elk jaar een extra week bij je verjaardag [1].", "citations": [1],
                 "score": 0.12, "supported": False, "issues": ["no evidence"], "wrong_citation": False},
            ],
            "unsupported": ["Daarnaast krijg je elk jaar een extra week bij je verjaardag [1]."],
        },
        surface="slack", asker="U123", channel="C42", thread_ts="1700000000.000100",
        message_ts="1700000001.000200", collections=["public"],
    )  # fmt: skip
    fields.update(overrides)
    return InteractionRecord(**fields)  # type: ignore[arg-type]


def expenses_record(**overrides: object) -> InteractionRecord:
    fields: dict[str, object] = dict(
        question="Can I take a taxi home after a late meeting?",
        answer="Yes, taxis are reimbursed after 23:00 [1].",
        language="en", abstained=False, model="bron-local", chunks=[EXPENSES],
        timings={"retrieve_ms": 30.0, "generate_ms": 500.0}, groundedness=0.93,
        grounding={"score": 0.93, "sentences": [], "unsupported": []}, surface="cli", collections=["public"],
    )  # fmt: skip
    fields.update(overrides)
    return InteractionRecord(**fields)  # type: ignore[arg-type]


@contextmanager
def sqlite_store(tmp_path: Path, name: str = "bron.db") -> Iterator[FeedbackStore]:
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    store = FeedbackStore(url)
    try:
        yield store
    finally:
        store.close()


def backdate(store: FeedbackStore, interaction_id: str, when: datetime) -> None:
    """Move an answer (and its flags) back in time, as if it had been asked then."""
    with store.session() as session:
        session.execute(update(Interaction).where(Interaction.id == interaction_id).values(created_at=when))
        session.execute(update(Flag).where(Flag.interaction_id == interaction_id).values(created_at=when))


def seed_review_queue(store: FeedbackStore, *, now: datetime) -> dict[str, int]:
    """A few days of answers: some flagged by rules, one by a thumbs-down; returns flag ids by name."""
    rules = FlagRules()
    flags: dict[str, int] = {}
    plan = [
        ("verlof", verlof_record(), 0, None),
        ("taxi", expenses_record(), 1, "down"),
        ("fine", expenses_record(question="Is second-class train travel reimbursed?",
                                  answer="Yes, second class train travel is reimbursed [1].", groundedness=0.97), 2, "up"),
        ("uncited", verlof_record(question="Wat is de thuiswerkvergoeding?",
                                  answer="De vergoeding is 3 euro per dag.", groundedness=0.2,
                                  grounding={"unsupported": ["De vergoeding is 3 euro per dag."]},
                                  chunks=[ChunkRecord(**{**THUISWERK.__dict__, "rank": 1})]), 3, None),
    ]  # fmt: skip
    for name, record, days_ago, vote in plan:
        with store.session() as session:
            interaction = record_interaction(session, record)
            flag = raise_flag(session, interaction, flag_reasons(interaction, rules))
            iid = interaction.id
        if vote:
            with store.session() as session:
                fb = record_feedback(session, iid, vote=vote, user="U555", rules=rules,
                                     reason="incorrect" if vote == "down" else None,
                                     comment="Taxi's pas na middernacht" if vote == "down" else None)  # fmt: skip
                flag = next((f for f in fb.interaction.flags if f.status == "open"), flag)
        backdate(store, iid, now - timedelta(days=days_ago, hours=1))
        if flag is not None:
            flags[name] = flag.id
    return flags
