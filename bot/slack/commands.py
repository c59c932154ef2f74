"""Slash commands: `/bron <question>`, `/bron-sources <message link | question>`, `/bron-flags`.

Each acknowledges at once and answers through `respond` (the command's response_url), ephemeral:
a slash command is a private question unless the user shares the answer. `/bron` acknowledges with
the status line ("Searching the handbook…") and answers from the answer pool; the other two search
or read the database on the chores pool. A full pool is said in the acknowledgement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.asking import supporting_spans
from bot.runtime import Runtime
from bot.slack.access import SlackAccess
from bot.slack.answering import answer_payload
from bot.slack.blocks import chunk_blocks, flag_blocks, hit_blocks
from bot.slack.escaping import escape_mrkdwn
from bot.slack.lookups import open_flags
from bot.slack.metrics import BACKEND_ERRORS
from bot.slack.pool import Pools
from bot.slack.questions import Question, parse_message_link, strip_message_link
from bot.slack.spec import COMMAND_ASK, COMMAND_FLAGS, COMMAND_SOURCES
from bot.slack.texts import text, unavailable
from feedback.access import may_see
from feedback.errors import StoreError
from feedback.store import find_by_message
from retrieval.analysis import detect_language
from retrieval.errors import RetrievalError
from retrieval.types import SearchFilters
from serving.context import max_question_chars

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


def register_commands(app: App, runtime: Runtime, access: SlackAccess, pools: Pools) -> None:
    def ask(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        words = str(command.get("text", "")).strip()
        if not words:
            ack(text=text("en", "empty"))
            return

        def job() -> None:
            respond(**answer_payload(runtime, _command_question(runtime, access, client, command)))

        admission = pools.answers.submit(job, user=str(command.get("user_id", "")))
        ack(text=text(detect_language(words), "searching" if admission == "accepted" else admission))

    def on_pool(work: Callable[[dict[str, Any], Respond, WebClient], None]) -> Callable[..., None]:
        def listener(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
            if pools.chores.submit(lambda: work(command, respond, client)) == "accepted":
                ack()
            else:
                ack(text=text(detect_language(str(command.get("text", ""))), "busy"))

        return listener

    def sources_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        question = _command_question(runtime, access, client, command)
        language = detect_language(question.text)
        link = parse_message_link(question.text)
        query = question.text
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
            query = strip_message_link(question.text)
            if not query:
                respond(text=text(language, "no_message"), response_type="ephemeral")
                return
        if not query:
            respond(text=text(language, "empty"), response_type="ephemeral")
            return
        limit = max_question_chars(runtime.policy.context_tokens)  # a long query costs seconds of embedding
        if len(query) > limit:
            respond(text=text(language, "too_long", limit=f"{limit:,}"), response_type="ephemeral")
            return
        try:
            hits = runtime.retriever.search(
                query, k=SOURCES_K, filters=SearchFilters(collections=question.collections)
            ).hits
        except RetrievalError as exc:
            BACKEND_ERRORS.labels(backend="search").inc()
            log.error("source search failed: %s", exc)
            respond(text=unavailable(language, "search"), response_type="ephemeral")
            return
        if not hits:
            respond(text=text(language, "no_results", query=escape_mrkdwn(query)), response_type="ephemeral")
            return
        title = text(language, "search_results", query=query)
        respond(text=title, blocks=hit_blocks(title, hits), response_type="ephemeral")

    def flags_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
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

    app.command(COMMAND_ASK)(ask)
    app.command(COMMAND_SOURCES)(on_pool(sources_command))
    app.command(COMMAND_FLAGS)(on_pool(flags_command))
