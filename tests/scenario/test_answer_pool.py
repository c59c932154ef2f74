"""Answers run on Bron's own bounded pool: a full pool or a person's full share gets a polite reply.

The pool is filled with jobs that wait on an event, so "full" is exact rather than timed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.slack.metrics import REGISTRY
from bot.slack.pool import Pools, WorkPool
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import CHANNEL_ID, USER_ID
from tests.scenario.harness import runtime_for, send, wait_for_text

SORRY_LLM_EN = "Sorry, I can't reach the language model right now"
BUSY = "Sorry, I'm answering a lot of questions right now; please ask again in a minute."
USER_BUSY = "I'm still working on your earlier questions; please ask this one again once they're answered."


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    released = threading.Event()
    yield released
    released.set()


def test_pool_admits_workers_plus_queue_and_each_person_their_share(gate: threading.Event) -> None:
    pool = WorkPool("test", workers=2, queue=1, per_user=2)
    assert [pool.submit(gate.wait, user="U1") for _ in range(3)] == ["accepted", "accepted", "user_busy"]
    assert pool.submit(gate.wait, user="U2") == "accepted"
    assert pool.submit(gate.wait, user="U3") == "busy"
    assert REGISTRY.get_sample_value("bron_queue_depth", {"pool": "test"}) == 1
    gate.set()
    deadline = time.monotonic() + 5
    while pool.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.pending == 0 and pool.submit(lambda: None, user="U1") == "accepted"
    pool.shutdown()


def test_a_question_beyond_the_queue_gets_the_busy_reply_in_its_thread(
    offline_runtime: Runtime, gate: threading.Event
) -> None:
    pools = Pools(answer_workers=1, answer_queue=0, answers_per_user=3, chore_workers=1, chore_queue=1)
    assert pools.answers.submit(gate.wait, user="U0SOMEONE1") == "accepted"
    with FakeSlack() as fake:
        app = build_app(runtime_for(offline_runtime, fake), http=True, pools=pools)
        mention = payloads.event_callback(payloads.app_mention("How many vacation days do I get?"))
        send(app, fake, mention)

        [status] = fake.wait_for_call("assistant.threads.setStatus", timeout=1)
        assert status.args["thread_ts"] == mention["event"]["ts"]
        [busy] = fake.wait_for_call("chat.postEphemeral", timeout=5)
        assert busy.args["text"] == BUSY and busy.args["user"] == USER_ID
        assert busy.args["thread_ts"] == mention["event"]["ts"]

        gate.set()  # capacity again: the next question is answered
        again = payloads.event_callback(payloads.app_mention("How many vacation days do I get?"))
        send(app, fake, again)
        wait_for_text(fake, CHANNEL_ID, again["event"]["ts"], "")  # any reply: it was taken
        fake.assert_all_calls_valid()
    pools.shutdown(wait=False)


def test_one_person_cannot_take_the_whole_pool(offline_runtime: Runtime, gate: threading.Event) -> None:
    pools = Pools(answer_workers=3, answer_queue=0, answers_per_user=1, chore_workers=1, chore_queue=1)
    assert pools.answers.submit(gate.wait, user=USER_ID) == "accepted"
    with FakeSlack() as fake:
        app = build_app(runtime_for(offline_runtime, fake), http=True, pools=pools)
        mine = payloads.event_callback(payloads.app_mention("How do I claim travel expenses?"))
        theirs = payloads.event_callback(
            payloads.app_mention("How do I claim travel expenses?", user="U0COLLEAGUE")
        )
        send(app, fake, mine)
        send(app, fake, theirs)

        [refused] = fake.wait_for_call("chat.postEphemeral", timeout=5)
        assert refused.args["text"] == USER_BUSY and refused.args["thread_ts"] == mine["event"]["ts"]
        wait_for_text(fake, CHANNEL_ID, theirs["event"]["ts"], "")
    pools.shutdown(wait=False)


def test_bron_command_acknowledges_with_a_status_or_the_busy_reply(
    offline_runtime: Runtime, gate: threading.Event
) -> None:
    pools = Pools(answer_workers=1, answer_queue=0, answers_per_user=3, chore_workers=1, chore_queue=1)
    with FakeSlack() as fake:
        app = build_app(runtime_for(offline_runtime, fake), http=True, pools=pools)
        url = fake.new_response_url()
        first = send(
            app, fake, payloads.slash_command("/bron", "Hoeveel vakantiedagen krijg ik?", response_url=url)
        )
        assert first.body == "Ik zoek in het handboek…"
        fake.wait_for_response(url=url)
        deadline = time.monotonic() + 5
        while pools.answers.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pools.answers.submit(gate.wait, user="U0SOMEONE1") == "accepted"
        second = send(
            app,
            fake,
            payloads.slash_command("/bron", "How do I claim expenses?", response_url=fake.new_response_url()),
        )
        assert second.body == BUSY
    pools.shutdown(wait=False)
