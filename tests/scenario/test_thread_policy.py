"""The thread rule, in English and Dutch, through the real app against the fake Slack.

In a channel thread Bron answered, Bron answers (a) any message that mentions it and (b) a message
from someone it answered there that mentions nobody else and reads as a question (a question mark,
a question word first, or a verb-first opening); never acknowledgements or emoji only, never a
message that mentions someone else and not Bron. The LLM is down here, so "answered" shows as the
status plus a reply in the thread, "ignored" as neither.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack import answering
from bot.slack.answering import thread_history
from bot.slack.questions import answers_in_thread
from feedback.models import Interaction
from feedback.people import PREFIX
from feedback.store import FeedbackStore, InteractionRecord, record_interaction
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import BOT_USER_ID, CHANNEL_ID, DM_CHANNEL_ID, USER_ID
from tests.scenario.harness import build, send, wait_for_text

ASKER = USER_ID
COLLEAGUE = "U0COLLEAGUE"
BRON = f"<@{BOT_USER_ID}>"


@dataclass(frozen=True)
class Case:
    text: str
    user: str
    answered: bool
    why: str


CASES = [
    Case(f"{BRON} and what about part-timers?", COLLEAGUE, True, "mentions Bron"),
    Case("And how many extra days from age 55?", ASKER, True, "asker, question mark"),
    Case("how do I request them", ASKER, True, "asker, question word first"),
    Case("Can I carry them over to next year", ASKER, True, "asker, inversion"),
    Case("Thanks!", ASKER, False, "acknowledgement"),
    Case(":thumbsup::skin-tone-2: :pray:", ASKER, False, "emoji only"),
    Case("<@U0COLLEAGUE> can you check this?", ASKER, False, "mentions someone else, not Bron"),
    Case("What about part-timers?", COLLEAGUE, False, "not someone Bron answered here"),
    Case("I'll ask HR then.", ASKER, False, "asker, no question"),
    Case(f"{BRON} en hoe zit het voor parttimers?", COLLEAGUE, True, "noemt Bron"),
    Case("En hoeveel extra dagen krijg ik vanaf 55?", ASKER, True, "vrager, vraagteken"),
    Case("hoe vraag ik die aan", ASKER, True, "vrager, vraagwoord vooraan"),
    Case("Mag ik ze meenemen naar volgend jaar", ASKER, True, "vrager, inversie"),
    Case("Dank je wel!", ASKER, False, "bedankje"),
    Case("top", ASKER, False, "bedankje"),
    Case("<@U0COLLEAGUE> kun jij dit checken?", ASKER, False, "noemt een ander, niet Bron"),
    Case("En voor parttimers?", COLLEAGUE, False, "niet iemand die Bron hier antwoordde"),
    Case("Dan vraag ik het HR.", ASKER, False, "vrager, geen vraag"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
def test_the_rule_decides_from_the_text_and_the_askers(case: Case) -> None:
    assert (
        answers_in_thread(case.text, user=case.user, askers={ASKER}, bot_user_id=BOT_USER_ID) is case.answered
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture(scope="module")
def app(offline_runtime: Runtime, fake: FakeSlack) -> App:
    return build(offline_runtime, fake)


def _answered_thread(runtime: Runtime, fake: FakeSlack, *, channel: str = CHANNEL_ID) -> str:
    """A thread where ASKER asked and Bron answered (as the store records it)."""
    root = fake.add_message(channel, "How many vacation days do I get?", user=ASKER)
    fake.add_message(channel, "25 days [1].", user=BOT_USER_ID, thread_ts=root)
    with runtime.store.session() as session:
        record_interaction(
            session,
            InteractionRecord(
                question="How many vacation days do I get?", answer="25 days [1].", language="en",
                abstained=False, model="test", chunks=[], timings={}, surface="slack", asker=ASKER,
                channel=channel, thread_ts=root,
            ),
        )  # fmt: skip
    return root


def _reply(
    case: Case, thread: str, channel: str = CHANNEL_ID, channel_type: str = "channel"
) -> dict[str, Any]:
    if case.text.startswith(BRON):
        event = payloads.app_mention(case.text, channel=channel, user=case.user, thread_ts=thread)
    else:
        event = payloads.message_im(case.text, channel=channel, user=case.user, thread_ts=thread)
        event["channel_type"] = channel_type
    return payloads.event_callback(event)


def test_each_case_is_answered_or_left_alone_in_the_thread(
    offline_runtime: Runtime, app: App, fake: FakeSlack
) -> None:
    threads = [_answered_thread(offline_runtime, fake) for _ in CASES]
    for case, thread in zip(CASES, threads, strict=True):
        send(app, fake, _reply(case, thread))
        if not case.text.startswith(BRON):  # the same message also arrives as a message event
            continue
        copy = payloads.message_im(case.text, channel=CHANNEL_ID, user=case.user, thread_ts=thread)
        copy["channel_type"] = "channel"
        send(app, fake, payloads.event_callback(copy))

    for case, thread in zip(CASES, threads, strict=True):
        if case.answered:
            wait_for_text(fake, CHANNEL_ID, thread, "")  # any reply from Bron
    time.sleep(0.5)  # the ignored ones had the same chance
    for case, thread in zip(CASES, threads, strict=True):
        replies = fake.messages(CHANNEL_ID, thread)
        statuses = [c for c in fake.calls("assistant.threads.setStatus") if c.args["thread_ts"] == thread]
        assert (len(replies), len(statuses)) == ((1, 1) if case.answered else (0, 0)), case.why
    fake.assert_all_calls_valid()


def test_a_broadcast_follow_up_and_a_group_dm_thread_follow_the_same_rule(
    offline_runtime: Runtime, app: App, fake: FakeSlack
) -> None:
    thread = _answered_thread(offline_runtime, fake)
    broadcast = _reply(Case("Can I carry them over?", ASKER, True, ""), thread)
    broadcast["event"]["subtype"] = "thread_broadcast"
    send(app, fake, broadcast)
    wait_for_text(fake, CHANNEL_ID, thread, "")

    group = "G0GROUPDM01"
    group_thread = _answered_thread(offline_runtime, fake, channel=group)
    top_level = payloads.message_im("Hoeveel vakantiedagen heb ik?", channel=group)
    top_level["channel_type"] = "mpim"
    send(app, fake, payloads.event_callback(top_level))  # no mention, not a thread: left alone
    send(app, fake, _reply(Case("Mag ik ze meenemen?", ASKER, True, ""), group_thread, group, "mpim"))
    wait_for_text(fake, group, group_thread, "")
    time.sleep(0.5)
    assert fake.messages(group, top_level["ts"]) == []


def test_a_dm_with_words_and_a_file_is_answered_and_a_file_alone_gets_asked_for_words(
    app: App, fake: FakeSlack
) -> None:
    screenshot = {"id": "F0SCREEN01", "name": "screenshot.png", "mimetype": "image/png"}
    with_words = payloads.message_im("How do I claim this taxi receipt?")
    with_words |= {"subtype": "file_share", "files": [screenshot]}
    alone = payloads.message_im("")
    alone |= {"subtype": "file_share", "files": [screenshot]}
    send(app, fake, payloads.event_callback(with_words))
    send(app, fake, payloads.event_callback(alone))

    wait_for_text(fake, DM_CHANNEL_ID, with_words["ts"], "")
    wait_for_text(fake, DM_CHANNEL_ID, alone["ts"], "I can only read text")
    thanks = payloads.message_im("thanks!")
    send(app, fake, payloads.event_callback(thanks))
    time.sleep(0.5)
    assert fake.messages(DM_CHANNEL_ID, thanks["ts"]) == []


def test_history_pages_through_the_thread_and_keeps_only_the_askers_and_brons_turns(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answering, "HISTORY_PAGE_SIZE", 3)
    root = fake.add_message(CHANNEL_ID, "How many vacation days do I get?", user=ASKER)
    for author, text in [
        (BOT_USER_ID, "25 days [1]."),
        (COLLEAGUE, "Same for me?"),
        ("U0OTHERBOT", "Reminder: timesheets are due."),
        (ASKER, "And from age 55?"),
        (BOT_USER_ID, "Two extra days [1]."),
        (COLLEAGUE, "Nice"),
        (ASKER, "Can I carry them over?"),
    ]:
        fake.add_message(CHANNEL_ID, text, user=author, thread_ts=root)
    question = fake.add_message(CHANNEL_ID, "And part-time?", user=ASKER, thread_ts=root)
    pages_before = fake.workspace.replies_pages

    history = thread_history(
        WebClient(token="xoxb-test", base_url=fake.base_url), channel=CHANNEL_ID, thread_ts=root,
        before_ts=question, bot_user_id=BOT_USER_ID, asker=ASKER,
    )  # fmt: skip

    assert history == (
        ("How many vacation days do I get?", "25 days [1]."),
        ("And from age 55?", "Two extra days [1]."),
    )
    assert fake.workspace.replies_pages - pages_before == 3  # 9 messages, 3 a page, until the question

    monkeypatch.setattr(answering, "HISTORY_PAGES", 1)  # the first 3 messages only
    bounded = thread_history(
        WebClient(token="xoxb-test", base_url=fake.base_url), channel=CHANNEL_ID, thread_ts=root,
        before_ts=question, bot_user_id=BOT_USER_ID, asker=ASKER,
    )  # fmt: skip
    assert bounded == (("How many vacation days do I get?", "25 days [1]."),)


def test_with_pseudonymised_user_ids_the_asker_is_still_followed_up_and_others_are_not(
    offline_runtime: Runtime, fake: FakeSlack
) -> None:
    """Askers are stored as keyed hashes (BRON_STORE__PSEUDONYMISE_USERS): the rule hashes the replier too."""
    store = FeedbackStore(offline_runtime.store.url, user_key=SecretStr("p" * 32))
    try:
        hashed = replace(offline_runtime, store=store)
        app = build(hashed, fake)
        thread, other = _answered_thread(hashed, fake), _answered_thread(hashed, fake)
        with store.session() as session:
            stored = session.scalar(select(Interaction.asker).where(Interaction.thread_ts == thread))
        assert stored is not None and stored.startswith(PREFIX) and ASKER not in stored

        send(app, fake, _reply(Case("Can I carry them over?", ASKER, True, ""), thread))
        send(app, fake, _reply(Case("What about part-timers?", COLLEAGUE, False, ""), other))
        wait_for_text(fake, CHANNEL_ID, thread, "")
        time.sleep(0.5)
        assert fake.messages(CHANNEL_ID, other) == []
    finally:
        store.close()
