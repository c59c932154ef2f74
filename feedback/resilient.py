"""Writing answers and feedback so that nothing is lost: the database if it answers, else the spool.

The bot calls these two functions instead of opening sessions itself. Both first replay whatever the
spool holds (cheap when it is empty: one `stat`), so the backlog drains on the first write after the
database comes back and a thumbs-down on a spooled answer finds its row.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from feedback.errors import StoreError, StoreUnavailableError
from feedback.feedback import record_feedback
from feedback.flags import flag_reasons, raise_flag
from feedback.models import new_id
from feedback.settings import FlagRules
from feedback.spool import FeedbackEntry, Spool, replay_spool
from feedback.store import FeedbackStore, InteractionRecord, record_interaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedInteraction:
    interaction_id: str
    flag_reasons: list[str]
    spooled: bool


@dataclass(frozen=True)
class SavedFeedback:
    interaction_id: str
    flagged: bool
    spooled: bool


def _drain(store: FeedbackStore, spool: Spool, rules: FlagRules) -> None:
    if spool.has_pending():
        replay_spool(store, spool, rules=rules)


def save_interaction(
    store: FeedbackStore, record: InteractionRecord, *, rules: FlagRules, spool: Spool
) -> SavedInteraction:
    """Record one answer and flag it if a rule fires; spool it when the database is unreachable.

    The id is chosen here, before the write, so callers can hand it out (e.g. in Slack button values)
    whether the row exists yet or not. Flags of a spooled answer are raised when it is replayed.
    """
    # the spool holds the asker as the database would (a pseudonym where they are on)
    record = dataclasses.replace(
        record, interaction_id=record.interaction_id or new_id(), asker=store.stored_user(record.asker)
    )
    assert record.interaction_id is not None
    try:
        _drain(store, spool, rules)
        with store.session() as session:
            interaction = record_interaction(session, record)
            reasons = flag_reasons(interaction, rules)
            raise_flag(session, interaction, reasons)
    except StoreUnavailableError:
        spool.add_interaction(record)
        return SavedInteraction(interaction_id=record.interaction_id, flag_reasons=[], spooled=True)
    return SavedInteraction(interaction_id=record.interaction_id, flag_reasons=reasons, spooled=False)


def save_feedback(
    store: FeedbackStore,
    interaction_id: str,
    *,
    vote: str,
    user: str | None,
    rules: FlagRules,
    spool: Spool,
    reason: str | None = None,
    comment: str | None = None,
    correct_answer: str | None = None,
    source: str = "button",
) -> SavedFeedback:
    """Record a vote (a thumbs-down flags the answer); spool it when the database is unreachable.

    Raises StoreError for a vote the database would refuse for good (bad vote, unknown answer that is
    not waiting in the spool either), so the caller can tell the user instead of hiding it.
    """
    entry = FeedbackEntry(
        interaction_id=interaction_id, vote=vote, user=store.stored_user(user), reason=reason, comment=comment,
        correct_answer=correct_answer, source=source,
    )  # fmt: skip
    try:
        _drain(store, spool, rules)
        with store.session() as session:
            record_feedback(
                session, interaction_id, vote=vote, user=user, rules=rules, reason=reason,
                comment=comment, correct_answer=correct_answer, source=source,
            )  # fmt: skip
    except StoreUnavailableError:
        spool.add_feedback(entry)
        return SavedFeedback(interaction_id=interaction_id, flagged=False, spooled=True)
    except StoreError:
        # the answer itself may still be waiting in the spool (database flapping): queue behind it
        if interaction_id in spool.pending_interaction_ids():
            spool.add_feedback(entry)
            return SavedFeedback(interaction_id=interaction_id, flagged=False, spooled=True)
        raise
    return SavedFeedback(
        interaction_id=interaction_id, flagged=vote == "down" and rules.on_thumbs_down, spooled=False
    )
