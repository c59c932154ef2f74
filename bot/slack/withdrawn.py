"""A question deleted or edited in Slack: what Bron stored for it is erased, and its answer goes too.

Slack reports both as `message` events (any `message.*` subscription delivers them): subtype
`message_deleted` with `deleted_ts`, and `message_changed` with the message as it now reads; a
thread root deleted while it has replies arrives as `message_changed` to a `tombstone`. The person
took those words back, so the stored question, Bron's answer, its sources and the votes on it are
deleted (the database and the spool), and Bron deletes its answer message (`chat.delete`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.privacy import scan_files
from bot.runtime import Runtime
from bot.settings import SlackSettings
from bot.slack.metrics import BACKEND_ERRORS
from bot.slack.questions import (
    Question,
    answers_in_thread,
    is_acknowledgement,
    mentions,
    route_message,
    strip_mention,
)
from feedback.privacy import Withdrawn, erase_question

log = logging.getLogger(__name__)

WITHDRAWN_SUBTYPES = ("message_deleted", "message_changed")


@dataclass(frozen=True)
class Withdrawal:
    """One person's message that was deleted, or edited (`edited`: the message as it now reads)."""

    channel: str
    ts: str
    edited: dict[str, Any] | None = None


def withdrawal(event: dict[str, Any], bot_user_id: str | None) -> Withdrawal | None:
    """The person's message a `message_deleted`/`message_changed` event concerns; None for Bron's own
    messages (every streamed answer arrives as a string of `message_changed` events) and other subtypes."""
    channel = str(event.get("channel") or "")
    subtype = event.get("subtype")
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        if previous.get("bot_id") or (bot_user_id and previous.get("user") == bot_user_id):
            return None
        ts = str(event.get("deleted_ts") or "")
        return Withdrawal(channel, ts) if channel and ts else None
    if subtype != "message_changed":
        return None
    message = event.get("message") or {}
    ts = str(message.get("ts") or "")
    if not channel or not ts or message.get("bot_id") or (bot_user_id and message.get("user") == bot_user_id):
        return None
    if message.get("subtype") == "tombstone":
        return Withdrawal(channel, ts)
    return Withdrawal(channel, ts, edited=message)


def erase_answered(
    runtime: Runtime, client: WebClient, withdrawn: Withdrawal, bot_user_id: str | None
) -> bool:
    """Erase what Bron stored for the message and delete Bron's answers to it; True when there were any.

    An edit that leaves the question as stored (a link unfurled, a reply counted) erases nothing.
    """
    unless = None
    if withdrawn.edited is not None:
        unless = strip_mention(str(withdrawn.edited.get("text") or ""), bot_user_id)
    runtime.withdrawn.add(withdrawn.channel, withdrawn.ts, unless_text=unless)
    gone = erase_question(
        runtime.store, runtime.spool, channel=withdrawn.channel, question_ts=withdrawn.ts, unless_text=unless
    )
    _delete_answers(client, withdrawn.channel, withdrawn.ts, gone)
    _erase_from_files(runtime, withdrawn.ts, gone)
    return bool(gone.interaction_ids)


def erase_if_withdrawn(
    runtime: Runtime, client: WebClient, question: Question, answer_ts: str | None
) -> bool:
    """Called once an answer is recorded and posted: a question deleted or edited while its answer was
    being written found nothing to erase then, so the answer (row and message) goes now."""
    if not question.ts or not runtime.withdrawn.covers(question.channel, question.ts, question.text):
        return False
    mark = runtime.withdrawn.get(question.channel, question.ts)
    gone = erase_question(
        runtime.store, runtime.spool, channel=question.channel, question_ts=question.ts,
        unless_text=mark.unless_text if mark is not None else None,
    )  # fmt: skip
    if answer_ts is not None and answer_ts not in gone.answer_messages:
        gone.answer_messages.append(answer_ts)
    _delete_answers(client, question.channel, question.ts, gone)
    _erase_from_files(runtime, question.ts, gone)
    return True


def _erase_from_files(runtime: Runtime, question_ts: str, gone: Withdrawn) -> None:
    """The exports and training data under the data dir lose the erased answers' lines, as with
    `bron privacy erase`; an adapter trained on them is named, since it cannot forget."""
    if not gone.interaction_ids:
        return
    spool = runtime.spool
    try:
        found = scan_files(
            [runtime.settings.data_dir], set(gone.interaction_ids), erase=True,
            skip={spool.path, spool.rejected_path},
        )  # fmt: skip
    except OSError as exc:
        log.error("withdrawn question %s: export files not cleaned (retention will): %s", question_ts, exc)
        return
    for adapter in found.adapters:
        log.warning("adapter %s was trained on withdrawn question %s: retrain or withdraw it", adapter,
                    question_ts)  # fmt: skip


def _delete_answers(client: WebClient, channel: str, question_ts: str, gone: Withdrawn) -> None:
    """Log what could not be erased (retention will), and delete every answer found in Slack."""
    for error in gone.errors:
        BACKEND_ERRORS.labels(backend="store").inc()
        log.error("question %s in %s withdrawn but not wholly erased (retention will): %s", question_ts,
                  channel, error)  # fmt: skip
    for ts in gone.answer_messages:
        try:
            client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "message_not_found":
                log.error("answer %s to withdrawn question %s not deleted: %s", ts, question_ts, exc)
        except SlackClientError as exc:
            log.error("answer %s to withdrawn question %s not deleted: %s", ts, question_ts, exc)
    if gone.interaction_ids:
        log.info("question %s in %s withdrawn: %d answers erased", question_ts, channel,
                 len(gone.interaction_ids))  # fmt: skip


def asks_again(
    again: dict[str, Any],
    settings: SlackSettings,
    *,
    bot_user_id: str | None,
    askers: Callable[[], tuple[set[str], str]],
) -> bool:
    """Whether an edited question Bron had answered still asks Bron something, and is answered anew.

    Why answer again rather than only forget: a person edits a question to fix a typo or add what was
    missing, and expects the answer to the question as it now reads, as a colleague would give; the
    old answer answers words that are no longer there. The edited message (`again`: with its channel
    and channel type) passes the test a new message would, no looser: a mention of Bron (a new one
    arrives as `app_mention`) unless only an acknowledgement; else `route_message`, and for a thread
    reply the thread rule against `askers()`, the askers stored for the thread and the replier as
    stored. "never mind" is not answered.
    """
    text = str(again.get("text") or "")
    if again.get("channel_type") != "im" and mentions(text, bot_user_id):
        return not is_acknowledgement(text)
    route = route_message(again, settings, bot_user_id=bot_user_id)
    if route != "follow_up":
        return route == "answer"
    stored, replier = askers()
    return bool(stored) and answers_in_thread(text, user=replier, askers=stored, bot_user_id=bot_user_id)
