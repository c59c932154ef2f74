"""Event listeners: mentions, channel and DM messages, reactions, and the agent messages tab.

Each listener acknowledges at once (an empty `ack`) and does the work in a lazy listener, which
Bolt runs on its thread pool after the acknowledgement: Slack's 3-second limit holds however slow
retrieval and generation are, in Socket Mode and over HTTP alike.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.runtime import Runtime
from bot.slack.access import SlackAccess
from bot.slack.answering import answer_in_thread, thread_history
from bot.slack.feedback_modal import feedback_from_reaction
from bot.slack.lookups import bron_answered_in_thread
from bot.slack.questions import Question, is_thumbs, question_from_event, route_message
from bot.slack.texts import SUGGESTED_PROMPTS, text
from feedback.errors import StoreError

log = logging.getLogger(__name__)


def _ack(ack: Ack) -> None:
    ack()


def register_events(app: App, runtime: Runtime, access: SlackAccess) -> None:
    settings = runtime.settings.slack

    def team_of(body: dict[str, Any], context: BoltContext) -> str | None:
        return context.team_id or body.get("team_id")

    def on_mention(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        question = question_from_event(
            event, settings, bot_user_id=context.bot_user_id, team_id=team_of(body, context), surface="slack"
        )
        question = access.scoped(client, question, shared_externally=bool(body.get("is_ext_shared_channel")))
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
        if route == "follow_up" and not _bron_in_thread(runtime, question):
            return
        question = access.scoped(client, question, shared_externally=bool(body.get("is_ext_shared_channel")))
        history: tuple[tuple[str, str], ...] = ()
        if question.thread_ts != question.ts:  # a follow-up, or a reply in a DM thread
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


def register_agent_view(app: App) -> None:
    """The messages tab under `agent_view`: a greeting on first opening, suggested prompts every time.

    `app_home_opened` with tab "messages" replaces the legacy `assistant_thread_started`. Prompts are
    set without `thread_ts` (with one, an agent app's call silently does nothing); the greeting is
    posted only while the DM is still empty, which every replica can tell from Slack itself.
    """

    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        channel = str(event.get("channel") or "")
        if event.get("tab") != "messages" or not channel:
            return
        try:
            if not client.conversations_history(channel=channel, limit=1).get("messages"):
                client.chat_postMessage(channel=channel, text=text("en", "greeting"))
        except SlackClientError as exc:
            log.warning("greeting in %s not posted: %s", channel, exc)
        set_prompts(client, channel)

    def on_context_changed(event: dict[str, Any], client: WebClient) -> None:
        channel = str(event.get("channel") or "")
        if channel:
            set_prompts(client, channel)

    app.event("app_home_opened")(ack=_ack, lazy=[on_home_opened])
    app.event("app_context_changed")(ack=_ack, lazy=[on_context_changed])


def set_prompts(client: WebClient, channel: str) -> None:
    try:
        client.assistant_threads_setSuggestedPrompts(channel_id=channel, prompts=list(SUGGESTED_PROMPTS))
    except SlackClientError as exc:
        log.warning("suggested prompts in %s not set: %s", channel, exc)
