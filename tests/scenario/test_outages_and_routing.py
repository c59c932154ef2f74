"""Scenarios that need no generated answer: routing, outages, signatures, commands without the LLM.

The runtime's LLM points at a closed port, so a question Bron decides to answer ends in the polite
outage message; that message is how these tests see that a question was (or was not) routed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from slack_bolt import App
from starlette.testclient import TestClient

from bot.runtime import Runtime
from bot.slack.http import build_asgi
from bot.slack.metrics import REGISTRY
from tests.fakeslack import FakeSlack, payloads, sign
from tests.fakeslack.ids import CHANNEL_ID, DM_CHANNEL_ID, USER_ID
from tests.scenario.harness import (
    ANSWER_ALL_CHANNEL,
    REVIEWER,
    SECRET,
    block_text,
    build,
    runtime_for,
    send,
    wait_for_text,
)

SORRY_LLM_EN = "Sorry, I can't reach the language model right now"
SORRY_LLM_NL = "Sorry, ik kan het taalmodel nu niet bereiken"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture
def app(offline_runtime: Runtime, fake: FakeSlack) -> App:
    return build(offline_runtime, fake)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_llm_down_answers_politely_in_the_thread_in_the_askers_language(app: App, fake: FakeSlack) -> None:
    errors_before = metric("bron_backend_errors_total", backend="llm")
    failed_before = metric("bron_answers_total", outcome="error")
    english = payloads.event_callback(payloads.app_mention("How many vacation days do I get per year?"))
    dutch = payloads.event_callback(payloads.app_mention("Hoeveel vakantiedagen krijg ik per jaar?"))

    assert send(app, fake, english).status == 200
    assert send(app, fake, dutch).status == 200

    wait_for_text(fake, CHANNEL_ID, english["event"]["ts"], SORRY_LLM_EN)
    wait_for_text(fake, CHANNEL_ID, dutch["event"]["ts"], SORRY_LLM_NL)
    assert metric("bron_backend_errors_total", backend="llm") == errors_before + 2
    assert metric("bron_answers_total", outcome="error") == failed_before + 2
    fake.assert_all_calls_valid()


def test_the_bot_keeps_answering_after_an_outage(app: App, fake: FakeSlack) -> None:
    for question in ("Wat is het verlofbeleid?", "Hoe declareer ik reiskosten?"):
        event = payloads.event_callback(payloads.app_mention(question))
        send(app, fake, event)
        wait_for_text(fake, CHANNEL_ID, event["event"]["ts"], SORRY_LLM_NL)


def test_answer_all_channel_answers_unmentioned_questions_only(app: App, fake: FakeSlack) -> None:
    statement = payloads.event_callback(
        payloads.message_im("Ik ga morgen op vakantie.", channel=ANSWER_ALL_CHANNEL)
    )
    question = payloads.event_callback(
        payloads.message_im("Hoeveel vakantiedagen heb ik?", channel=ANSWER_ALL_CHANNEL)
    )
    elsewhere = payloads.event_callback(
        payloads.message_im("Hoeveel vakantiedagen heb ik?", channel=CHANNEL_ID)
    )
    for body in (statement, question, elsewhere):
        body["event"]["channel_type"] = "channel"
        send(app, fake, body)

    wait_for_text(fake, ANSWER_ALL_CHANNEL, question["event"]["ts"], SORRY_LLM_NL)
    time.sleep(0.5)  # the ignored messages had the same chance to be answered
    assert fake.messages(ANSWER_ALL_CHANNEL, statement["event"]["ts"]) == []
    assert fake.messages(CHANNEL_ID) == []


def test_a_direct_message_is_answered_in_a_thread(app: App, fake: FakeSlack) -> None:
    dm = payloads.event_callback(payloads.message_im("How do I claim travel expenses?"))
    send(app, fake, dm)
    reply = wait_for_text(fake, DM_CHANNEL_ID, dm["event"]["ts"], SORRY_LLM_EN)
    assert reply["thread_ts"] == dm["event"]["ts"]


def test_unsigned_or_forged_requests_get_401_and_cause_no_web_api_call(
    offline_runtime: Runtime, app: App, fake: FakeSlack
) -> None:
    client = TestClient(build_asgi(app, runtime_for(offline_runtime, fake)))
    calls_before = len(fake.calls())
    body = json.dumps(payloads.event_callback(payloads.app_mention("Hoeveel vakantiedagen?")))

    forged = client.post("/slack/events", content=body, headers=dict(sign("not-the-secret", body)))  # type: ignore[arg-type]
    stale = client.post(
        "/slack/events",
        content=body,
        headers=dict(sign(SECRET, body, int(time.time()) - 600)),  # type: ignore[arg-type]
    )
    unsigned = client.post("/slack/events", content=body, headers={"Content-Type": "application/json"})

    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    time.sleep(0.5)
    assert len(fake.calls()) == calls_before


def test_health_readiness_and_metrics_endpoints(offline_runtime: Runtime, app: App, fake: FakeSlack) -> None:
    client = TestClient(build_asgi(app, runtime_for(offline_runtime, fake)))

    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    # the LLM is down: Bron stays ready (users get the outage message, Slack no 503s) and says what is down
    assert ready.status_code == 200 and ready.json()["degraded"] == ["llm"]
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["search"] == "ok"
    assert checks["llm"] == "unavailable (LLMUnavailableError)"  # the type, never the exception's text
    exposition = client.get("/metrics").text
    assert 'bron_dependency_up{dependency="llm"} 0.0' in exposition
    assert 'bron_dependency_up{dependency="search"} 1.0' in exposition
    for name in (
        "bron_questions_total",
        "bron_answer_seconds",
        "bron_backend_errors_total",
        "bron_flags_total",
        "bron_slack_events_total",
        "bron_answers_total",
        "bron_answer_groundedness",
        "bron_thumbs_down_total",
        "bron_time_to_first_token_seconds",
        "bron_queue_depth",
        "bron_queue_wait_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in exposition


def test_reactions_on_messages_that_are_not_bron_answers_are_ignored(app: App, fake: FakeSlack) -> None:
    user_message_ts = fake.add_message(CHANNEL_ID, "Lunch?", user=USER_ID)
    send(
        app,
        fake,
        payloads.event_callback(
            payloads.reaction_added("-1", item_channel=CHANNEL_ID, item_ts=user_message_ts)
        ),
    )
    time.sleep(0.5)
    assert fake.calls("chat.postEphemeral") == [] and fake.calls("views.open") == []


def test_bron_sources_with_a_question_searches_without_generating(app: App, fake: FakeSlack) -> None:
    url = fake.new_response_url()
    form = payloads.slash_command("/bron-sources", "vakantiedagen meenemen", response_url=url)
    assert send(app, fake, form).status == 200

    [post] = fake.wait_for_response(url=url)
    assert post.body["response_type"] == "ephemeral"
    shown = block_text(post.body["blocks"])
    assert "[1] <https://intranet.veldhoven-koffie.example/hr/vakantie-en-verlof|Vakantie en verlof" in shown
    assert fake.calls("chat.postMessage") == []


def test_bron_flags_is_for_reviewers_only(app: App, fake: FakeSlack) -> None:
    outsider, reviewer = fake.new_response_url(), fake.new_response_url()
    send(app, fake, payloads.slash_command("/bron-flags", "", user=USER_ID, response_url=outsider))
    send(app, fake, payloads.slash_command("/bron-flags", "", user=REVIEWER, response_url=reviewer))

    assert fake.wait_for_response(url=outsider)[0].body["text"] == "Only reviewers can see the flags."
    answer = fake.wait_for_response(url=reviewer)[0].body
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] in ("Latest open flags", "No open flags. 🎉")


def test_empty_bron_command_is_answered_in_the_acknowledgement(app: App, fake: FakeSlack) -> None:
    response = send(app, fake, payloads.slash_command("/bron", "  ", response_url=fake.new_response_url()))
    assert response.status == 200
    assert "Ask me a question" in response.body


def test_bron_sources_with_a_link_that_is_no_answer_searches_the_words_after_it(
    app: App, fake: FakeSlack
) -> None:
    link = "https://bron-test.slack.com/archives/C0123456789/p1700000000000100"
    words, alone = fake.new_response_url(), fake.new_response_url()
    send(
        app,
        fake,
        payloads.slash_command("/bron-sources", f"{link} vakantiedagen meenemen", response_url=words),
    )
    send(app, fake, payloads.slash_command("/bron-sources", f"<{link}>", response_url=alone))

    searched = fake.wait_for_response(url=words)[0].body
    assert searched["text"] == "Dichtstbijzijnde bronnen voor “vakantiedagen meenemen”"
    assert "vakantie-en-verlof" in block_text(searched["blocks"])
    assert (
        fake.wait_for_response(url=alone)[0]
        .body["text"]
        .startswith("I can't find a Bron answer at that link.")
    )


def test_a_vote_that_cannot_be_stored_is_answered_not_dropped(app: App, fake: FakeSlack) -> None:
    url = fake.new_response_url()
    click = payloads.block_actions(
        [payloads.feedback_buttons_action("up:no-such-answer", action_id="bron_feedback")],
        message={"type": "message", "ts": payloads.unique_ts(), "text": "An answer."},
        response_url=url,
    )
    assert send(app, fake, payloads.interactive_body(click)).status == 200
    [reply] = fake.wait_for_response(url=url)
    assert (
        reply.body["text"]
        == "Sorry, I couldn't record your feedback right now; please try again in a few minutes."
    )
