"""Event listeners: mentions, channel and DM messages, reactions, and the agent messages tab.

Events are acknowledged before any listener runs. The listener then only decides whether to answer,
shows a status in the thread at once (0.1–0.9 s in bench/slack/RESULTS.md), and hands the answer to Bron's own answer pool
(`bot/slack/pool.py`); Bolt's listener threads stay free for the acknowledgements of commands,
buttons and modal submits. A full pool gets a polite "busy" reply instead of silence.
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
from bot.slack.lookups import thread_askers
from bot.slack.pool import Admission, Pools
from bot.slack.questions import Question, answers_in_thread, is_thumbs, question_from_event, route_message
from bot.slack.streaming import StreamBudget
from bot.slack.texts import SUGGESTED_PROMPTS, text
from bot.slack.withdrawn import WITHDRAWN_SUBTYPES, asks_again, erase_answered, withdrawal
from feedback.errors import StoreError
from retrieval.analysis import detect_language

log = logging.getLogger(__name__)


def _ack(ack: Ack) -> None:
    ack()


def recipient_team(body: dict[str, Any], context: BoltContext) -> str | None:
    """The team a stream's recipient belongs to; Enterprise Grid org installs carry only the enterprise id."""
    return context.team_id or context.enterprise_id or body.get("team_id")


def register_events(
    app: App, runtime: Runtime, access: SlackAccess, pools: Pools, budget: StreamBudget
) -> None:
    settings = runtime.settings.slack

    def take(question: Question, client: WebClient, bot_user_id: str | None, *, external: bool) -> None:
        """Status now; the asker's scope (which may ask Slack), history and answer on the pool, or a
        busy reply when it is full."""
        language = detect_language(question.text)
        set_status(client, question, text(language, "searching"))

        def job() -> None:
            scoped = access.scoped(client, question, shared_externally=external)
            history: tuple[tuple[str, str], ...] = ()
            if question.thread_ts != question.ts:
                history = thread_history(
                    client,
                    channel=question.channel,
                    thread_ts=question.thread_ts,
                    before_ts=question.ts,
                    bot_user_id=bot_user_id,
                    asker=question.user,
                )
            answer_in_thread(runtime, client, scoped, history=history, budget=budget)

        refuse(client, question, pools.answers.submit(job, user=question.user), language)

    def on_mention(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        question = question_from_event(
            event, settings, bot_user_id=context.bot_user_id, team_id=recipient_team(body, context),
            surface="slack",
        )  # fmt: skip
        take(question, client, context.bot_user_id, external=bool(body.get("is_ext_shared_channel")))

    def on_withdrawn(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        """A deleted or edited message: on the chores pool, erase what Bron stored for it and its
        answer; an edited question that still asks Bron something is then answered as it now reads."""
        withdrawn = withdrawal(event, context.bot_user_id)
        if withdrawn is None:
            return

        def job() -> None:
            erased = erase_answered(runtime, client, withdrawn, context.bot_user_id)
            edited = withdrawn.edited
            if not erased or edited is None:
                return
            again = {**edited, "channel": withdrawn.channel, "channel_type": event.get("channel_type")}
            question = question_from_event(
                again, settings, bot_user_id=context.bot_user_id, team_id=recipient_team(body, context),
                surface="slack",
            )  # fmt: skip
            if asks_again(
                again, settings, bot_user_id=context.bot_user_id, askers=lambda: _askers(runtime, question)
            ):
                take(question, client, context.bot_user_id, external=bool(body.get("is_ext_shared_channel")))

        if pools.chores.submit(job) != "accepted":
            log.warning("withdrawn message %s not handled: the chores pool is full", withdrawn.ts)

    def on_message(
        body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        if event.get("subtype") in WITHDRAWN_SUBTYPES:
            on_withdrawn(body, event, client, context)
            return
        route = route_message(event, settings, bot_user_id=context.bot_user_id)
        if route == "ignore":
            return
        question = question_from_event(
            event, settings, bot_user_id=context.bot_user_id, team_id=recipient_team(body, context),
            surface="slack",
        )  # fmt: skip
        if route == "files_only":
            refuse_files(client, question)
            return
        if route == "follow_up":
            askers, replier = _askers(runtime, question)
            if not askers or not answers_in_thread(
                str(event.get("text", "")), user=replier, askers=askers, bot_user_id=context.bot_user_id
            ):
                return
        take(question, client, context.bot_user_id, external=bool(body.get("is_ext_shared_channel")))

    def on_reaction(event: dict[str, Any], client: WebClient) -> None:
        vote = is_thumbs(str(event.get("reaction", "")))
        item = event.get("item") or {}
        if vote is None or item.get("type") != "message":
            return

        def job() -> None:
            feedback_from_reaction(
                runtime, client, vote=vote, user=str(event.get("user", "")),
                channel=str(item.get("channel", "")), message_ts=str(item.get("ts", "")),
            )  # fmt: skip

        if pools.chores.submit(job) != "accepted":
            log.warning("reaction on %s dropped: the chores pool is full", item.get("ts"))

    app.event("app_mention")(ack=_ack, lazy=[on_mention])
    app.event("message")(ack=_ack, lazy=[on_message])
    app.event("reaction_added")(ack=_ack, lazy=[on_reaction])


def set_status(client: WebClient, question: Question, status: str) -> None:
    """The "Searching the handbook…" line under the question, in channels, DMs and group DMs alike."""
    try:
        client.assistant_threads_setStatus(
            channel_id=question.channel, thread_ts=question.thread_ts, status=status
        )
    except SlackClientError as exc:
        log.info("no status in %s: %s", question.channel, exc)


def refuse(client: WebClient, question: Question, admission: Admission, language: str) -> None:
    """Tell the asker, in the thread, that the question was not taken; nothing for an accepted one.

    Ephemeral: only the asker needs to know, and `chat.postEphemeral` (Tier 4, per workspace) is not
    held to `chat.postMessage`'s one message per second per channel when many are refused at once.
    """
    if admission == "accepted":
        return
    try:
        client.chat_postEphemeral(
            channel=question.channel,
            user=question.user,
            thread_ts=question.thread_ts,
            text=text(language, admission),
        )
    except SlackClientError as exc:
        log.error("busy reply in %s not posted: %s", question.channel, exc)


def _askers(runtime: Runtime, question: Question) -> tuple[set[str], str]:
    try:
        with runtime.store.session() as session:
            return thread_askers(
                session, channel=question.channel, thread_ts=question.thread_ts, replier=question.user
            )
    except StoreError as exc:
        log.error("cannot tell whether Bron answered in thread %s: %s", question.thread_ts, exc)
        return set(), question.user


def refuse_files(client: WebClient, question: Question) -> None:
    """A DM with only a file (a screenshot): Bron reads text, so it asks for the question in words."""
    try:
        client.chat_postMessage(
            channel=question.channel, thread_ts=question.thread_ts, text=text("en", "files_only")
        )
    except SlackClientError as exc:
        log.error("reply to a file in %s not posted: %s", question.channel, exc)


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
