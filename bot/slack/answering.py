"""Answering one question in Slack: the shared pipeline, delivered into a thread or a response_url.

Every outage becomes a polite message in the user's language plus a log line and a metric; nothing
here raises into Bolt, so one failing question never takes the bot down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.asking import AskContext, AskResult, ask, doubtful_sentences
from bot.runtime import Runtime
from bot.slack.blocks import answer_blocks, answer_footer
from bot.slack.escaping import escape_answer
from bot.slack.metrics import ANSWERS, BACKEND_ERRORS, FLAGS, QUESTIONS, observe_answer
from bot.slack.questions import Question, strip_mention
from bot.slack.sharing import escalate_button, owner_for, share_button
from bot.slack.streaming import StreamBudget, ThreadReply
from bot.slack.texts import Backend, text, unavailable
from bot.slack.withdrawn import erase_if_withdrawn
from feedback.errors import StoreError
from feedback.store import attach_message
from retrieval.analysis import detect_language
from retrieval.errors import RetrievalError
from serving.answer import EmptyQuestionError, QuestionTooLongError
from serving.context import max_question_chars
from serving.errors import GenerationError

log = logging.getLogger(__name__)

HISTORY_TURNS = 3
HISTORY_PAGES = 5
HISTORY_PAGE_SIZE = 200


@dataclass(frozen=True)
class Outcome:
    """What happened to one question: the result, or which backend failed."""

    result: AskResult | None
    failed: Backend | None = None
    empty: bool = False
    too_long: bool = False


def run_pipeline(
    runtime: Runtime,
    question: Question,
    *,
    history: tuple[tuple[str, str], ...] = (),
    on_token: Callable[[str], None] | None = None,
) -> Outcome:
    """`ask` with outages sorted by backend, counted and logged (with the cause) but never raised."""
    QUESTIONS.labels(surface=question.surface).inc()
    ctx = AskContext(
        surface=question.surface,
        asker=question.user,
        channel=question.channel,
        thread_ts=question.thread_ts,
        question_ts=question.ts or None,
        collections=question.collections,
        history=history,
    )
    try:
        result = ask(runtime, question.text, ctx, on_token=on_token)
    except QuestionTooLongError:
        return Outcome(result=None, too_long=True)
    except EmptyQuestionError:
        return Outcome(result=None, empty=True)
    except RetrievalError as exc:
        return _failed("search", question, exc)
    except GenerationError as exc:
        return _failed("llm", question, exc)
    except StoreError as exc:
        return _failed("store", question, exc)
    except Exception as exc:  # a bug must not stop the bot; the traceback goes to the log
        log.exception("answering %s in %s failed", question.ts, question.channel)
        return _failed("other", question, exc)
    observe_answer(result.answer)
    if result.interaction_id is None:
        BACKEND_ERRORS.labels(backend="store").inc()
    if result.flagged:
        FLAGS.inc()
    return Outcome(result=result)


def _failed(backend: Backend, question: Question, exc: Exception) -> Outcome:
    BACKEND_ERRORS.labels(backend=backend).inc()
    ANSWERS.labels(outcome="error").inc()
    log.error(
        "question %s in %s not answered: %s unavailable: %s", question.ts, question.channel, backend, exc
    )
    return Outcome(result=None, failed=backend)


def answer_in_thread(
    runtime: Runtime,
    client: WebClient,
    question: Question,
    *,
    history: tuple[tuple[str, str], ...] = (),
    budget: StreamBudget | None = None,
) -> str | None:
    """Answer `question` in its thread (streamed when possible); returns the answer message's ts.

    `budget` is the app's one `StreamBudget`, shared by every answer so that together they stay within
    the workspace's rate tiers."""
    reply = ThreadReply(
        client,
        channel=question.channel,
        thread_ts=question.thread_ts,
        recipient_team_id=question.team_id,
        recipient_user_id=question.user,
        n_sources=max(runtime.policy.top_k, 1),
        budget=budget,
    )
    outcome = run_pipeline(runtime, question, history=history, on_token=reply.on_token)
    language = detect_language(question.text)
    if outcome.result is None:
        message = (
            text(language, "too_long", limit=f"{max_question_chars(runtime.policy.context_tokens):,}")
            if outcome.too_long
            else text(language, "empty")
            if outcome.empty
            else unavailable(language, outcome.failed or "other")
        )
        return reply.fail(message)
    answer, interaction_id = outcome.result.answer, outcome.result.interaction_id
    extra: list[dict[str, Any]] = []
    owners = runtime.settings.slack.collection_owners
    if interaction_id is not None and owner_for(owners, [c.chunk.collection for c in answer.citations]):
        extra.append(escalate_button(interaction_id, answer.language))
    ts = reply.finish(
        text=answer.text or "…",
        blocks=answer_blocks(answer, interaction_id=interaction_id) + extra,
        footer=answer_footer(answer, interaction_id=interaction_id) + extra,
        streamed_ok=not (answer.abstained or answer.quoted or doubtful_sentences(answer)),
    )
    if ts is not None and interaction_id is not None:
        link_message(runtime, interaction_id, channel=question.channel, message_ts=ts)
    if erase_if_withdrawn(runtime, client, question, ts):
        return None
    return ts


