"""The fake Slack, driven by the real slack_sdk and slack_bolt clients the bot uses."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, Assistant, BoltRequest, Respond, Say, SetStatus, SetSuggestedPrompts
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.context.say_stream import SayStream
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakeslack import FakeSlack, check_blocks, payloads, sign
from tests.fakeslack.ids import BOT_USER_ID, CHANNEL_ID, DM_CHANNEL_ID, TEAM_ID, USER_ID

SECRET = "fake-signing-secret"
FEEDBACK_BLOCK = {
    "type": "context_actions",
    "elements": [
        {
            "type": "feedback_buttons",
            "action_id": "feedback",
            "positive_button": {"text": {"type": "plain_text", "text": "👍"}, "value": "positive"},
            "negative_button": {"text": {"type": "plain_text", "text": "👎"}, "value": "negative"},
        }
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def client(fake: FakeSlack, **kwargs: Any) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url, **kwargs)


# -- Web API ---------------------------------------------------------------------------------


def test_post_message_is_recorded_answered_and_readable_in_the_thread(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "Hoeveel vakantiedagen?", user=USER_ID)
    web = client(fake)

    posted = web.chat_postMessage(
        channel=CHANNEL_ID, thread_ts=question_ts, text="25 [1]", blocks=[FEEDBACK_BLOCK]
    )

    [call] = fake.wait_for_call("chat.postMessage")
    assert call.args["thread_ts"] == question_ts and call.token == "xoxb-test"
    assert call.content_type == "application/json"
    assert posted["message"]["bot_id"] == "B0BRONBOT1"
    thread = web.conversations_replies(channel=CHANNEL_ID, ts=question_ts)["messages"]
    assert [m["text"] for m in thread] == ["Hoeveel vakantiedagen?", "25 [1]"]
    assert [m["text"] for m in fake.messages(CHANNEL_ID)] == ["25 [1]"]
    fake.assert_all_calls_valid()


def test_ts_values_increase_and_updates_replace_the_text(fake: FakeSlack) -> None:
    web = client(fake)
    first = web.chat_postMessage(channel=CHANNEL_ID, text="Zoeken…")["ts"]
    second = web.chat_postMessage(channel=CHANNEL_ID, text="tweede")["ts"]
    web.chat_update(channel=CHANNEL_ID, ts=first, text="Antwoord")

    assert float(second) > float(first)
    assert [m["text"] for m in fake.messages(CHANNEL_ID)] == ["Antwoord", "tweede"]
    with pytest.raises(SlackApiError) as missing:
        web.chat_update(channel=CHANNEL_ID, ts="1.000000", text="x")
    assert missing.value.response["error"] == "message_not_found"


def test_chat_delete_removes_only_the_bots_own_messages_and_people_delete_and_edit_theirs(
    fake: FakeSlack,
) -> None:
    question = fake.add_message(CHANNEL_ID, "Hoeveel vakantiedagen?", user=USER_ID)
    web = client(fake)
    answer = web.chat_postMessage(channel=CHANNEL_ID, thread_ts=question, text="25 [1]")["ts"]

    with pytest.raises(SlackApiError) as theirs:
        web.chat_delete(channel=CHANNEL_ID, ts=question)
    assert theirs.value.response["error"] == "cant_delete_message"
    assert web.chat_delete(channel=CHANNEL_ID, ts=answer)["ts"] == answer
    assert fake.messages(CHANNEL_ID) == []
    with pytest.raises(SlackApiError) as again:
        web.chat_delete(channel=CHANNEL_ID, ts=answer)
    assert again.value.response["error"] == "message_not_found"
    fake.assert_all_calls_valid()  # chat.delete checked against the method reference

    before, after = fake.edit_message(CHANNEL_ID, question, "Hoeveel vakantiedagen per jaar?")
    assert (before["text"], after["text"], after["edited"]["user"]) == (
        "Hoeveel vakantiedagen?", "Hoeveel vakantiedagen per jaar?", USER_ID,
    )  # fmt: skip
    changed = payloads.message_changed(before, after, channel=CHANNEL_ID)
    assert changed["message"]["ts"] == changed["previous_message"]["ts"] == question
    assert fake.remove_message(CHANNEL_ID, question) is not None
    assert web.conversations_history(channel=CHANNEL_ID)["messages"] == []
    assert payloads.message_deleted(after, channel=CHANNEL_ID)["deleted_ts"] == question


def test_streamed_answer_ends_as_one_message_with_its_blocks(fake: FakeSlack) -> None:
    web = client(fake)
    question_ts = fake.add_message(CHANNEL_ID, "What is the leave policy?", user=USER_ID)

    stream = web.chat_stream(
        channel=CHANNEL_ID, thread_ts=question_ts, buffer_size=4,
        recipient_team_id=TEAM_ID, recipient_user_id=USER_ID,
    )  # fmt: skip
    for piece in ["Twenty-five ", "days ", "[1]."]:
        stream.append(markdown_text=piece)
    stream.stop(blocks=[FEEDBACK_BLOCK])

    [answer] = fake.messages(CHANNEL_ID, question_ts)
    assert answer["text"] == "Twenty-five days [1]."
    assert answer["blocks"] == [FEEDBACK_BLOCK]
    assert len(fake.calls("chat.appendStream")) >= 1
    fake.assert_all_calls_valid()


def test_429_with_retry_after_is_honoured_by_the_rate_limit_handler(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    web = client(fake, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])

    started = time.monotonic()
    web.chat_postMessage(channel=CHANNEL_ID, text="na de limiet")
    elapsed = time.monotonic() - started

    limited, accepted = fake.wait_for_call("chat.postMessage", n=2)
    assert (limited.status, limited.response["error"]) == (429, "ratelimited")
    assert accepted.status == 200
    assert elapsed >= 1.0
    assert [m["text"] for m in fake.messages(CHANNEL_ID)] == ["na de limiet"]


def test_without_a_retry_handler_a_429_surfaces_as_an_error(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=30)
    with pytest.raises(SlackApiError) as limited:
        client(fake).chat_postMessage(channel=CHANNEL_ID, text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["retry-after"] == "30"


def test_ok_false_and_server_errors_fail_once_then_calls_succeed(fake: FakeSlack) -> None:
    web = client(fake)
    fake.fail_next("chat.postMessage", error="channel_not_found")
    fake.fail_next("reactions.add", status=500)

    with pytest.raises(SlackApiError) as not_found:
        web.chat_postMessage(channel="C0GONE00000", text="x")
    with pytest.raises(SlackApiError) as broken:
        web.reactions_add(channel=CHANNEL_ID, timestamp="1.000100", name="eyes")

    assert not_found.value.response["error"] == "channel_not_found"
    assert broken.value.response.status_code == 500
    assert web.chat_postMessage(channel=CHANNEL_ID, text="x")["ok"]


def test_auth_errors_and_unknown_methods_are_answered_like_slack(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as unauthenticated:
        WebClient(base_url=fake.base_url).chat_postMessage(channel=CHANNEL_ID, text="x")
    with pytest.raises(SlackApiError) as unknown:
        client(fake).api_call("chat.postMassage", json={"channel": CHANNEL_ID})

    assert unauthenticated.value.response["error"] == "not_authed"
    assert unknown.value.response["error"] == "unknown_method"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_validation_catches_unknown_args_missing_args_and_bad_blocks(fake: FakeSlack) -> None:
    web = client(fake)
    web.chat_postMessage(channel=CHANNEL_ID, text="x", colour="red")
    web.api_call("reactions.add", params={"channel": CHANNEL_ID, "name": "eyes"})
    web.chat_postMessage(channel=CHANNEL_ID, blocks=[{"type": "section"}, {"type": "sectionz"}])
    web.chat_postMessage(
        channel=CHANNEL_ID, text="x", blocks=[{"type": "actions", "elements": FEEDBACK_BLOCK["elements"]}]
    )

    problems = "\n".join(fake.check_all_calls())

    assert "chat.postMessage: unknown argument 'colour'" in problems
    assert "reactions.add: required argument 'timestamp' is missing" in problems
    assert "blocks[0] (section): SlackObjectFormationError" in problems
    assert "blocks[1]: unknown block type 'sectionz'" in problems
    assert "feedback_buttons must sit in a context_actions block" in problems
    with pytest.raises(AssertionError, match="colour"):
        fake.assert_all_calls_valid()


def test_check_blocks_accepts_what_the_bot_sends_and_names_ignored_fields() -> None:
    good = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Antwoord* [1]"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "[1] <https://wiki/x|Verlof>"}]},
        FEEDBACK_BLOCK,
    ]
    assert check_blocks(good) == []
    assert check_blocks(json.dumps(good)) == []
    assert check_blocks([{"type": "divider", "colour": "red"}]) == [
        "blocks[0].colour: field slack_sdk's divider model does not know"
    ]
    assert check_blocks([{"type": "divider"}] * 51) == ["51 blocks, Slack allows at most 50"]


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    url = fake.new_response_url()
    WebhookClient(url).send(text="Alleen voor jou", response_type="ephemeral")

    [post] = fake.wait_for_response(url=url)
    assert post.body == {"text": "Alleen voor jou", "response_type": "ephemeral"}


# -- Socket Mode -------------------------------------------------------------------------------


def test_bolt_socket_mode_app_receives_an_app_mention_acks_and_reconnects(fake: FakeSlack) -> None:
    app = App(client=client(fake), signing_secret=SECRET)
    retry_headers: list[str | None] = []

    @app.event("app_mention")
    def answer(event: dict[str, Any], say: Say, request: BoltRequest) -> None:
        retry_headers.append(request.headers.get("x-slack-retry-num", [None])[0])
        say(text=f"echo: {event['text']}", thread_ts=event["ts"])

    handler = SocketModeHandler(app, app_token="xapp-test")
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        mention = payloads.event_callback(payloads.app_mention("Waar staat het verlofbeleid?"))
        envelope_id = fake.push_event(mention)

        assert fake.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
        [reply] = fake.wait_for_call("chat.postMessage")
        thread_ts = mention["event"]["ts"]
        assert reply.args["thread_ts"] == thread_ts
        thread = fake.messages(CHANNEL_ID, thread_ts, bot_only=False)
        assert [m["user"] for m in thread] == [USER_ID, BOT_USER_ID]

        fake.send_disconnect()
        fake.wait_for_socket_connection(count=2)
        again = fake.push_event(payloads.event_callback(payloads.app_mention("nog eens")), retry_attempt=1)
        fake.wait_for_ack(again)
        fake.wait_for_call("chat.postMessage", n=2)
    finally:
        handler.close()  # type: ignore[no-untyped-call]
    # bolt maps Socket Mode's retry_attempt to the HTTP header, first delivery included ("0").
    assert retry_headers == ["0", "1"]
    assert len(fake.calls("apps.connections.open")) >= 2
    fake.assert_all_calls_valid()


# -- HTTP mode ---------------------------------------------------------------------------------


def http_app(fake: FakeSlack) -> App:
    app = App(client=client(fake), signing_secret=SECRET)

    @app.event("app_mention")
    def answer(event: dict[str, Any], say: Say) -> None:
        say(text="antwoord", thread_ts=event["ts"])

    return app


def test_bolt_http_rejects_bad_signatures_and_stale_requests_before_any_web_api_call(fake: FakeSlack) -> None:
    app = http_app(fake)
    body = json.dumps(payloads.event_callback(payloads.app_mention("hallo")))

    wrong_secret = app.dispatch(BoltRequest(body=body, headers=sign("not-the-secret", body)))
    stale = app.dispatch(BoltRequest(body=body, headers=sign(SECRET, body, int(time.time()) - 6 * 60)))
    tampered = app.dispatch(BoltRequest(body=body.replace("hallo", "hello"), headers=sign(SECRET, body)))
    good = app.dispatch(BoltRequest(body=body, headers=sign(SECRET, body)))

    assert [wrong_secret.status, stale.status, tampered.status, good.status] == [401, 401, 401, 200]
    fake.wait_for_call("chat.postMessage")
    assert len(fake.calls("chat.postMessage")) == 1


def test_bolt_http_slash_command_and_feedback_click_payloads_reach_listeners(fake: FakeSlack) -> None:
    app = http_app(fake)
    clicks: list[tuple[str, str]] = []

    @app.command("/bron")
    def command(ack: Ack, respond: Respond, command: dict[str, str]) -> None:
        ack()
        respond(f"Zoeken naar: {command['text']}")

    @app.action("feedback")
    def feedback(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        clicks.append((body["actions"][0]["type"], body["actions"][0]["value"]))

    url = fake.new_response_url()
    form = payloads.slash_command("/bron", "verlof", response_url=url)
    assert app.dispatch(BoltRequest(body=form, headers=sign(SECRET, form))).status == 200
    assert fake.wait_for_response(url=url)[0].body["text"] == "Zoeken naar: verlof"

    message = client(fake).chat_postMessage(channel=CHANNEL_ID, text="25 [1]", blocks=[FEEDBACK_BLOCK])[
        "message"
    ]
    click = payloads.block_actions(
        [payloads.feedback_buttons_action("negative")], message=message, response_url=fake.new_response_url()
    )
    click_body = payloads.interactive_body(click)
    assert app.dispatch(BoltRequest(body=click_body, headers=sign(SECRET, click_body))).status == 200
    assert clicks == [("feedback_buttons", "negative")]


def test_bolt_assistant_thread_streams_an_answer_with_status_and_prompts(fake: FakeSlack) -> None:
    app = App(client=client(fake), signing_secret=SECRET)
    assistant = Assistant()

    @assistant.thread_started
    def started(say: Say, set_suggested_prompts: SetSuggestedPrompts) -> None:
        say("Hoi! Wat wil je weten?")
        set_suggested_prompts(prompts=[{"title": "Verlof", "message": "Hoeveel vakantiedagen heb ik?"}])

    @assistant.user_message
    def answer(set_status: SetStatus, say_stream: SayStream) -> None:
        set_status("zoekt in de documenten…")
        stream = say_stream()
        stream.append(markdown_text="25 dagen ")
        stream.append(markdown_text="[1]")
        stream.stop(blocks=[FEEDBACK_BLOCK])

    app.use(assistant)
    started_event = payloads.assistant_thread_started()
    thread_ts = started_event["assistant_thread"]["thread_ts"]
    question = payloads.message_im("Hoeveel vakantiedagen?", thread_ts=thread_ts)
    for event, last_call in (
        (started_event, "assistant.threads.setSuggestedPrompts"),
        (question, "chat.stopStream"),
    ):
        body = json.dumps(payloads.event_callback(event))
        assert app.dispatch(BoltRequest(body=body, headers=sign(SECRET, body))).status == 200
        fake.wait_for_call(last_call)

    assert [m["text"] for m in fake.messages(DM_CHANNEL_ID, thread_ts)] == [
        "Hoi! Wat wil je weten?",
        "25 dagen [1]",
    ]
    assert fake.calls("assistant.threads.setStatus")[0].args["status"] == "zoekt in de documenten…"
    fake.assert_all_calls_valid()


def test_a_channel_stream_needs_its_recipient_and_expires_when_left_idle() -> None:
    with FakeSlack(stream_ttl=0.2) as fake:
        web = client(fake)
        question_ts = fake.add_message(CHANNEL_ID, "What is the leave policy?", user=USER_ID)
        with pytest.raises(SlackApiError) as missing:
            web.chat_startStream(channel=CHANNEL_ID, thread_ts=question_ts, markdown_text="Hi")
        assert missing.value.response["error"] == "missing_recipient_team_id"
        started = web.chat_startStream(
            channel=CHANNEL_ID, thread_ts=question_ts, markdown_text="Hi",
            recipient_team_id=TEAM_ID, recipient_user_id=USER_ID,
        )  # fmt: skip
        time.sleep(0.3)
        with pytest.raises(SlackApiError) as expired:
            web.chat_appendStream(channel=CHANNEL_ID, ts=started["ts"], markdown_text=" there")
        assert expired.value.response["error"] == "message_not_in_streaming_state"


def test_a_trigger_id_works_once_and_only_for_3_seconds(fake: FakeSlack) -> None:
    web = client(fake)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Bron"}, "blocks": []}
    fresh = payloads.trigger_id()
    assert web.views_open(trigger_id=fresh, view=view)["ok"]
    with pytest.raises(SlackApiError) as again:
        web.views_open(trigger_id=fresh, view=view)
    assert again.value.response["error"] == "exchanged_trigger_id"
    serial, issued_ms, rest = payloads.trigger_id().split(".")
    stale = f"{serial}.{int(issued_ms) - 3100}.{rest}"
    with pytest.raises(SlackApiError) as expired:
        web.views_open(trigger_id=stale, view=view)
    assert expired.value.response["error"] == "expired_trigger_id"


def test_rate_tiers_answer_429_with_retry_after_per_method() -> None:
    with FakeSlack(rate_limits=True) as fake:
        web = client(fake)
        question_ts = fake.add_message(CHANNEL_ID, "Q?", user=USER_ID)
        for _ in range(20):  # Tier 2: 20 a minute
            web.chat_startStream(channel=DM_CHANNEL_ID, thread_ts=question_ts, markdown_text="x")
        with pytest.raises(SlackApiError) as limited:
            web.chat_startStream(channel=DM_CHANNEL_ID, thread_ts=question_ts, markdown_text="x")
        assert limited.value.response.status_code == 429
        assert int(limited.value.response.headers["Retry-After"]) >= 1
        for _ in range(3):  # chat.postMessage: a short burst per channel, then about 1 a second
            web.chat_postMessage(channel=CHANNEL_ID, text="burst")
        with pytest.raises(SlackApiError):
            web.chat_postMessage(channel=CHANNEL_ID, text="one too many")
        assert web.chat_postMessage(channel=DM_CHANNEL_ID, text="another channel")["ok"]
        assert {c.method for c in fake.unhandled_rate_limits()} == {"chat.startStream", "chat.postMessage"}
