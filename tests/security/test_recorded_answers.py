"""A recorded answer that used an `hr` chunk reaches no one whose scope lacks `hr`: not through
/bron-sources with a message link, /bron-flags, the review page or `bron export`.

The answer is made for real through the fake Slack in a channel granted `hr`: Bron's evidence bar is
set out of reach, so it declines and lists its closest sources (an `hr` chunk) without an LLM, and a
thumbs-down flags it. Each test then asks from a scope without `hr`. All fail on bcb969d.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from slack_bolt import App
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.review.app import ReviewConfig, create_app
from bot.runtime import Runtime, open_runtime
from bot.settings import ChannelPolicy, Settings
from bot.slack.app import build_app
from bot.slack.blocks import SOURCES_ACTION
from feedback.models import Flag
from feedback.review import resolve_flag
from feedback.settings import StoreSettings
from feedback.store import find_by_message
from retrieval.ingest import ingest_paths
from serving.settings import ServingSettings
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import CHANNEL_ID, TEAM_DOMAIN, USER_ID
from tests.scenario.harness import block_text, dead_port, send, slack_settings, wait_for_answers

HR_CHANNEL = "C0HRCHANNEL"
HR_USER = "U0HRUSER001"
REVIEWER = "U0REVIEWER1"  # public only
HR_REVIEWER = "U0HRREVIEW1"
SECRET_WORDS = ("250000", "Salarissen", "salarissen.md")
QUESTION = "Wat is het salaris van de directeur per jaar?"


@dataclass
class HrAnswer:
    fake: FakeSlack
    app: App
    runtime: Runtime
    data_dir: Path
    ts: str


def _linked(runtime: Runtime, ts: str) -> bool:
    """A reaction finds the answer only once the answer's row holds its message ts."""
    with runtime.store.session() as session:
        return find_by_message(session, HR_CHANNEL, ts) is not None


@pytest.fixture(scope="module")
def hr_answer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HrAnswer]:
    root = tmp_path_factory.mktemp("docs")
    (root / "hr").mkdir()
    (root / "hr" / "salarissen.md").write_text(
        "# Salarissen\n\nHet salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk.\n"
    )
    (root / "handbook").mkdir()
    (root / "handbook" / "welkom.md").write_text(
        "# Welkom\n\nWelkom bij de koffiebranderij; koffie is gratis.\n"
    )
    data_dir = tmp_path_factory.mktemp("bron")
    store = StoreSettings(
        reviewers=[REVIEWER, HR_REVIEWER], reviewer_collections={HR_REVIEWER: ["hr", "public"]}
    )
    settings = Settings(
        data_dir=data_dir,
        store=store,
        serving=ServingSettings(
            min_dense_score=1.01,
            quote_bar=None,
            llm_base_url=f"http://127.0.0.1:{dead_port()}/v1",
            max_retries=0,
        ),
    )
    with FakeSlack() as fake, open_runtime(settings) as running:
        ingest_paths([root / "hr"], backend=running.backend, embedder=running.embedder, collection="hr")
        ingest_paths([root / "handbook"], backend=running.backend, embedder=running.embedder)
        fake.workspace.usergroups["S0HRGROUP1"] = [HR_USER]
        slack = slack_settings(fake).model_copy(
            update={
                "channels": {HR_CHANNEL: ChannelPolicy(collections=["hr", "public"])},
                "group_collections": {"S0HRGROUP1": ["hr"]},
            }
        )
        runtime = replace(running, settings=running.settings.model_copy(update={"slack": slack}))
        app = build_app(runtime, http=True)
        event = payloads.event_callback(payloads.app_mention(QUESTION, channel=HR_CHANNEL, user=HR_USER))
        send(app, fake, event)
        [message] = wait_for_answers(fake, HR_CHANNEL, event["event"]["ts"])
        assert "salarissen.md" in block_text(message["blocks"])  # the hr channel is shown its source
        deadline = time.monotonic() + 30  # the answer is linked to its message just after it is posted
        while not _linked(runtime, message["ts"]):
            assert time.monotonic() < deadline, "the answer was never linked to its message"
            time.sleep(0.05)
        reaction = payloads.reaction_added("thumbsdown", item_channel=HR_CHANNEL, item_ts=message["ts"],
                                           user=HR_USER)  # fmt: skip
        send(app, fake, payloads.event_callback(reaction))
        deadline = time.monotonic() + 120  # generous: the test machine is shared
        while not _flag_ids(runtime, message["ts"]):
            assert time.monotonic() < deadline, "the thumbs-down opened no flag"
            time.sleep(0.1)
        yield HrAnswer(fake=fake, app=app, runtime=runtime, data_dir=data_dir, ts=message["ts"])


