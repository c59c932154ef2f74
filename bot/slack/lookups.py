"""The few queries the Slack surface needs beyond `feedback.store`; each takes a Session."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from feedback.access import searched_within, visible
from feedback.errors import StoreError
from feedback.feedback import REASONS
from feedback.models import Feedback, Flag, Interaction
from feedback.people import stored_user


def thread_askers(session: Session, *, channel: str, thread_ts: str, replier: str) -> tuple[set[str], str]:
    """The people Bron answered in this thread (empty: Bron never answered there), for the thread rule,
    and `replier` as the store keeps it: with pseudonyms on, askers are stored hashed, so the replier
    is hashed the same way before `answers_in_thread` compares them. Askers stored plain, before the
    option was turned on, are hashed here too, so their follow-ups in older threads are still heard."""
    stmt = select(Interaction.asker).where(Interaction.channel == channel, Interaction.thread_ts == thread_ts)
    askers = {
        stored_user(session, asker) or asker for asker in session.scalars(stmt.distinct().limit(100)) if asker
    }
    return askers, stored_user(session, replier) or replier


def open_flags(session: Session, *, scope: Collection[str], limit: int = 10) -> list[Flag]:
    """The newest open flags whose answers a reviewer with `scope` may see."""
    stmt = (
        select(Flag)
        .where(Flag.status == "open", visible(Flag.interaction_id, scope))
        .order_by(Flag.created_at.desc(), Flag.id.desc())
        .limit(limit)
        .options(selectinload(Flag.interaction))
    )
    return [f for f in session.scalars(stmt) if searched_within(f.interaction.collections, scope)]


def add_feedback_details(
    session: Session,
    feedback_id: str,
    *,
    user: str,
    reason: str | None,
    comment: str | None,
    correct_answer: str | None,
) -> Feedback:
    """Fill in what the modal asked; only the person who gave the feedback may do so (a vote stored
    before pseudonyms were turned on holds their plain id)."""
    feedback = session.get(Feedback, feedback_id)
    if feedback is None:
        raise StoreError(f"no feedback with id {feedback_id}")
    if feedback.user not in (None, user, stored_user(session, user)):
        raise StoreError(f"feedback {feedback_id} belongs to another user")
    if reason is not None and reason not in REASONS:
        raise StoreError(f"reason must be one of {', '.join(REASONS)}")
    feedback.reason = reason or feedback.reason
    feedback.comment = comment or feedback.comment
    feedback.correct_answer = correct_answer or feedback.correct_answer
    session.flush()
    return feedback
