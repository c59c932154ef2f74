"""Event listeners: mentions, channel and DM messages, assistant threads, reactions.

Each listener acknowledges at once (an empty `ack`) and does the work in a lazy listener, which
Bolt runs on its thread pool after the acknowledgement: Slack's 3-second limit holds however slow
retrieval and generation are, in Socket Mode and over HTTP alike.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Assistant, BoltContext, SetStatus, SetSuggestedPrompts, SetTitle
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.runtime import Runtime
from bot.slack.answering import answer_in_thread, thread_history
from bot.slack.feedback_modal import feedback_from_reaction
from bot.slack.lookups import bron_answered_in_thread
from bot.slack.questions import Question, is_thumbs, question_from_event, route_message
from bot.slack.texts import SUGGESTED_PROMPTS, text
from feedback.errors import StoreError
from retrieval.analysis import detect_language

log = logging.getLogger(__name__)


def _ack(ack: Ack) -> None:
    ack()


def register_events(app: App, runtime: Runtime) -> None:
    settings = runtime.settings.slack

    def team_of(body: dict[str, Any], context: BoltContext) -> str | None:
        return context.team_id or body.get("team_id")

    def on_mention(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        question = question_from_event(
            event, settings, bot_user_id=context.bot_user_id, team_id=team_of(body, context), surface="slack"
        )
        history: tuple[tuple[str, str], ...] = ()
        if question.thread_ts != question.ts:
            history = thread_history(
                client,
                channel=question.channel,
                thread_ts=question.thread_ts,
                before_ts=question.ts,
                bot_user_id=context.bot_user_id,
            )
        answer_in_thread(runtime, client, question, history=history)

    def on_message(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        route = route_message(event, settings, bot_user_id=context.bot_user_id)
        if route == "ignore":
            return
        question = question_from_event(
            event, settings, bot_user_id=context.bot_user_id, team_id=team_of(body, context), surface="slack"
        )
        history: tuple[tuple[str, str], ...] = ()
        if route == "follow_up":
            if not _bron_in_thread(runtime, question):
                return
            history = thread_history(
                client,
                channel=question.channel,
                thread_ts=question.thread_ts,
                before_ts=question.ts,
                bot_user_id=context.bot_user_id,
            )
        answer_in_thread(runtime, client, question, history=history)

    def on_reaction(event: dict[str, Any], client: WebClient) -> None:
        vote = is_thumbs(str(event.get("reaction", "")))
        item = event.get("item") or {}
        if vote is None or item.get("type") != "message":
            return
        feedback_from_reaction(
            runtime, client, vote=vote, user=str(event.get("user", "")),
            channel=str(item.get("channel", "")), message_ts=str(item.get("ts", "")),
        )  # fmt: skip

    app.event("app_mention")(ack=_ack, lazy=[on_mention])
    app.event("message")(ack=_ack, lazy=[on_message])
    app.event("reaction_added")(ack=_ack, lazy=[on_reaction])


def _bron_in_thread(runtime: Runtime, question: Question) -> bool:
    try:
        with runtime.store.session() as session:
            return bron_answered_in_thread(session, channel=question.channel, thread_ts=question.thread_ts)
    except StoreError as exc:
        log.error("cannot tell whether Bron answered in thread %s: %s", question.thread_ts, exc)
        return False


def build_assistant(runtime: Runtime) -> Assistant:
    """The assistant pane (and threads in Bron's DMs): suggested prompts, a status while answering, a title."""
    settings = runtime.settings.slack
    assistant = Assistant()

    def started(say: Any, set_suggested_prompts: SetSuggestedPrompts, payload: dict[str, Any]) -> None:
        try:
            say(text("en", "greeting"))
            set_suggested_prompts(prompts=list(SUGGESTED_PROMPTS))
        except SlackClientError as exc:
            log.warning("assistant thread greeting failed: %s", exc)

    def user_message(
        body: dict[str, Any],
        event: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        set_status: SetStatus,
        set_title: SetTitle,
    ) -> None:
        question = question_from_event(
            event, settings, bot_user_id=context.bot_user_id,
            team_id=context.team_id or body.get("team_id"), surface="slack_assistant",
        )  # fmt: skip
        language = detect_language(question.text)
        try:
            set_status(text(language, "searching"))
        except SlackClientError as exc:  # a plain DM thread is no assistant thread: answer anyway
            log.info("no assistant status in %s: %s", question.channel, exc)
        history = thread_history(
            client, channel=question.channel, thread_ts=question.thread_ts,
            before_ts=question.ts, bot_user_id=context.bot_user_id,
        )  # fmt: skip
        answer_in_thread(runtime, client, question, history=history)
        if not history:
            try:
                set_title(question.text[:80])
            except SlackClientError as exc:
                log.info("no assistant title in %s: %s", question.channel, exc)

    assistant.thread_started(lazy=[started])(_ack)
    assistant.user_message(lazy=[user_message])(_ack)
    return assistant
