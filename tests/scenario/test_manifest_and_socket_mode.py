"""The manifest matches the code, and every subscribed event is acknowledged over Socket Mode.

Socket Mode does not acknowledge an event no listener matches, and Slack then resends it; so each
event the manifest subscribes to is pushed through the fake's websocket and must be acked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.runtime import Runtime
from bot.slack import spec
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import BOT_USER_ID, CHANNEL_ID, DM_CHANNEL_ID
from tests.scenario.harness import build, send, wait_for_text

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yaml"
SORRY_NL = "Sorry, ik kan het taalmodel nu niet bereiken"


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_manifest_lists_exactly_the_commands_events_and_scopes_the_code_uses() -> None:
    m = manifest()
    assert sorted(c["command"] for c in m["features"]["slash_commands"]) == sorted(spec.COMMANDS)
    assert sorted(m["settings"]["event_subscriptions"]["bot_events"]) == sorted(spec.BOT_EVENTS)
    assert sorted(m["oauth_config"]["scopes"]["bot"]) == sorted(spec.BOT_SCOPES)
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True


def _sample_event(kind: str) -> dict[str, Any]:
    """A realistic payload for each subscribed event type (content Bron ignores, so no answer follows)."""
    if kind == "app_mention":
        return payloads.app_mention(f"<@{BOT_USER_ID}>")  # an empty question
    if kind == "message.channels":
        event = payloads.message_im("just chatting", channel=CHANNEL_ID)
        event["channel_type"] = "channel"
        return event
    if kind == "message.groups":
        event = payloads.message_im("just chatting", channel="G0PRIVATE01")
        event["channel_type"] = "group"
        return event
    if kind == "message.im":
        event = payloads.message_im("hallo")
        event["subtype"] = "message_changed"  # an edit: acknowledged, not answered
        return event
    if kind == "reaction_added":
        return payloads.reaction_added("tada", item_channel=CHANNEL_ID, item_ts="1700000000.000100")
    if kind == "assistant_thread_started":
        return payloads.assistant_thread_started()
    if kind == "assistant_thread_context_changed":
        started = payloads.assistant_thread_started(context_channel=CHANNEL_ID)
        return {**started, "type": "assistant_thread_context_changed"}
    raise AssertionError(f"no sample for {kind}; add one when subscribing to a new event")


@pytest.fixture
def socket_app(offline_runtime: Runtime) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        handler = SocketModeHandler(build(offline_runtime, fake, http=False), app_token="xapp-scenario")
        handler.connect()  # type: ignore[no-untyped-call]
        try:
            fake.wait_for_socket_connection()
            yield fake
        finally:
            handler.close()  # type: ignore[no-untyped-call]


def test_every_subscribed_event_is_acknowledged_over_socket_mode(socket_app: FakeSlack) -> None:
    for kind in spec.BOT_EVENTS:
        envelope = socket_app.push_event(payloads.event_callback(_sample_event(kind)))
        assert socket_app.wait_for_ack(envelope, timeout=3)["envelope_id"] == envelope, kind


def test_socket_mode_question_is_answered_once_despite_a_redelivery(socket_app: FakeSlack) -> None:
    mention = payloads.event_callback(payloads.app_mention("Hoeveel vakantiedagen krijg ik?"))
    first = socket_app.push_event(mention)
    socket_app.wait_for_ack(first, timeout=3)
    again = socket_app.push_event(mention, retry_attempt=1)
    socket_app.wait_for_ack(again, timeout=3)

    wait_for_text(socket_app, CHANNEL_ID, mention["event"]["ts"], SORRY_NL)
    socket_app.wait_for_call("chat.postMessage")
    thread = socket_app.messages(CHANNEL_ID, mention["event"]["ts"])
    assert len(thread) == 1
    socket_app.assert_all_calls_valid()


def test_every_command_has_a_listener(offline_runtime: Runtime) -> None:
    with FakeSlack() as fake:
        app = build(offline_runtime, fake)
        for command in spec.COMMANDS:
            url = fake.new_response_url()
            assert send(app, fake, payloads.slash_command(command, "", response_url=url)).status == 200, (
                command
            )


def test_assistant_thread_gets_prompts_status_and_title(offline_runtime: Runtime) -> None:
    with FakeSlack() as fake:
        app = build(offline_runtime, fake)
        started = payloads.assistant_thread_started()
        thread_ts = started["assistant_thread"]["thread_ts"]
        send(app, fake, payloads.event_callback(started))
        [prompts] = fake.wait_for_call("assistant.threads.setSuggestedPrompts")
        assert prompts.args["thread_ts"] == thread_ts

        question = payloads.message_im("Hoeveel vakantiedagen heb ik?", thread_ts=thread_ts)
        send(app, fake, payloads.event_callback(question))
        [status] = fake.wait_for_call("assistant.threads.setStatus")
        assert status.args["status"] == "Ik zoek in het handboek…"
        wait_for_text(fake, DM_CHANNEL_ID, thread_ts, SORRY_NL)
        [title] = fake.wait_for_call("assistant.threads.setTitle")
        assert title.args["title"] == "Hoeveel vakantiedagen heb ik?"
        fake.assert_all_calls_valid()
