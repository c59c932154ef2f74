"""One person's data: everything Bron holds about a Slack user, to hand over (GDPR art. 15) or erase (art. 17),
and what was stored for one message the person deleted or edited in Slack (`erase_question`).

A person appears as the asker of interactions (with their retrieved chunks, flags and reviews), as the
voter or commenter of feedback rows, as a reviewer, and in the spool (answers and votes waiting for
the database, and the rejected file next to it). Erasing removes all of it in one transaction per
table group and rewrites the spool files without the person's entries; exports and trained adapters
are files, handled by the caller (bot/privacy.py), which gets the person's interaction ids from here.

With pseudonyms on (feedback/people.py) the given Slack id is hashed with the store's key, and rows
stored before the option was turned on (the plain id) are found too. Reviewers are stored by the
name they sign in with (a role, not a pseudonymised asker), so reviews are matched on that name.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from feedback.errors import StoreError
from feedback.models import Feedback, Flag, Interaction, Review
from feedback.spool import Spool
from feedback.store import FeedbackStore, delete_question


@dataclass
class PersonReport:
    """What was found (export) or removed (erase) for one user."""

    user: str
    interactions: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    spool: list[dict[str, Any]] = field(default_factory=list)

    @property
    def interaction_ids(self) -> set[str]:
        ids = {str(i["id"]) for i in self.interactions}
        return ids | {
            str(e["record"]["interaction_id"]) for e in self.spool if e.get("kind") == "interaction"
        }


def _interaction(i: Interaction) -> dict[str, Any]:
    return {
        "id": i.id, "created_at": i.created_at.isoformat(), "surface": i.surface, "channel": i.channel,
        "question": i.question, "answer": i.answer, "language": i.language, "abstained": i.abstained,
        "groundedness": i.groundedness,
        "flags": [{"id": f.id, "status": f.status, "reasons": f.reasons} for f in i.flags],
    }  # fmt: skip


def _feedback(f: Feedback) -> dict[str, Any]:
    return {
        "id": f.id, "interaction_id": f.interaction_id, "created_at": f.created_at.isoformat(), "vote": f.vote,
        "reason": f.reason, "comment": f.comment, "correct_answer": f.correct_answer,
    }  # fmt: skip


def _review(r: Review) -> dict[str, Any]:
    return {
        "id": r.id, "flag_id": r.flag_id, "created_at": r.created_at.isoformat(), "verdict": r.verdict,
        "corrected_answer": r.corrected_answer, "note": r.note,
    }  # fmt: skip


def _mentions(entry: dict[str, Any], names: set[str]) -> bool:
    if entry.get("kind") == "interaction":
        return (entry.get("record") or {}).get("asker") in names
    if entry.get("kind") == "feedback":
        return (entry.get("feedback") or {}).get("user") in names
    line = json.dumps(entry, ensure_ascii=False)
    return any(name in line for name in names)  # an unreadable line: keep nothing of theirs


def _names(store: FeedbackStore, user: str) -> set[str]:
    """`user` as rows may hold it: the plain id, and its pseudonym where the store makes them."""
    return {user, store.stored_user(user) or user}


def _spool_files(spool: Spool) -> list[Path]:
    return [spool.path, spool.rejected_path]


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"kind": "unreadable", "line": line})
    return out


def find_person(store: FeedbackStore, spool: Spool, user: str) -> PersonReport:
    """Everything stored about `user` (their Slack id, or its keyed hash where hashing is on)."""
    report = PersonReport(user=user)
    names = _names(store, user)
    with store.session() as session:
        asked = session.scalars(
            select(Interaction).where(Interaction.asker.in_(names)).order_by(Interaction.created_at)
        )
        report.interactions = [_interaction(i) for i in asked]
        votes = session.scalars(
            select(Feedback).where(Feedback.user.in_(names)).order_by(Feedback.created_at)
        )
        report.feedback = [_feedback(f) for f in votes]
        reviewed = session.scalars(select(Review).where(Review.reviewer == user).order_by(Review.created_at))
        report.reviews = [_review(r) for r in reviewed]
    with spool.locked():
        for path in _spool_files(spool):
            report.spool += [e for e in _read_lines(path) if _mentions(e, names)]
    return report


@dataclass
class Withdrawn:
    """The answers erased because the message that asked was deleted or edited.

    `errors`: the parts that failed (the database, the spool); what was found is still listed, so the
    caller deletes Bron's answers in Slack even when a part of the erasure must be left to retention.
    """

    interaction_ids: list[str] = field(default_factory=list)
    answer_messages: list[str] = field(default_factory=list)  # ts of Bron's answers, in the same channel
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Mark:
    """A message withdrawn in this process: deleted (`unless_text` None) or edited to `unless_text`."""

    unless_text: str | None
    at: float


class RecentlyWithdrawn:
    """The (channel, ts) of messages withdrawn in the last `ttl_s` seconds, at most `limit` of them.

    Why: a question deleted or edited while its answer is still being written finds nothing to erase;
    the answer is recorded and posted afterwards. The answering path asks here once it has, and
    erases that answer too. Kept in memory only, for as long as an answer can take; thread-safe,
    since withdrawals and answers run on different pools.
    """

    def __init__(self, *, ttl_s: float = 900.0, limit: int = 10_000) -> None:
        self.ttl_s, self.limit = ttl_s, limit
        self._marks: OrderedDict[tuple[str, str], Mark] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, channel: str, ts: str, *, unless_text: str | None = None) -> None:
        with self._lock:
            self._marks[(channel, ts)] = Mark(unless_text, time.monotonic())
            self._marks.move_to_end((channel, ts))
            self._trim()

    def get(self, channel: str, ts: str) -> Mark | None:
        """The mark for this message, while it is recent."""
        with self._lock:
            self._trim()
            return self._marks.get((channel, ts))

    def covers(self, channel: str, ts: str, question: str) -> bool:
        """Whether an answer to `question`, asked by the message (channel, ts), was withdrawn."""
        mark = self.get(channel, ts)
        return mark is not None and (mark.unless_text is None or mark.unless_text != question)

    def _trim(self) -> None:
        cutoff = time.monotonic() - self.ttl_s
        while self._marks and (len(self._marks) > self.limit or next(iter(self._marks.values())).at < cutoff):
            self._marks.popitem(last=False)


def erase_question(
    store: FeedbackStore, spool: Spool, *, channel: str, question_ts: str, unless_text: str | None = None
) -> Withdrawn:
    """Delete what was stored for the chat message `question_ts` in `channel`: each question with its
    answer, sources, feedback, flags and reviews, in the database and in the spool.

    `unless_text`: an edit whose text is the question as stored changed nothing the person wrote (an
    unfurl, a reply count), so nothing is erased. Rows from before `question_ts` was recorded cannot be
    told apart and are left to retention. The database and the spool are erased independently and
    neither raises: an answer spooled during an outage must not come back with the question once the
    database does, and answers found before a failure (another job deleting the same rows, a spool
    that cannot be rewritten) must still be deleted in Slack; failures are listed in `errors`. When
    the database part fails, a `withdrawn` entry in the spool has replay finish it once it is back.
    """
    gone = Withdrawn()
    try:
        with store.session() as session:
            for row in delete_question(
                session, channel=channel, question_ts=question_ts, unless_text=unless_text
            ):
                gone.interaction_ids.append(row.id)
                if row.message_ts:
                    gone.answer_messages.append(row.message_ts)
    except (StoreError, SQLAlchemyError) as exc:
        gone.errors.append(f"database: {exc}")
    try:
        with spool.locked():
            for path in _spool_files(spool):
                entries = _read_lines(path)
                for entry in entries:
                    record = entry.get("record") or {}
                    if (record.get("channel"), record.get("question_ts")) == (channel, question_ts) and (
                        unless_text is None or record.get("question") != unless_text
                    ):
                        gone.interaction_ids.append(str(record.get("interaction_id")))
                kept = [
                    e for e in entries
                    if str((e.get("record") or e.get("feedback") or {}).get("interaction_id"))
                    not in gone.interaction_ids
                ]  # fmt: skip
                if len(kept) != len(entries):
                    spool.rewrite(path, kept)
    except OSError as exc:
        gone.errors.append(f"spool: {exc}")
    if any(e.startswith("database") for e in gone.errors):
        try:  # replay erases the rows the database still holds, and drops answers spooled after now
            spool.add_withdrawn(channel, question_ts, unless_text=unless_text)
        except StoreError as exc:
            gone.errors.append(f"spool: {exc}")
    return gone


def erase_person(store: FeedbackStore, spool: Spool, user: str) -> PersonReport:
    """Delete everything `find_person` finds; returns what was deleted.

    Reviews by the person are deleted too, with their own verdict and notes; a flag on someone else's
    answer stays (it is about the answer, not the reviewer). Feedback others gave on the person's
    answers goes with those answers (ON DELETE CASCADE).
    """
    report = find_person(store, spool, user)
    with store.session() as session:
        session.execute(delete(Review).where(Review.reviewer == user))
        session.execute(delete(Feedback).where(Feedback.user.in_(_names(store, user))))
        ids = [str(i["id"]) for i in report.interactions]
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            session.execute(
                delete(Review).where(
                    Review.flag_id.in_(select(Flag.id).where(Flag.interaction_id.in_(batch)))
                )
            )
            session.execute(delete(Interaction).where(Interaction.id.in_(batch)))
    with spool.locked():
        for path in _spool_files(spool):
            entries = _read_lines(path)
            kept = [e for e in entries if not _mentions(e, _names(store, user))]
            if len(kept) != len(entries):
                spool.rewrite(path, kept)
    return report
