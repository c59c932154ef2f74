"""`ThreadReply` against the fake Slack: streamed answers, live renumbering, and the post+update fallback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack.streaming import CitationRenumberer, ThreadReply
from tests.fakeslack import FakeSlack
from tests.fakeslack.ids import CHANNEL_ID, TEAM_ID, USER_ID

FOOTER: list[dict[str, Any]] = [
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Grounded: 0.92"}]}
]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def reply(fake: FakeSlack, thread_ts: str) -> ThreadReply:
    client = WebClient(token="xoxb-test", base_url=fake.base_url)
    return ThreadReply(
        client, channel=CHANNEL_ID, thread_ts=thread_ts, recipient_team_id=TEAM_ID,
        recipient_user_id=USER_ID, n_sources=6, flush_seconds=0,
    )  # fmt: skip


def test_markers_are_renumbered_in_order_of_first_use_even_when_split_across_tokens() -> None:
    renumber = CitationRenumberer(n_sources=6)
    shown = "".join(renumber.feed(t) for t in ["Twenty-five days [", "4", "]", " or [2, 4]", " and [9]."])
    shown += renumber.flush()
    assert shown == "Twenty-five days [1] or [2][1] and ."


def test_a_streamed_answer_ends_as_one_message_with_its_footer(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "How many days?", user=USER_ID)
    r = reply(fake, question_ts)
    for token in ["Twenty-five ", "days ", "[3]."]:
        r.on_token(token)
    ts = r.finish(text="Twenty-five days [1].", blocks=FOOTER, footer=FOOTER, streamed_ok=True)

    [message] = fake.messages(CHANNEL_ID, question_ts)
    assert (message["ts"], message["text"], message["blocks"]) == (ts, "Twenty-five days [1].", FOOTER)
    assert fake.calls("chat.update") == []
    fake.assert_all_calls_valid()


def test_refused_streaming_falls_back_to_post_and_update(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "Hoeveel dagen?", user=USER_ID)
    fake.fail_next("chat.startStream", error="not_allowed")
    r = reply(fake, question_ts)
    for token in ["Vijfentwintig ", "dagen ", "[1]."]:
        r.on_token(token)
    final: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Vijfentwintig dagen [1]."}},
        *FOOTER,
    ]
    ts = r.finish(text="Vijfentwintig dagen [1].", blocks=final, footer=FOOTER, streamed_ok=True)

    [message] = fake.messages(CHANNEL_ID, question_ts)
    assert message["ts"] == ts and message["blocks"] == final
    assert len(fake.calls("chat.postMessage")) == 1 and fake.calls("chat.update")
    fake.assert_all_calls_valid()


def test_a_stream_that_breaks_midway_is_finished_by_an_update(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "How many days?", user=USER_ID)
    fake.fail_next("chat.appendStream", status=500)
    r = reply(fake, question_ts)
    for token in ["Twenty-five ", "days ", "per year [1]."]:
        r.on_token(token)
    final = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Twenty-five days per year [1]."}},
        *FOOTER,
    ]
    ts = r.finish(text="Twenty-five days per year [1].", blocks=final, footer=FOOTER, streamed_ok=True)

    [message] = fake.messages(CHANNEL_ID, question_ts)
    assert message["ts"] == ts and message["blocks"] == final


def test_an_abstention_marker_is_never_shown(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "Who won the cup?", user=USER_ID)
    r = reply(fake, question_ts)
    for token in ["NOT", "_FO", "UND"]:
        r.on_token(token)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "I could not find the answer."}}]
    r.finish(text="I could not find the answer.", blocks=blocks, footer=[], streamed_ok=False)

    assert fake.calls("chat.startStream") == []
    [message] = fake.messages(CHANNEL_ID, question_ts)
    assert message["text"] == "I could not find the answer."
