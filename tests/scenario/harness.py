"""Driving the Slack app the way Slack does: signed requests in, the fake Slack's records out."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from bot.runtime import Runtime
from bot.settings import ChannelPolicy, SlackSettings
from bot.slack.app import build_app
from tests.fakeslack import FakeSlack, sign
from tests.fakeslack.web_api import Message

SECRET = "scenario-signing-secret"
ANSWER_ALL_CHANNEL = "C0ANSWERALL"
REVIEWER = "U0REVIEWER1"
HANDBOOK_FILES = ("vakantie-en-verlof.md", "parental-leave.md", "declaraties.md", "business-travel-policy.md")
SAMPLE_HANDBOOK = Path(__file__).resolve().parents[2] / "retrieval" / "sample_handbook"


def slack_settings(fake: FakeSlack) -> SlackSettings:
    return SlackSettings(
        bot_token="xoxb-scenario",
        app_token="xapp-scenario",
        signing_secret=SECRET,
        base_url=fake.base_url,
        channels={ANSWER_ALL_CHANNEL: ChannelPolicy(answer_all=True, collections=["public"])},
        answers_per_user=100,  # every scenario asks as the same person; test_answer_pool tests the limit
    )


def runtime_for(runtime: Runtime, fake: FakeSlack) -> Runtime:
    """The shared runtime (index, store, LLM) with Slack settings pointing at this test's fake."""
    settings = runtime.settings.model_copy(update={"slack": slack_settings(fake)})
    return replace(runtime, settings=settings)


def build(runtime: Runtime, fake: FakeSlack, *, http: bool = True) -> App:
    return build_app(runtime_for(runtime, fake), http=http)


def send(
    app: App,
    fake: FakeSlack,
    payload: dict[str, Any] | str,
    *,
    retry: int | None = None,
    secret: str = SECRET,
) -> BoltResponse:
    """POST one signed request through `App.dispatch`; asserts Slack's 3-second acknowledgement."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    if isinstance(payload, dict) and payload.get("type") == "event_callback":
        fake.add_event_message(payload)
    headers: dict[str, Any] = dict(sign(secret, body))
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    started = time.monotonic()
    response = app.dispatch(BoltRequest(body=body, headers=headers))
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"acknowledged after {elapsed:.2f} s; Slack gives up after 3 s"
    return response


def has_feedback(message: Message) -> bool:
    return any(b.get("type") == "context_actions" for b in message.get("blocks") or [])


def wait_for_answers(
    fake: FakeSlack, channel: str, thread_ts: str, *, n: int = 1, timeout: float = 120
) -> list[Message]:
    """The first `n` finished answers (messages with feedback buttons) in the thread."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in fake.messages(channel, thread_ts) if has_feedback(m)]
        if len(found) >= n:
            return found[:n]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"waited {timeout}s for {n} answers in {thread_ts}: {fake.messages(channel)}"
            )
        time.sleep(0.05)


def wait_for_text(
    fake: FakeSlack, channel: str, thread_ts: str, needle: str, *, timeout: float = 60
) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        for message in fake.messages(channel, thread_ts):
            if needle in str(message.get("text", "")):
                return message
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no bot message containing {needle!r} in {thread_ts}: {fake.messages(channel)}"
            )
        time.sleep(0.05)


def dead_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def block_text(blocks: list[dict[str, Any]]) -> str:
    """All the text in a blocks array, for assertions on what the user sees."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)
