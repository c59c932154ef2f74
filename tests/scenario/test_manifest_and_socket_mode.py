"""The manifest matches the code, and every subscribed event is acknowledged over Socket Mode.

Socket Mode does not acknowledge an event no listener matches, and Slack then resends it; so each
event the manifest subscribes to is pushed through the fake's websocket and must be acked.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt.adapter.socket_mode import SocketModeHandler
from starlette.testclient import TestClient

from bot.runtime import Runtime
from bot.slack import spec
from bot.slack.http import build_asgi
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import BOT_USER_ID, CHANNEL_ID, DM_CHANNEL_ID
from tests.fakeslack.manifest import check_manifest, event_reference_scopes, methods_called, needed_scopes
from tests.scenario.harness import build, runtime_for, send, wait_for_text

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yaml"
SORRY_NL = "Sorry, ik kan het taalmodel nu niet bereiken"


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


BOT_SOURCES = sorted((Path(__file__).resolve().parents[2] / "bot").rglob("*.py"))


def _problems(m: dict[str, Any]) -> list[str]:
    """Everything wrong with a manifest: Slack's own checks, then scopes and events the code does not use."""
    problems = check_manifest(m)
    events = m["settings"]["event_subscriptions"]["bot_events"]
    problems += [f"event {e}: the code has no listener for it" for e in events if e not in spec.EVENT_SCOPES]
    used = {e: spec.EVENT_SCOPES[e] for e in events if e in spec.EVENT_SCOPES}
    needed = needed_scopes(used, methods_called(BOT_SOURCES), commands=bool(m["features"]["slash_commands"]))
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    problems += [f"scope {s}: nothing in the code needs it" for s in sorted(scopes - needed)]
    problems += [f"scope {s}: the code needs it, the manifest lacks it" for s in sorted(needed - scopes)]
    return problems


def test_manifest_is_accepted_for_a_new_app_and_asks_only_for_what_the_code_uses() -> None:
    m = manifest()
    assert _problems(m) == []
    assert sorted(c["command"] for c in m["features"]["slash_commands"]) == sorted(spec.COMMANDS)
    assert sorted(m["settings"]["event_subscriptions"]["bot_events"]) == sorted(spec.BOT_EVENTS)
    assert sorted(m["oauth_config"]["scopes"]["bot"]) == sorted(spec.BOT_SCOPES)
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True


def test_spec_event_scopes_agree_with_slacks_event_reference() -> None:
    for event, scopes in spec.EVENT_SCOPES.items():
        reference = event_reference_scopes(event)
        if reference is not None:
            assert list(scopes) == reference, event


def test_manifest_check_refuses_assistant_view_and_unused_scopes_or_events() -> None:
    legacy = copy.deepcopy(manifest())
    legacy["features"]["assistant_view"] = {"assistant_description": "Ask about the handbook."}
    del legacy["features"]["agent_view"]
    assert "features.assistant_view: new apps must use features.agent_view" in _problems(legacy)

    extra_scope = copy.deepcopy(manifest())
    extra_scope["oauth_config"]["scopes"]["bot"].append("files:read")
    assert _problems(extra_scope) == ["scope files:read: nothing in the code needs it"]

    extra_event = copy.deepcopy(manifest())
    extra_event["settings"]["event_subscriptions"]["bot_events"].append("assistant_thread_started")
    assert _problems(extra_event) == ["event assistant_thread_started: the code has no listener for it"]

    missing = copy.deepcopy(manifest())
    missing["oauth_config"]["scopes"]["bot"].remove("mpim:history")
    assert _problems(missing) == ["scope mpim:history: the code needs it, the manifest lacks it"]

    unknown_key = copy.deepcopy(manifest())
    unknown_key["features"]["agent_view"]["greeting"] = "Hi"
    assert any(p.startswith("features.agent_view:") for p in _problems(unknown_key))


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
    if kind == "message.mpim":
        event = payloads.message_im("just chatting", channel="G0GROUPDM01")
        event["channel_type"] = "mpim"
        return event
    if kind == "app_home_opened":
        return payloads.app_home_opened(tab="home")
    if kind == "app_context_changed":
        return payloads.app_context_changed()
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


def test_messages_tab_greets_once_and_sets_prompts_without_a_thread(offline_runtime: Runtime) -> None:
    with FakeSlack() as fake:
        app = build(offline_runtime, fake)
        send(app, fake, payloads.event_callback(payloads.app_home_opened()))
        [prompts] = fake.wait_for_call("assistant.threads.setSuggestedPrompts")
        assert "thread_ts" not in prompts.args  # with one, an agent app's prompts silently do nothing
        assert [p["title"] for p in fake.workspace.prompts[DM_CHANNEL_ID]] == [
            "Vakantiedagen",
            "Expenses",
            "Ziekmelding",
        ]
        [greeting] = fake.messages(DM_CHANNEL_ID)
        assert greeting["text"].startswith("Hi! Ask me anything")

        send(app, fake, payloads.event_callback(payloads.app_home_opened()))  # opened again: no second hello
        fake.wait_for_call("assistant.threads.setSuggestedPrompts", n=2)
        send(app, fake, payloads.event_callback(payloads.app_home_opened(tab="home")))
        send(app, fake, payloads.event_callback(payloads.app_context_changed()))
        fake.wait_for_call("assistant.threads.setSuggestedPrompts", n=3)
        assert len(fake.messages(DM_CHANNEL_ID)) == 1

        question = payloads.message_im("Hoeveel vakantiedagen heb ik?")
        send(app, fake, payloads.event_callback(question))
        wait_for_text(fake, DM_CHANNEL_ID, question["ts"], SORRY_NL)
        fake.assert_all_calls_valid()


def test_socket_mode_readiness_follows_the_socket(offline_runtime: Runtime) -> None:
    with FakeSlack() as fake:
        handler = SocketModeHandler(build(offline_runtime, fake, http=False), app_token="xapp-scenario")
        health = TestClient(
            build_asgi(None, runtime_for(offline_runtime, fake), socket_connected=handler.client.is_connected)
        )
        before = health.get("/readyz")
        assert (before.status_code, before.json()["checks"]["slack_socket"]) == (
            503,
            "unavailable (disconnected)",
        )
        handler.connect()  # type: ignore[no-untyped-call]
        try:
            fake.wait_for_socket_connection()
            ready = health.get("/readyz")
            assert (ready.status_code, ready.json()["checks"]["slack_socket"]) == (200, "ok")
        finally:
            handler.close()  # type: ignore[no-untyped-call]
        assert health.get("/readyz").status_code == 503
