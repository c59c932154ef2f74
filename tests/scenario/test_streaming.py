"""`ThreadReply` against the fake Slack: streamed answers, live renumbering, the post+update fallback,
and delivery within the workspace's rate tiers that never holds up the model's tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.slack.streaming import CitationRenumberer, StreamBudget, ThreadReply
from tests.fakeslack import FakeSlack
from tests.fakeslack.ids import CHANNEL_ID, TEAM_ID, USER_ID

FOOTER: list[dict[str, Any]] = [
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Grounded: 0.92"}]}
]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def reply(
    fake: FakeSlack, thread_ts: str, *, budget: StreamBudget | None = None, client: WebClient | None = None
) -> ThreadReply:
    return ThreadReply(
        client or WebClient(token="xoxb-test", base_url=fake.base_url), channel=CHANNEL_ID,
        thread_ts=thread_ts, recipient_team_id=TEAM_ID, recipient_user_id=USER_ID, n_sources=6,
        budget=budget or StreamBudget(appends_per_minute=6000, min_interval=0.01),
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


def test_a_stream_that_breaks_at_its_end_is_finished_by_an_update(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "How many days?", user=USER_ID)
    fake.fail_next("chat.stopStream", status=500)
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
    assert len(fake.calls("chat.startStream")) == 1 and fake.calls("chat.update")


def test_tokens_never_wait_for_slack_while_it_rate_limits_the_stream(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "How many days?", user=USER_ID)
    fake.fail_next("chat.startStream", status=429, retry_after=2)
    client = WebClient(
        token="xoxb-test",
        base_url=fake.base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    r = reply(fake, question_ts, client=client)
    began = time.monotonic()
    for token in ["Twenty-five ", "days ", "per ", "year ", "[1]."]:
        r.on_token(token)
    generating = time.monotonic() - began
    ts = r.finish(text="Twenty-five days per year [1].", blocks=FOOTER, footer=FOOTER, streamed_ok=True)

    assert generating < 0.5  # the 2 s Retry-After was waited out on the sender thread
    limited, started = fake.wait_for_call("chat.startStream", n=2)
    assert (limited.status, started.status) == (429, 200)
    [message] = fake.messages(CHANNEL_ID, question_ts)
    assert (message["ts"], message["text"]) == (ts, "Twenty-five days per year [1].")
    assert fake.unhandled_rate_limits() == []


def test_stream_starts_beyond_the_workspace_budget_post_and_update_instead(fake: FakeSlack) -> None:
    budget = StreamBudget(starts_per_minute=2, appends_per_minute=6000, min_interval=0.01)
    threads = [fake.add_message(CHANNEL_ID, f"Question {n}?", user=USER_ID) for n in range(3)]
    for thread in threads:
        r = reply(fake, thread, budget=budget)
        r.on_token("Twenty-five days [1].")
        r.finish(text="Twenty-five days [1].", blocks=FOOTER, footer=FOOTER, streamed_ok=True)

    assert len(fake.calls("chat.startStream")) == 2
    [posted] = fake.calls("chat.postMessage")
    assert posted.args["thread_ts"] == threads[2]
    assert [len(fake.messages(CHANNEL_ID, t)) for t in threads] == [1, 1, 1]


def test_the_send_cadence_is_shared_by_the_answers_of_a_workspace() -> None:
    budget = StreamBudget(appends_per_minute=40, min_interval=1.0)
    assert budget.interval("T1") == 1.5  # one answer: 40 sends a minute
    for _ in range(10):
        budget.joined("T1")
    assert budget.interval("T1") == 15.0  # ten answers share the same 40
    assert budget.interval("T2") == 1.5  # another workspace has its own limits


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


def test_answers_finishing_together_in_one_channel_are_paced_within_its_post_limit() -> None:
    """Ten answers posted in one channel at once: Slack allows about one post a second per channel, and
    the SDK's retry handler alone (three tries each, all retrying together) left four of them unposted."""
    with FakeSlack(rate_limits=True) as limited:
        client = WebClient(
            token="xoxb-test", base_url=limited.base_url,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
        )  # fmt: skip
        budget = StreamBudget(appends_per_minute=6000, min_interval=0.01)
        threads = [limited.add_message(CHANNEL_ID, f"Question {n}?", user=USER_ID) for n in range(10)]

        def deliver(thread: str) -> str | None:
            r = ThreadReply(
                client, channel=CHANNEL_ID, thread_ts=thread, recipient_team_id=TEAM_ID,
                recipient_user_id=USER_ID, stream=False, n_sources=6, budget=budget,
            )  # fmt: skip
            return r.finish(text="Twenty-five days [1].", blocks=FOOTER, footer=FOOTER, streamed_ok=False)

        with ThreadPoolExecutor(max_workers=10) as answers:
            posted = list(answers.map(deliver, threads))

        assert all(posted)
        assert [len(limited.messages(CHANNEL_ID, t)) for t in threads] == [1] * 10
        assert limited.unhandled_rate_limits() == []


def test_slack_unreachable_mid_answer_is_logged_not_raised() -> None:
    """A connection error is no SlackClientError: it escaped the sender thread (seen at a load test's
    teardown) and the answer thread's final post."""
    from tests.support.noida import free_port

    client = WebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{free_port()}/api/")
    r = ThreadReply(
        client, channel=CHANNEL_ID, thread_ts="1720000000.000000", recipient_team_id=TEAM_ID,
        recipient_user_id=USER_ID, stream=False, n_sources=6,
        budget=StreamBudget(appends_per_minute=6000, min_interval=0.01),
    )  # fmt: skip
    r.on_token("Twenty-five days [1].")
    assert r.finish(text="Twenty-five days [1].", blocks=FOOTER, footer=FOOTER, streamed_ok=False) is None
