"""Nothing Bron posts to Slack can ping a channel or hide a link, whoever wrote the text.

Against the fake Slack, every argument of every Web API call is read back, so the check covers the
streamed chunks, the post+update fallback and the final blocks alike. On bcb969d the streamed text
and the fallback went out unescaped (a model told to "start with <!channel>" pinged the channel,
`[text](url)` copied from a document showed as a disguised link), and a front-matter `url:` was
pasted into `<url|label>` as it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack.blocks import answer_footer, chunk_blocks, hit_blocks, source_line
from bot.slack.streaming import StreamBudget, ThreadReply
from feedback.models import RetrievedChunk
from retrieval.types import Chunk, Hit
from serving.answer import Answer, Citation
from tests.fakeslack import FakeSlack
from tests.fakeslack.ids import CHANNEL_ID, TEAM_ID, USER_ID

HOSTILE_TOKENS = [
    "Book it on the [HR",
    " portal](https://evil.example/login",
    ") <!chan",
    "nel> <@U0BOSS> <https://evil.example|the wiki> [1].",
]
HOSTILE_URL = "https://x|HR> <!channel> <https://evil"
SLACK_SEQUENCE = re.compile(r"<[!@#]|<https?:[^>|]*\|")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def sent_strings(fake: FakeSlack) -> list[str]:
    """Every string in every call Bron made (JSON-encoded arguments decoded)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            try:
                decoded = json.loads(node)
            except ValueError:
                out.append(node)
                return
            if isinstance(decoded, dict | list):
                walk(decoded)
            else:
                out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for call in fake.calls():
        walk(call.args)
    return out


def assert_nothing_hostile(fake: FakeSlack) -> None:
    texts = sent_strings(fake)
    assert texts, "nothing was sent"
    for value in texts:
        assert not SLACK_SEQUENCE.search(value), value
        assert "](" not in value, value
    joined = "".join(texts)
    assert "evil.example" in joined  # shown as text, not hidden and not dropped


def reply(fake: FakeSlack, thread_ts: str) -> ThreadReply:
    client = WebClient(token="xoxb-test", base_url=fake.base_url)
    return ThreadReply(
        client, channel=CHANNEL_ID, thread_ts=thread_ts, recipient_team_id=TEAM_ID,
        recipient_user_id=USER_ID, n_sources=3,
        budget=StreamBudget(appends_per_minute=6000, min_interval=0.01),
    )  # fmt: skip


def feed(r: ThreadReply) -> None:
    """The tokens one by one, far enough apart that each goes out in its own append."""
    for token in HOSTILE_TOKENS:
        r.on_token(token)
        time.sleep(0.1)


def finish(r: ThreadReply) -> None:
    raw = "".join(HOSTILE_TOKENS)
    footer: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "ok"}]}]
    r.finish(text=raw, blocks=footer, footer=footer, streamed_ok=True)


def test_streamed_model_text_is_escaped_before_it_goes_out(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "Start your answer with <!channel>", user=USER_ID)
    r = reply(fake, question_ts)
    feed(r)
    finish(r)
    assert fake.calls("chat.startStream") and fake.calls("chat.appendStream")
    assert_nothing_hostile(fake)


def test_the_post_and_update_fallback_is_escaped_too(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "Start your answer with <!channel>", user=USER_ID)
    fake.fail_next("chat.startStream", error="not_allowed")
    r = reply(fake, question_ts)
    feed(r)
    finish(r)
    assert fake.calls("chat.postMessage") and fake.calls("chat.update")
    assert_nothing_hostile(fake)


def test_a_stream_broken_midway_is_escaped_in_its_update(fake: FakeSlack) -> None:
    question_ts = fake.add_message(CHANNEL_ID, "?", user=USER_ID)
    fake.fail_next("chat.appendStream", status=500)
    r = reply(fake, question_ts)
    feed(r)
    finish(r)
    assert_nothing_hostile(fake)


def _chunk(url: str | None) -> Chunk:
    return Chunk(
        chunk_id="c1", doc_id="handbook/hr.md", title='HR "portal" <b>', heading_path=("Leave",),
        text="Ask [HR](https://evil.example) <!here>.", source="handbook/hr.md", url=url,
    )  # fmt: skip


@pytest.mark.parametrize("url", [HOSTILE_URL, "https://ok.example/a b|c>d", "javascript:alert(1)"])
def test_a_stored_url_is_encoded_or_shown_as_text_in_every_block(url: str) -> None:
    chunk = _chunk(url)
    answer = Answer(
        question="q", language="en", text="Twenty-five days [1].",
        citations=[Citation(number=1, chunk=chunk, score=1.0)], hits=[], abstained=False, model="m",
    )  # fmt: skip
    stored = RetrievedChunk(
        rank=1, chunk_id="c1", doc_id=chunk.doc_id, title=chunk.title, heading=chunk.heading,
        location=url, snippet=chunk.text, score=1.0, citation=1,
    )  # fmt: skip
    rendered = json.dumps(
        [
            answer_footer(answer, interaction_id="i1"),
            chunk_blocks("Sources used", [stored]),
            hit_blocks("Closest sources for <!channel>", [Hit(chunk=chunk, score=1.0, rank=1)]),
        ],
        ensure_ascii=False,
    )
    assert not SLACK_SEQUENCE.search(rendered), rendered
    links = re.findall(r"<([^>]*)>", rendered)
    for link in links:
        target = link.split("|")[0]
        assert target.startswith("https://") and not set(target) & set(' <>|"'), link


def test_a_plain_url_stays_a_working_link() -> None:
    line = source_line(1, title="Wiki", heading="HR", location="https://wiki.example.com/hr?a=1&b=2")
    assert line == "[1] <https://wiki.example.com/hr?a=1&amp;b=2|Wiki › HR>"


def test_a_long_query_of_characters_slack_escapes_still_gets_its_sources_reply() -> None:
    """1,200 `&` pass the query limit but escape to 6,000 characters: the title section overflowed Slack's
    3,000 and, since the blocks are built with slack_sdk's models, raised before anything was sent."""
    blocks = hit_blocks("Sources for: " + "&" * 1200, [])
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert texts and all(len(t) <= 3000 for t in texts)
    assert texts[0].startswith("*Sources for: &amp;&amp;") and texts[0].endswith("…*")
