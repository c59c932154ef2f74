"""Thumbs up and down: the feedback buttons, reactions on answers, and the "what was wrong?" modal.

A thumbs-down is recorded (and the answer flagged) the moment it is given; the modal only adds
details to that record, so closing the modal loses nothing. Reactions carry no `trigger_id`, so a
thumbs-down reaction gets an ephemeral message whose button opens the modal.

A `trigger_id` expires 3 s after the click, so the modal opens first, with an id chosen for the vote,
and the vote is written afterwards on the chores pool: a slow or unreachable database never costs the
modal, and a click that cannot be stored gets a reply that says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
)
from slack_sdk.models.views import View

from bot.asking import supporting_spans
from bot.runtime import Runtime
from bot.slack.access import SlackAccess
from bot.slack.blocks import (
    FEEDBACK_ACTION,
    FEEDBACK_DETAILS_ACTION,
    SOURCES_ACTION,
    button_row,
    chunk_blocks,
    section,
)
from bot.slack.lookups import add_feedback_details
from bot.slack.metrics import BACKEND_ERRORS, FLAGS, THUMBS_DOWN
from bot.slack.pool import Pools
from bot.slack.texts import text, unavailable
from feedback.access import may_see
from feedback.errors import StoreError, StoreUnavailableError
from feedback.feedback import REASONS, record_feedback
from feedback.models import Feedback, new_id
from feedback.resilient import save_feedback
from feedback.store import find_by_message, get_interaction
from retrieval.analysis import detect_language

log = logging.getLogger(__name__)

MODAL_CALLBACK = "bron_feedback_modal"


def record_vote(
    runtime: Runtime,
    interaction_id: str,
    *,
    vote: str,
    user: str,
    source: str,
    feedback_id: str | None = None,
) -> tuple[str, str] | Literal["spooled"] | None:
    """Store the vote: (feedback id, answer language); "spooled" when the database is down and the vote
    waits in the spool; None when it could not be kept at all."""
    try:
        with runtime.store.session() as session:
            feedback = record_feedback(
                session,
                interaction_id,
                vote=vote,
                user=user,
                rules=runtime.settings.store.flags,
                source=source,
                feedback_id=feedback_id,
            )
            language = feedback.interaction.language
            feedback_id = feedback.id
    except StoreUnavailableError as exc:
        BACKEND_ERRORS.labels(backend="store").inc()
        saved = save_feedback(
            runtime.store, interaction_id, vote=vote, user=user, rules=runtime.settings.store.flags,
            spool=runtime.spool, source=source,
        )  # fmt: skip
        log.error(
            "%s vote on %s spooled=%s while the database is down: %s",
            vote,
            interaction_id,
            saved.spooled,
            exc,
        )
        return "spooled" if saved.spooled else None
    except StoreError as exc:
        BACKEND_ERRORS.labels(backend="store").inc()
        log.error("%s vote on %s not recorded: %s", vote, interaction_id, exc)
        return None
    if vote == "down":
        THUMBS_DOWN.labels(source=source).inc()
        if runtime.settings.store.flags.on_thumbs_down:
            FLAGS.inc()
    return feedback_id, language


def feedback_modal(feedback_id: str, language: str, *, interaction_id: str = "") -> dict[str, Any]:
    def free_text(block_id: str, label: str) -> InputBlock:
        return InputBlock(
            block_id=block_id,
            optional=True,
            label=label,
            element=PlainTextInputElement(action_id=block_id, multiline=True),
        )

    reasons = RadioButtonsElement(
        action_id="reason",
        options=[Option(text=PlainTextObject(text=text(language, f"reason.{r}")), value=r) for r in REASONS],
    )
    return View(
        type="modal",
        callback_id=MODAL_CALLBACK,
        private_metadata=json.dumps({"feedback_id": feedback_id, "interaction_id": interaction_id}),
        title=text(language, "modal_title"),
        submit=text(language, "modal_submit"),
        blocks=[
            InputBlock(block_id="reason", label=text(language, "modal_reason"), element=reasons),
            free_text("comment", text(language, "modal_comment")),
            free_text("correct_answer", text(language, "modal_correct")),
        ],
    ).to_dict()


def feedback_from_reaction(
    runtime: Runtime, client: WebClient, *, vote: str, user: str, channel: str, message_ts: str
) -> None:
    """A 👍/👎 reaction on a Bron answer; reactions on any other message are ignored."""
    try:
        with runtime.store.session() as session:
            interaction = find_by_message(session, channel, message_ts)
            if interaction is None:
                return
            interaction_id, thread_ts = interaction.id, interaction.thread_ts
    except StoreError as exc:
        BACKEND_ERRORS.labels(backend="store").inc()
        log.error("reaction on %s in %s not looked up: %s", message_ts, channel, exc)
        return
    recorded = record_vote(runtime, interaction_id, vote=vote, user=user, source="reaction")
    if not isinstance(recorded, tuple) or vote != "down":
        return
    feedback_id, language = recorded
    prompt = text(language, "flagged")
    try:
        client.chat_postEphemeral(
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            text=prompt,
            blocks=[
                section(prompt),
                button_row(FEEDBACK_DETAILS_ACTION, text(language, "tell_more"), f"{feedback_id}:{language}"),
            ],
        )
    except SlackClientError as exc:
        log.warning("feedback prompt for %s not posted: %s", user, exc)


def register_feedback(app: App, runtime: Runtime, access: SlackAccess, pools: Pools) -> None:
    def chore(job: Callable[[], None], respond: Respond | None, language: str) -> None:
        if pools.chores.submit(job) != "accepted" and respond is not None:
            _tell(respond, text(language, "busy"))

    def on_feedback_button(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        action = body["actions"][0]
        vote, _, interaction_id = str(action.get("value", "")).partition(":")
        if vote not in ("up", "down") or not interaction_id:
            log.warning("feedback click with unexpected value %r", action.get("value"))
            return
        user = body["user"]["id"]
        language = detect_language(str((body.get("message") or {}).get("text") or ""))
        feedback_id = new_id()
        if vote == "down":
            try:
                client.views_open(
                    trigger_id=body["trigger_id"],
                    view=feedback_modal(feedback_id, language, interaction_id=interaction_id),
                )
            except SlackClientError as exc:
                log.warning("feedback modal for %s not opened: %s", interaction_id, exc)

        def store() -> None:
            recorded = record_vote(
                runtime, interaction_id, vote=vote, user=user, source="button", feedback_id=feedback_id
            )
            if recorded is None:
                _tell(respond, text(language, "feedback_not_saved"))
            elif vote == "up":
                _tell(respond, text(recorded[1] if isinstance(recorded, tuple) else language, "thanks"))

        chore(store, respond, language)

    def on_details_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        feedback_id, _, language = str(body["actions"][0].get("value", "")).partition(":")
        try:
            client.views_open(
                trigger_id=body["trigger_id"], view=feedback_modal(feedback_id, language or "en")
            )
        except SlackClientError as exc:
            log.warning("feedback modal for %s not opened: %s", feedback_id, exc)

    def on_sources_button(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        interaction_id = str(body["actions"][0].get("value", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        user = str((body.get("user") or {}).get("id", ""))

        def show() -> None:
            # the clicker's scope where they clicked: a message can be shared beyond its first audience
            scope = access.scope(client, user=user, channel=channel, is_dm=channel.startswith("D"))
            try:
                with runtime.store.session() as session:
                    interaction = get_interaction(session, interaction_id)
                    if interaction is None or not may_see((c.collection for c in interaction.chunks), scope):
                        return
                    used = [c for c in interaction.chunks if c.citation] or list(interaction.chunks)
                    title = text(interaction.language, "used_sources")
                    blocks = chunk_blocks(
                        title,
                        sorted(used, key=lambda c: (c.citation or 99, c.rank)),
                        spans=supporting_spans(interaction.grounding or {}),
                        language=interaction.language,
                    )
            except StoreError as exc:
                BACKEND_ERRORS.labels(backend="store").inc()
                log.error("sources of %s not loaded: %s", interaction_id, exc)
                _tell(respond, unavailable("en", "store"))
                return
            respond(text=title, blocks=blocks, response_type="ephemeral", replace_original=False)

        chore(show, respond, "en")

    def on_modal_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        values = view.get("state", {}).get("values", {})
        reason = ((values.get("reason") or {}).get("reason") or {}).get("selected_option") or {}
        comment = ((values.get("comment") or {}).get("comment") or {}).get("value")
        correct = ((values.get("correct_answer") or {}).get("correct_answer") or {}).get("value")
        metadata = json.loads(view.get("private_metadata") or "{}")
        feedback_id, interaction_id = metadata.get("feedback_id", ""), metadata.get("interaction_id", "")
        user = body["user"]["id"]

        def store() -> None:
            try:
                with runtime.store.session() as session:
                    if session.get(Feedback, feedback_id) is None and interaction_id:
                        record_feedback(  # the click's own write has not happened (yet): this is the vote
                            session, interaction_id, vote="down", user=user,
                            rules=runtime.settings.store.flags, source="button", feedback_id=feedback_id,
                        )  # fmt: skip
                    add_feedback_details(
                        session, feedback_id, user=user, reason=reason.get("value"),
                        comment=comment, correct_answer=correct,
                    )  # fmt: skip
            except StoreError as exc:
                log.error("feedback details for %s not stored: %s", feedback_id, exc)

        chore(store, None, "en")

    app.action(FEEDBACK_ACTION)(on_feedback_button)
    app.action(FEEDBACK_DETAILS_ACTION)(on_details_button)
    app.action(SOURCES_ACTION)(on_sources_button)
    app.view(MODAL_CALLBACK)(on_modal_submit)


def _tell(respond: Respond, message: str) -> None:
    try:
        respond(text=message, response_type="ephemeral", replace_original=False)
    except SlackClientError as exc:
        log.warning("ephemeral reply not sent: %s", exc)
