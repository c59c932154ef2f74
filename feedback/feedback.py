"""Recording a thumbs-up or thumbs-down, and flagging the answer on a thumbs-down."""

from __future__ import annotations

from sqlalchemy.orm import Session

from feedback.errors import StoreError
from feedback.flags import raise_flag
from feedback.models import Feedback, Interaction
from feedback.people import stored_user
from feedback.settings import FlagRules

REASONS = ("incorrect", "outdated", "incomplete", "not_helpful")


def record_feedback(
    session: Session,
    interaction_id: str,
    *,
    vote: str,
    user: str | None,
    rules: FlagRules,
    reason: str | None = None,
    comment: str | None = None,
    correct_answer: str | None = None,
    source: str = "button",
    feedback_id: str | None = None,
) -> Feedback:
    """Store one vote. `feedback_id` lets Slack open the "what was wrong?" modal (which must happen
    within 3 s of the click) before this write, with the id the modal's details will be added to."""
    if vote not in ("up", "down"):
        raise StoreError(f"vote must be 'up' or 'down', not {vote!r}")
    if reason is not None and reason not in REASONS:
        raise StoreError(f"reason must be one of {', '.join(REASONS)}")
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise StoreError(f"no answer with id {interaction_id}")
    fb = Feedback(
        interaction=interaction, vote=vote, user=stored_user(session, user), reason=reason, comment=comment,
        correct_answer=correct_answer, source=source,
    )  # fmt: skip
    if feedback_id is not None:
        fb.id = feedback_id
    session.add(fb)
    if vote == "down" and rules.on_thumbs_down:
        raise_flag(session, interaction, ["thumbs_down"])
    session.flush()
    return fb
