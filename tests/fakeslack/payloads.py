"""Builders for the payloads Slack sends to an app, shaped like the real ones.

Event builders return the inner `event`; wrap it with `event_callback` (which
gives each call a fresh `event_id`) for the Events API or a Socket Mode push.
Shapes follow shared/slack-api-ref/events/*.json and Slack's interaction
payload docs; ids come from `tests.fakeslack.ids`.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from tests.fakeslack.ids import APP_ID, BOT_USER_ID, CHANNEL_ID, DM_CHANNEL_ID, TEAM_DOMAIN, TEAM_ID, USER_ID

Payload = dict[str, Any]
_serial = itertools.count(1)


def unique_ts() -> str:
    """A fresh message ts in the range real events use (distinct from the fake's own posts)."""
    return f"1710000000.{next(_serial):06d}"


def event_callback(event: Payload, *, event_id: str | None = None, event_time: int | None = None) -> Payload:
    """The Events API envelope around `event`; every call gets a new `event_id` unless given one."""
    return {
        "token": "verification-token-unused",
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": event_time or int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def _user_message(
    kind: str, text: str, *, channel: str, user: str, ts: str | None, thread_ts: str | None
) -> Payload:
    ts = ts or unique_ts()
    event: Payload = {
        "type": kind,
        "client_msg_id": str(uuid.uuid4()),
        "user": user,
        "text": text,
        "ts": ts,
        "team": TEAM_ID,
        "channel": channel,
        "event_ts": ts,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": uuid.uuid4().hex[:5],
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ],
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def app_mention(
    text: str,
    *,
    channel: str = CHANNEL_ID,
    user: str = USER_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
) -> Payload:
    """`<@bot> text`, as Slack writes a mention (the mention is added unless `text` has it)."""
    mention = f"<@{BOT_USER_ID}>"
    full = text if mention in text else f"{mention} {text}"
    return _user_message("app_mention", full, channel=channel, user=user, ts=ts, thread_ts=thread_ts)


def message_im(
    text: str,
    *,
    channel: str = DM_CHANNEL_ID,
    user: str = USER_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
) -> Payload:
    event = _user_message("message", text, channel=channel, user=user, ts=ts, thread_ts=thread_ts)
    event["channel_type"] = "im"
    return event


def message_deleted(previous: Payload, *, channel: str, channel_type: str = "channel") -> Payload:
    """A person deleted `previous` (Slack's message_deleted subtype: hidden, with `deleted_ts`)."""
    ts = unique_ts()
    return {
        "type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
        "channel_type": channel_type, "ts": ts, "event_ts": ts, "deleted_ts": previous["ts"],
        "previous_message": previous,
    }  # fmt: skip


def message_changed(
    previous: Payload, message: Payload, *, channel: str, channel_type: str = "channel"
) -> Payload:
    """`previous` became `message` (an edit; a thread root deleted with replies becomes a tombstone)."""
    ts = unique_ts()
    return {
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
        "channel_type": channel_type, "ts": ts, "event_ts": ts, "message": message,
        "previous_message": previous,
    }  # fmt: skip


def reaction_added(
    reaction: str, *, item_channel: str, item_ts: str, user: str = USER_ID, item_user: str = BOT_USER_ID
) -> Payload:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item_user": item_user,
        "item": {"type": "message", "channel": item_channel, "ts": item_ts},
        "event_ts": unique_ts(),
    }


def assistant_thread_started(
    *,
    channel: str = DM_CHANNEL_ID,
    user: str = USER_ID,
    thread_ts: str | None = None,
    context_channel: str | None = None,
) -> Payload:
    """A user opened the assistant pane; `context_channel` is the channel they were viewing, if any."""
    context: Payload = {}
    if context_channel:
        context = {"channel_id": context_channel, "team_id": TEAM_ID, "enterprise_id": None}
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": context,
            "channel_id": channel,
            "thread_ts": thread_ts or unique_ts(),
        },
        "event_ts": unique_ts(),
    }