def _flag_ids(runtime: Runtime, ts: str) -> list[int]:
    with runtime.store.session() as session:
        interaction = find_by_message(session, HR_CHANNEL, ts)
        return [f.id for f in interaction.flags] if interaction is not None else []


def _flag_id(hr: HrAnswer) -> int:
    return _flag_ids(hr.runtime, hr.ts)[0]


def _sources(hr: HrAnswer, channel: str, user: str) -> str:
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{HR_CHANNEL}/p{hr.ts.replace('.', '')}"
    url = hr.fake.new_response_url()
    send(hr.app, hr.fake, payloads.slash_command("/bron-sources", link, channel=channel, user=user,
                                                 response_url=url))  # fmt: skip
    [post] = hr.fake.wait_for_response(url=url)
    return json.dumps(post.body, ensure_ascii=False)


def test_bron_sources_link_from_a_scope_without_hr_shows_nothing(hr_answer: HrAnswer) -> None:
    shown = _sources(hr_answer, CHANNEL_ID, USER_ID)
    assert not any(word in shown for word in SECRET_WORDS), shown
    assert "salarissen.md" in _sources(hr_answer, HR_CHANNEL, HR_USER)  # the same link where hr is granted


def test_bron_flags_lists_an_hr_answer_only_to_an_hr_reviewer(hr_answer: HrAnswer) -> None:
    def flags(user: str) -> str:
        url = hr_answer.fake.new_response_url()
        send(
            hr_answer.app,
            hr_answer.fake,
            payloads.slash_command("/bron-flags", "", user=user, response_url=url),
        )
        return json.dumps(hr_answer.fake.wait_for_response(url=url)[0].body, ensure_ascii=False)

    assert "salaris" not in flags(REVIEWER)
    assert "salaris" in flags(HR_REVIEWER)


def test_the_review_page_shows_an_hr_answer_only_to_an_hr_reviewer(hr_answer: HrAnswer) -> None:
    store = hr_answer.runtime.settings.store
    config = ReviewConfig(reviewers=tuple(store.reviewers), token="t0ken", passwords={HR_REVIEWER: "hr-pw"},
                          scopes={r: store.review_scope(r) for r in store.reviewers})  # fmt: skip
    client = TestClient(create_app(hr_answer.runtime.store, config))
    flag_id = _flag_id(hr_answer)
    page = client.get("/?status=all", auth=(REVIEWER, "t0ken"))
    assert page.status_code == 200 and "salaris" not in page.text and "250000" not in page.text
    assert client.get(f"/flags/{flag_id}", auth=(REVIEWER, "t0ken")).status_code == 404
    assert "250000" in client.get(f"/flags/{flag_id}", auth=(HR_REVIEWER, "hr-pw")).text


