"""Questions answered for real (sample handbook, local LLM) through the HTTP-mode app and the fake Slack.

One mention is answered once per module and then reused: retried, followed up, rated with a
reaction and with the buttons, and looked up with `/bron-sources`, as a user would in one thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack.blocks import FEEDBACK_ACTION, FEEDBACK_DETAILS_ACTION
from bot.slack.feedback_modal import MODAL_CALLBACK
from bot.slack.metrics import REGISTRY
from feedback.models import Feedback, Interaction
from feedback.store import find_by_message
from tests.fakeslack import FakeSlack, check_blocks, payloads
from tests.fakeslack.ids import CHANNEL_ID, TEAM_DOMAIN, USER_ID
from tests.fakeslack.web_api import Message
from tests.scenario.harness import block_text, build, send, wait_for_answers

pytestmark = [pytest.mark.llm, pytest.mark.slow]
QUESTION = "How many vacation days does a full-time employee get per year?"


@dataclass
class Answered:
    fake: FakeSlack
    app: App
    runtime: Runtime
    event: dict[str, Any]
    message: Message

    @property
    def thread_ts(self) -> str:
        return str(self.event["event"]["ts"])


@pytest.fixture(scope="module")
def answered(runtime: Runtime) -> Iterator[Answered]:
    with FakeSlack() as fake:
        app = build(runtime, fake)
        event = payloads.event_callback(payloads.app_mention(QUESTION))
        assert send(app, fake, event).status == 200
        [message] = wait_for_answers(fake, CHANNEL_ID, event["event"]["ts"])
        yield Answered(fake=fake, app=app, runtime=runtime, event=event, message=message)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_mention_is_answered_in_its_thread_with_numbered_source_links(answered: Answered) -> None:
    message = answered.message
    assert message["thread_ts"] == answered.thread_ts
    shown = block_text(message["blocks"])
    assert "[1] <https://intranet.veldhoven-koffie.example/" in shown
    assert "Grounded: " in shown or "Closest sources" in shown
    assert check_blocks(message["blocks"]) == []
    # streamed: startStream, appendStream..., stopStream with the sources and buttons
    assert answered.fake.calls("chat.startStream") and answered.fake.calls("chat.stopStream")
    answered.fake.assert_all_calls_valid()


def test_the_answer_is_recorded_with_its_message_ts(answered: Answered) -> None:
    # the link is written just after the final message is posted: wait for it, don't race it
    deadline = time.monotonic() + 10
    while True:
        with answered.runtime.store.session() as session:
            interaction = find_by_message(session, CHANNEL_ID, answered.message["ts"])
            if interaction is not None or time.monotonic() > deadline:
                break
        time.sleep(0.1)
    with answered.runtime.store.session() as session:
        interaction = find_by_message(session, CHANNEL_ID, answered.message["ts"])
        assert interaction is not None
        assert (interaction.question, interaction.surface, interaction.asker) == (QUESTION, "slack", USER_ID)
        assert interaction.thread_ts == answered.thread_ts
        assert interaction.chunks and interaction.answer


def test_a_retried_event_is_acknowledged_but_answered_once(answered: Answered) -> None:
    duplicates_before = metric("bron_slack_events_total", outcome="duplicate")
    for attempt in (1, 2):
        assert send(answered.app, answered.fake, answered.event, retry=attempt).status == 200
    assert metric("bron_slack_events_total", outcome="duplicate") == duplicates_before + 2
    time.sleep(1)
    with answered.runtime.store.session() as session:
        same = session.scalars(select(Interaction).where(Interaction.thread_ts == answered.thread_ts)).all()
    assert len(same) == 1


def test_a_follow_up_in_the_thread_is_answered_without_a_mention(answered: Answered) -> None:
    fake = answered.fake
    follow_up = payloads.event_callback(
        payloads.message_im(
            "And how many extra days from age 55?", channel=CHANNEL_ID, thread_ts=answered.thread_ts
        )
    )
    follow_up["event"]["channel_type"] = "channel"
    send(answered.app, fake, follow_up)

    first, _second = wait_for_answers(fake, CHANNEL_ID, answered.thread_ts, n=2)
    assert first["ts"] == answered.message["ts"]
    [replies] = [c for c in fake.calls("conversations.replies") if c.args.get("ts") == answered.thread_ts]
    assert replies.args["channel"] == CHANNEL_ID
    fake.assert_all_calls_valid()


def test_thumbs_down_reaction_records_feedback_flags_and_offers_the_modal(answered: Answered) -> None:
    fake, app = answered.fake, answered.app
    reaction = payloads.reaction_added(
        "thumbsdown::skin-tone-3", item_channel=CHANNEL_ID, item_ts=answered.message["ts"]
    )
    send(app, fake, payloads.event_callback(reaction))

    [prompt] = fake.wait_for_call("chat.postEphemeral")
    assert prompt.args["user"] == USER_ID and prompt.args["thread_ts"] == answered.thread_ts
    with answered.runtime.store.session() as session:
        interaction = find_by_message(session, CHANNEL_ID, answered.message["ts"])
        assert interaction is not None
        [feedback] = [f for f in interaction.feedback if f.source == "reaction"]
        assert feedback.vote == "down" and feedback.user == USER_ID
        assert any(f.status == "open" and "thumbs_down" in f.reasons for f in interaction.flags)

    # "Tell us more" opens the modal; submitting it fills in the same feedback row
    button = (
        json.loads(prompt.args["blocks"]) if isinstance(prompt.args["blocks"], str) else prompt.args["blocks"]
    )
    value = button[1]["elements"][0]["value"]
    click = payloads.block_actions(
        [payloads.button_action(FEEDBACK_DETAILS_ACTION, value)],
        message={"ts": answered.message["ts"], "type": "message", "text": ""},
        response_url=fake.new_response_url(),
    )
    send(app, fake, payloads.interactive_body(click))
    [opened] = fake.wait_for_call("views.open")
    view = json.loads(opened.args["view"]) if isinstance(opened.args["view"], str) else opened.args["view"]
    submit = payloads.view_submission(
        MODAL_CALLBACK,
        {
            "reason": {"reason": {"type": "radio_buttons", "selected_option": {"value": "outdated"}}},
            "comment": {"comment": {"type": "plain_text_input", "value": "Changed in 2026"}},
            "correct_answer": {"correct_answer": {"type": "plain_text_input", "value": "26 days"}},
        },
        private_metadata=view["private_metadata"],
    )
    assert send(app, fake, payloads.interactive_body(submit)).status == 200
    _wait_for_reason(answered.runtime, feedback.id, "outdated")
    with answered.runtime.store.session() as session:
        stored = session.get(Feedback, feedback.id)
        assert stored is not None and (stored.comment, stored.correct_answer) == (
            "Changed in 2026",
            "26 days",
        )
    fake.assert_all_calls_valid()


def test_feedback_buttons_record_votes_and_thumbs_down_opens_the_modal(answered: Answered) -> None:
    fake, app = answered.fake, answered.app
    opened_before = len(fake.calls("views.open"))
    downs_before = REGISTRY.get_sample_value("bron_thumbs_down_total", {"source": "button"}) or 0
    [element] = next(b for b in answered.message["blocks"] if b["type"] == "context_actions")["elements"]
    for button in ("positive_button", "negative_button"):
        click = payloads.block_actions(
            [payloads.feedback_buttons_action(element[button]["value"], action_id=FEEDBACK_ACTION)],
            message=answered.message,
            response_url=fake.new_response_url(),
        )
        assert send(app, fake, payloads.interactive_body(click)).status == 200

    thanks = fake.wait_for_response()[-1]
    assert thanks.body["text"] == "Thanks for the feedback!"
    opened = fake.wait_for_call("views.open", n=opened_before + 1)[-1]
    assert "radio_buttons" in json.dumps(opened.args["view"])
    deadline = time.monotonic() + 10  # the modal opens first; the vote is written just after
    while True:
        with answered.runtime.store.session() as session:
            interaction = find_by_message(session, CHANNEL_ID, answered.message["ts"])
            assert interaction is not None
            votes = sorted(f.vote for f in interaction.feedback if f.source == "button")
        if votes == ["down", "up"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert votes == ["down", "up"]
    assert REGISTRY.get_sample_value("bron_thumbs_down_total", {"source": "button"}) == downs_before + 1


def test_bron_sources_with_a_message_link_shows_the_chunks_that_answer_used(answered: Answered) -> None:
    fake = answered.fake
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{CHANNEL_ID}/p{answered.message['ts'].replace('.', '')}"
    url = fake.new_response_url()
    send(answered.app, fake, payloads.slash_command("/bron-sources", link, response_url=url))

    [post] = fake.wait_for_response(url=url)
    with answered.runtime.store.session() as session:
        interaction = find_by_message(session, CHANNEL_ID, answered.message["ts"])
        assert interaction is not None
        used = [c for c in interaction.chunks if c.citation] or interaction.chunks
        expected = {c.location for c in used}
    shown = block_text(post.body["blocks"])
    assert post.body["response_type"] == "ephemeral"
    assert all(location in shown for location in expected)
    assert check_blocks(post.body["blocks"]) == []


def test_bron_command_answers_ephemerally(answered: Answered) -> None:
    fake = answered.fake
    posts_before = len(fake.calls("chat.postMessage")) + len(fake.calls("chat.startStream"))
    url = fake.new_response_url()
    send(
        answered.app,
        fake,
        payloads.slash_command("/bron", "Hoeveel vakantiedagen krijg ik per jaar?", response_url=url),
    )

    [post] = fake.wait_for_response(url=url, timeout=300)  # the local model on a busy 2-core host
    assert post.body["response_type"] == "ephemeral"
    assert check_blocks(post.body["blocks"]) == []
    assert "Bronnen" in block_text(post.body["blocks"]) or "Dichtstbijzijnde bronnen" in block_text(
        post.body["blocks"]
    )
    assert len(fake.calls("chat.postMessage")) + len(fake.calls("chat.startStream")) == posts_before
    with answered.runtime.store.session() as session:
        recorded = session.scalars(select(Interaction).where(Interaction.surface == "slack_command")).all()
    assert recorded


def _wait_for_reason(runtime: Runtime, feedback_id: str, reason: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.store.session() as session:
            stored = session.get(Feedback, feedback_id)
            if stored is not None and stored.reason == reason:
                return
        time.sleep(0.05)
    raise AssertionError(f"feedback {feedback_id} never got reason {reason!r}")