def app_home_opened(*, tab: str = "messages", channel: str = DM_CHANNEL_ID, user: str = USER_ID) -> Payload:
    """A user opened the app's Messages (or Home) tab; under `agent_view` this starts a conversation."""
    return {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab, "event_ts": unique_ts()}


def app_context_changed(
    *, channel: str = DM_CHANNEL_ID, user: str = USER_ID, viewing: str | None = CHANNEL_ID
) -> Payload:
    """The user, with the agent open in `channel`, now views `viewing` (None: nothing in particular)."""
    entities = [{"type": "slack#/types/channel_id", "value": viewing, "team_id": TEAM_ID}] if viewing else []
    return {
        "type": "app_context_changed",
        "user": user,
        "channel": channel,
        "context": {"entities": entities} if entities else {},
        "event_ts": unique_ts(),
    }


def slash_command_fields(
    command: str, text: str, *, user: str = USER_ID, channel: str = CHANNEL_ID, response_url: str
) -> dict[str, str]:
    """The fields of a slash command: the Socket Mode payload, or the form body over HTTP."""
    return {
        "token": "verification-token-unused",
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": "general" if channel.startswith("C") else "directmessage",
        "user_id": user,
        "user_name": f"user-{user.lower()}",
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(),
    }


def slash_command(
    command: str, text: str, *, user: str = USER_ID, channel: str = CHANNEL_ID, response_url: str
) -> str:
    """A slash command form-encoded as Slack POSTs it."""
    return urlencode(
        slash_command_fields(command, text, user=user, channel=channel, response_url=response_url)
    )


def interactive_body(payload: Payload) -> str:
    """How Slack POSTs interactivity over HTTP: a form with one `payload` field holding JSON."""
    return urlencode({"payload": json.dumps(payload)})


def feedback_buttons_action(
    value: str, *, action_id: str = "feedback", block_id: str = "feedback", text: str | None = None
) -> Payload:
    """One click on a feedback_buttons element; `value` is the clicked button's configured value."""
    label = text or ("👍" if "pos" in value else "👎")
    return {
        "type": "feedback_buttons",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
        "action_ts": unique_ts(),
    }


def button_action(action_id: str, value: str, *, block_id: str = "actions", text: str = "Button") -> Payload:
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
        "action_ts": unique_ts(),
    }


def block_actions(
    actions: list[Payload],
    *,
    message: Payload,
    channel: str = CHANNEL_ID,
    user: str = USER_ID,
    response_url: str,
) -> Payload:
    """A click on a message's interactive element; `message` is the bot message as Slack stored it."""
    container: Payload = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {
            "id": user,
            "username": f"user-{user.lower()}",
            "name": f"user-{user.lower()}",
            "team_id": TEAM_ID,
        },
        "api_app_id": APP_ID,
        "token": "verification-token-unused",
        "container": container,
        "trigger_id": trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": actions,
    }


def view_submission(
    callback_id: str,
    values: dict[str, dict[str, Payload]],
    *,
    user: str = USER_ID,
    private_metadata: str = "",
    view_id: str = "V0BRONVIEW1",
) -> Payload:
    """A modal submitted with `values` as `{block_id: {action_id: {"type": ..., "value": ...}}}`."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {
            "id": user,
            "username": f"user-{user.lower()}",
            "name": f"user-{user.lower()}",
            "team_id": TEAM_ID,
        },
        "api_app_id": APP_ID,
        "token": "verification-token-unused",
        "trigger_id": trigger_id(),
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "title": {"type": "plain_text", "text": "Bron"},
            "blocks": [],
            "state": {"values": values},
            "hash": f"{unique_ts()}.hash",
            "app_id": APP_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def trigger_id() -> str:
    """Shaped like Slack's; the middle part is when it was issued (ms), so the fake can expire it after 3 s."""
    return f"{next(_serial)}.{int(time.time() * 1000)}.{uuid.uuid4().hex}"