def test_bron_export_leaves_hr_cases_out_unless_asked(
    hr_answer: HrAnswer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hr_answer.runtime.store.session() as session:
        resolve_flag(session, _flag_id(hr_answer), verdict="correct", reviewer=HR_REVIEWER,
                     corrected_answer="Dat staat in de bronnen [1].")  # fmt: skip
    monkeypatch.setenv("BRON_DATA_DIR", str(hr_answer.data_dir))
    runner = CliRunner()
    for kind in ("eval", "sft"):
        out = tmp_path / f"{kind}.jsonl"
        assert runner.invoke(cli, ["export", kind, "--out", str(out)]).exit_code == 0
        assert "salaris" not in out.read_text()
    out = tmp_path / "hr.jsonl"
    result = runner.invoke(
        cli, ["export", "eval", "--out", str(out), "--collection", "hr", "--collection", "public"]
    )
    assert result.exit_code == 0 and "salaris" in out.read_text()
    with hr_answer.runtime.store.session() as session:
        assert session.get(Flag, _flag_id(hr_answer)) is not None


def test_the_sources_button_shows_hr_sources_only_to_a_clicker_holding_hr(hr_answer: HrAnswer) -> None:
    """The button's message can be forwarded or shared; the clicker's own scope decides."""
    fake = hr_answer.fake
    [message] = [m for m in fake.messages(HR_CHANNEL) if m["ts"] == hr_answer.ts]
    value = next(
        e["value"]
        for b in message["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == SOURCES_ACTION
    )
    outsider, member = fake.new_response_url(), fake.new_response_url()
    for channel, user, url in ((CHANNEL_ID, USER_ID, outsider), (HR_CHANNEL, HR_USER, member)):
        click = payloads.block_actions([payloads.button_action(SOURCES_ACTION, value)], message=message,
                                       channel=channel, user=user, response_url=url)  # fmt: skip
        send(hr_answer.app, fake, payloads.interactive_body(click))
    assert "salarissen.md" in json.dumps(fake.wait_for_response(url=member)[0].body)
    with pytest.raises(AssertionError):
        fake.wait_for_response(url=outsider, timeout=2)


def _review_server(hr: HrAnswer, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`bron review` in its own process on a free port, as a user starts it; (process, base URL)."""
    port = int(dead_port())
    environ = {**os.environ, "BRON_DATA_DIR": str(hr.data_dir), "PYTHONPATH": str(Path(__file__).parents[2]),
               "BRON_STORE__REVIEWERS": json.dumps([REVIEWER, HR_REVIEWER]),
               "BRON_STORE__REVIEWER_COLLECTIONS": json.dumps({HR_REVIEWER: ["hr", "public"]}),
               "BRON_STORE__REVIEW_TOKEN": "t0ken", **env}  # fmt: skip
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "bron"), "review", "--port", str(port)],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.terminate()
    out, _ = process.communicate(timeout=30)
    return out


def test_the_shared_review_password_does_not_open_an_hr_reviewers_scope(hr_answer: HrAnswer) -> None:
    """Reviewer names are no secret and the review token is shared by every reviewer: with it alone a
    public-only reviewer signed in under the hr reviewer's name and read the hr flag (e37db44). A
    reviewer granted more than public now needs a password of their own, or the page does not start."""
    flag_id = _flag_id(hr_answer)
    process, url = _review_server(hr_answer)
    try:
        if process.poll() is None:
            page = httpx.get(f"{url}/flags/{flag_id}", auth=(HR_REVIEWER, "t0ken"), timeout=30)
            assert "250000" not in page.text
    finally:
        out = _stop(process)
    assert "BRON_STORE__REVIEWER_PASSWORDS" in out

    own = json.dumps({HR_REVIEWER: "hr-eigen-wachtwoord"})
    process, url = _review_server(hr_answer, BRON_STORE__REVIEWER_PASSWORDS=own)
    try:
        assert httpx.get(f"{url}/flags/{flag_id}", auth=(HR_REVIEWER, "t0ken"), timeout=30).status_code == 401
        mine = httpx.get(f"{url}/flags/{flag_id}", auth=(HR_REVIEWER, "hr-eigen-wachtwoord"), timeout=30)
        assert mine.status_code == 200 and "250000" in mine.text
        public = httpx.get(f"{url}/?status=all", auth=(REVIEWER, "t0ken"), timeout=30)
        assert public.status_code == 200 and "250000" not in public.text
    finally:
        _stop(process)
