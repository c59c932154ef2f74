"""Slash commands: `/bron <question>`, `/bron-sources <message link | question>`, `/bron-flags`.

Each acknowledges at once and answers through `respond` (the command's response_url), ephemeral:
a slash command is a private question unless the user shares the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.asking import supporting_spans
from bot.runtime import Runtime
from bot.slack.access import SlackAccess
from bot.slack.answering import answer_payload
from bot.slack.blocks import chunk_blocks, flag_blocks, hit_blocks
from bot.slack.lookups import open_flags
from bot.slack.metrics import BACKEND_ERRORS
from bot.slack.questions import Question, parse_message_link
from bot.slack.spec import COMMAND_ASK, COMMAND_FLAGS, COMMAND_SOURCES
from bot.slack.texts import text, unavailable
from feedback.access import may_see
from feedback.errors import StoreError
from feedback.store import find_by_message
from retrieval.analysis import detect_language
from retrieval.errors import RetrievalError
from retrieval.types import SearchFilters

log = logging.getLogger(__name__)

SOURCES_K = 5


def _command_question(
    runtime: Runtime, access: SlackAccess, client: WebClient, command: dict[str, Any]
) -> Question:
    """The command as a question, scoped to what its user may search where they typed it."""
    channel = str(command.get("channel_id", ""))
    is_dm = channel.startswith("D")
    question = Question(
        text=str(command.get("text", "")).strip(),
        channel=channel,
        user=str(command.get("user_id", "")),
        ts="",
        thread_ts="",
        team_id=command.get("team_id"),
        surface="slack_command",
        collections=(),
        is_dm=is_dm,
    )
    return access.scoped(client, question)


def register_commands(app: App, runtime: Runtime, access: SlackAccess) -> None:
    def ack_ask(ack: Ack, command: dict[str, Any]) -> None:
        question = str(command.get("text", "")).strip()
        if question:
            ack()
        else:
            ack(text=text("en", "empty"))

    def ask_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        question = _command_question(runtime, access, client, command)
        if question.text:
            respond(**answer_payload(runtime, question))

    def sources_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        question = _command_question(runtime, access, client, command)
        language = detect_language(question.text)
        link = parse_message_link(question.text)
        if link is not None:
            try:
                with runtime.store.session() as session:
                    interaction = find_by_message(session, *link)
                    # an answer given elsewhere is shown only if every chunk it used is in this scope
                    if interaction is not None and may_see(
                        (c.collection for c in interaction.chunks), question.collections
                    ):
                        used = [c for c in interaction.chunks if c.citation] or list(interaction.chunks)
                        used.sort(key=lambda c: (c.citation or 99, c.rank))
                        title = text(interaction.language, "used_sources")
                        spans = supporting_spans(interaction.grounding or {})
                        blocks = chunk_blocks(title, used, spans=spans, language=interaction.language)
                        respond(text=title, blocks=blocks, response_type="ephemeral")
                        return
            except StoreError as exc:
                BACKEND_ERRORS.labels(backend="store").inc()
                log.error("sources for %s not looked up: %s", link, exc)
                respond(text=unavailable(language, "store"), response_type="ephemeral")
                return
            respond(text=text(language, "no_message"), response_type="ephemeral")
            return
        if not question.text:
            respond(text=text(language, "empty"), response_type="ephemeral")
            return
        try:
            hits = runtime.retriever.search(
                question.text, k=SOURCES_K, filters=SearchFilters(collections=question.collections)
            ).hits
        except RetrievalError as exc:
            BACKEND_ERRORS.labels(backend="search").inc()
            log.error("source search failed: %s", exc)
            respond(text=unavailable(language, "search"), response_type="ephemeral")
            return
        if not hits:
            respond(text=text(language, "no_results", query=question.text), response_type="ephemeral")
            return
        title = text(language, "search_results", query=question.text)
        respond(text=title, blocks=hit_blocks(title, hits), response_type="ephemeral")

    def flags_command(command: dict[str, Any], respond: Respond) -> None:
        user = str(command.get("user_id", ""))
        if user not in runtime.settings.store.reviewers:
            respond(text=text("en", "reviewers_only"), response_type="ephemeral")
            return
        try:
            with runtime.store.session() as session:
                flags = open_flags(session, scope=runtime.settings.store.review_scope(user))
        except StoreError as exc:
            BACKEND_ERRORS.labels(backend="store").inc()
            log.error("flags not loaded: %s", exc)
            respond(text=unavailable("en", "store"), response_type="ephemeral")
            return
        if not flags:
            respond(text=text("en", "no_flags"), response_type="ephemeral")
            return
        title = text("en", "open_flags")
        respond(text=title, blocks=flag_blocks(title, flags), response_type="ephemeral")

    def ack_only(ack: Ack) -> None:
        ack()

    app.command(COMMAND_ASK)(ack=ack_ask, lazy=[ask_command])
    app.command(COMMAND_SOURCES)(ack=ack_only, lazy=[sources_command])
    app.command(COMMAND_FLAGS)(ack=ack_only, lazy=[flags_command])
