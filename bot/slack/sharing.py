"""Two buttons that hand an answer on: "Share in channel" under a private `/bron` answer, and
"Ask a person" under an answer in a thread, which mentions the owner of the answer's collection.

Both rebuild what they post from the stored answer, and both fail closed: an answer is shared into
a channel only when every chunk it used is in that channel's collections (in a channel shared with
another organisation, only `external_collections`), and "Ask a person" is
offered only where an owner is configured (`BRON_SLACK__COLLECTION_OWNERS`).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.runtime import Runtime
from bot.slack.access import SlackAccess
from bot.slack.blocks import (
    Block,
    button_row,
    context_line,
    escape,
    feedback_actions,
    source_line,
    text_sections,
)
from bot.slack.escaping import escape_answer
from bot.slack.pool import Pools
from bot.slack.texts import text, unavailable
from feedback.access import may_read
from feedback.errors import StoreError
from feedback.models import Interaction
from feedback.store import attach_message, get_interaction

log = logging.getLogger(__name__)

SHARE_ACTION = "bron_share"
ESCALATE_ACTION = "bron_ask_person"


def share_button(interaction_id: str, language: str) -> Block:
    return button_row(SHARE_ACTION, text(language, "share"), interaction_id)


def owner_for(owners: dict[str, str], collections: list[str | None]) -> str | None:
    """The first configured owner among the answer's collections (cited chunks first)."""
    return next((owners[c] for c in collections if c is not None and c in owners), None)


def escalate_button(interaction_id: str, language: str) -> Block:
    return button_row(ESCALATE_ACTION, text(language, "ask_person"), interaction_id)


def shared_blocks(interaction: Interaction, *, sharer: str) -> list[Block]:
    """The stored answer as a channel message: who shared it, the question, the answer, its sources."""
    cited = sorted((c for c in interaction.chunks if c.citation), key=lambda c: c.citation or 0)
    lines = [
        source_line(c.citation or 0, title=c.title, heading=c.heading, location=c.location) for c in cited
    ]
    intro = text(
        interaction.language, "shared_by", user=f"<@{sharer}>", question=escape(interaction.question)
    )
    blocks: list[Block] = [context_line(intro)]
    blocks += text_sections(escape_answer(interaction.answer))
    if lines:
        blocks += text_sections(f"*{text(interaction.language, 'sources')}*\n" + "\n".join(lines))
    return [*blocks, feedback_actions(interaction.id)]


def register_sharing(app: App, runtime: Runtime, access: SlackAccess, pools: Pools) -> None:
    owners = runtime.settings.slack.collection_owners

    def on_share(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        interaction_id = str(body["actions"][0].get("value", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        user = str((body.get("user") or {}).get("id", ""))

        def share() -> None:
            try:
                with runtime.store.session() as session:
                    interaction = get_interaction(session, interaction_id)
                    if interaction is None:
                        return
                    audience = access.audience(client, channel)
                    if not may_read(interaction, audience):
                        respond(text=text(interaction.language, "share_refused"), response_type="ephemeral",
                                replace_original=False)  # fmt: skip
                        return
                    blocks, answer = shared_blocks(interaction, sharer=user), interaction.answer
            except StoreError as exc:
                log.error("answer %s not shared: %s", interaction_id, exc)
                respond(text=unavailable("en", "store"), response_type="ephemeral", replace_original=False)
                return
            try:
                posted = client.chat_postMessage(channel=channel, text=escape_answer(answer), blocks=blocks)
            except SlackClientError as exc:
                log.error("answer %s not shared in %s: %s", interaction_id, channel, exc)
                return
            try:
                with runtime.store.session() as session:
                    attach_message(session, interaction_id, channel=channel, message_ts=str(posted["ts"]))
            except StoreError as exc:
                log.error("shared answer %s not linked to its message: %s", interaction_id, exc)
            respond(delete_original=True)

        if pools.chores.submit(share) != "accepted":
            respond(text=text("en", "busy"), response_type="ephemeral", replace_original=False)

    def on_escalate(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        interaction_id = str(body["actions"][0].get("value", ""))
        container = body.get("container") or {}
        channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
        thread_ts = str(container.get("thread_ts") or container.get("message_ts") or "")
        user = str((body.get("user") or {}).get("id", ""))

        def escalate() -> None:
            try:
                with runtime.store.session() as session:
                    interaction = get_interaction(session, interaction_id)
                    if interaction is None:
                        return
                    ordered = sorted(
                        interaction.chunks, key=lambda c: (c.citation is None, c.citation or 0, c.rank)
                    )
                    owner = owner_for(owners, [c.collection for c in ordered])
                    language = interaction.language
            except StoreError as exc:
                log.error("owner of answer %s not looked up: %s", interaction_id, exc)
                return
            if owner is None:
                return
            message = text(language, "asked_person", owner=f"<@{owner}>", user=f"<@{user}>")
            try:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=message)
            except SlackClientError as exc:
                log.error("escalation of %s not posted: %s", interaction_id, exc)

        if pools.chores.submit(escalate) != "accepted":
            log.warning("escalation of %s dropped: the chores pool is full", interaction_id)

    app.action(SHARE_ACTION)(on_share)
    app.action(ESCALATE_ACTION)(on_escalate)