def link_message(runtime: Runtime, interaction_id: str, *, channel: str, message_ts: str) -> None:
    try:
        with runtime.store.session() as session:
            attach_message(session, interaction_id, channel=channel, message_ts=message_ts)
    except StoreError as exc:
        BACKEND_ERRORS.labels(backend="store").inc()
        log.error("answer %s not linked to its message %s: %s", interaction_id, message_ts, exc)


def answer_payload(runtime: Runtime, question: Question) -> dict[str, Any]:
    """The answer as a `respond()` payload (slash commands): one ephemeral message, no streaming."""
    outcome = run_pipeline(runtime, question)
    language = detect_language(question.text)
    if outcome.result is None:
        message = (
            text(language, "too_long", limit=f"{max_question_chars(runtime.policy.context_tokens):,}")
            if outcome.too_long
            else text(language, "empty")
            if outcome.empty
            else unavailable(language, outcome.failed or "other")
        )
        return {"text": message, "response_type": "ephemeral"}
    answer, interaction_id = outcome.result.answer, outcome.result.interaction_id
    blocks = answer_blocks(answer, interaction_id=interaction_id)
    if interaction_id is not None and not question.is_dm and not answer.abstained:
        blocks.append(share_button(interaction_id, answer.language))
    return {"text": escape_answer(answer.text), "blocks": blocks, "response_type": "ephemeral"}


def thread_history(
    client: WebClient,
    *,
    channel: str,
    thread_ts: str,
    before_ts: str,
    bot_user_id: str | None,
    asker: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """Earlier (question, answer) pairs between `asker` and Bron in the thread, oldest first, the last few.

    Read from Slack (`conversations.replies`), so it is what the user sees, edits included. Pages
    through the cursor up to `HISTORY_PAGES` pages (a long thread costs a bounded number of Tier 3
    calls); colleagues' remarks and other bots' messages are no turns of this conversation.
    """
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        try:
            page = client.conversations_replies(
                channel=channel, ts=thread_ts, limit=HISTORY_PAGE_SIZE, cursor=cursor
            )
        except SlackClientError as exc:
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.warning("thread history of %s in %s unavailable: %s", thread_ts, channel, detail)
            break
        found = list(page.get("messages") or [])
        messages += found
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor or any(m.get("ts") == before_ts for m in found):
            break
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages:
        if message.get("ts") == before_ts:
            break
        author = message.get("user")
        body = str(message.get("text") or "")
        if bot_user_id is not None and author == bot_user_id:
            if pending and body:
                pairs.append((pending, body))
            pending = None
        elif not message.get("bot_id") and body and (asker is None or author == asker):
            pending = strip_mention(body, bot_user_id)
    return tuple(pairs[-HISTORY_TURNS:])
