"""Acknowledgements under load: answers in flight while commands, clicks and modal submits arrive.

Through HTTP mode (uvicorn on 127.0.0.1:0, the deployed ASGI app, signed requests), with the fake
Slack enforcing Slack's rate tiers and the 3-second life of a `trigger_id`. The LLM is a stand-in
that takes `llm_seconds` per answer, so every answer worker is busy while the interactive traffic
arrives: /bron-sources and /bron-flags, 👍/👎 and Sources clicks on earlier answers, and submits of
the modals the 👎 clicks opened. With more questions than workers + queue, the excess must get the
"busy" reply in its thread, none may go unanswered.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.runtime import open_runtime
from bot.settings import Settings, SlackSettings
from bot.slack.app import build_app
from bot.slack.blocks import FEEDBACK_ACTION, SOURCES_ACTION
from bot.slack.feedback_modal import MODAL_CALLBACK
from bot.slack.http import EVENTS_PATH, build_asgi
from bot.slack.texts import text
from feedback.models import Feedback
from feedback.settings import StoreSettings
from retrieval.ingest import ingest_paths
from serving.settings import ServingSettings
from tests.fakeslack import FakeSlack, payloads, sign
from tests.fakeslack.ids import CHANNEL_ID
from tests.fakeslack.web_api import Message
from tests.load.http_load import DOCS, HANDBOOK, LLMPace, fake_llm, serving

SECRET = "load-signing-secret"
REVIEWER = "U0LOADREVW1"
WARM_ANSWERS = 4
# One question, well above the evidence bar, for every asker: an abstention would skip the slow LLM
# and free its worker early, and the run would no longer know how many answers are in flight.
QUESTION = "How many vacation days does a full-time employee get per year?"
ACK_LIMIT_MS = 3000


@dataclass
class InteractiveFigures:
    questions: int
    capacity: int
    requests: dict[str, int]
    statuses: dict[int, int]
    ack_ms: dict[str, list[float]] = field(repr=False)
    answered: int
    answered_twice: int
    busy_replies: int
    unanswered: int
    commands_answered: int
    clicks_answered: int
    modals_opened: int
    modals_refused: list[str]
    details_stored: int
    rate_limited: int
    unhandled_429: int
    seconds: float
    status_max_s: float  # from sending a question to its "Searching the handbook…" status, slowest

    @property
    def late_acks(self) -> int:
        return sum(1 for values in self.ack_ms.values() for ms in values if ms >= ACK_LIMIT_MS)

    def ack_max(self, kind: str) -> float:
        return max(self.ack_ms[kind], default=0.0)

    def lines(self) -> list[str]:
        acks = ", ".join(
            f"{kind} {len(v)}: p50 {statistics.median(v):.0f} ms, max {max(v):.0f} ms"
            for kind, v in self.ack_ms.items()
            if v
        )
        return [
            f"questions: {self.questions} (workers + queue = {self.capacity}); HTTP statuses {self.statuses}",
            f"acks: {acks}; {self.late_acks} at or over 3 s",
            f"answers: {self.answered} delivered, {self.answered_twice} twice, {self.busy_replies} busy replies, "
            f"{self.unanswered} questions without any reply",
            f"commands answered {self.commands_answered}, clicks answered {self.clicks_answered}, "
            f"modals opened {self.modals_opened} (refused: {self.modals_refused or 'none'}), "
            f"modal details stored {self.details_stored}",
            f"429s from the fake: {self.rate_limited}, left unhandled: {self.unhandled_429}; "
            f"whole run {self.seconds:.1f} s; slowest status after its question {self.status_max_s:.2f} s",
        ]


def _is_answer(message: Message) -> bool:
    return any(b.get("type") == "context_actions" for b in message.get("blocks") or [])


def run_interactive_load(
    workdir: Path,
    *,
    questions: int = 10,
    commands: int = 50,
    clicks: int = 50,
    submits: int = 20,
    llm_seconds: float = 20.0,
    workers: int = 10,
    queue: int = 40,
    spread_seconds: float = 5.0,
    drain_timeout: float = 180.0,
) -> InteractiveFigures:
    if submits > clicks:
        raise ValueError("each modal submit needs a 👎 click that opened the modal")
    handbook = workdir / "handbook"
    handbook.mkdir(parents=True, exist_ok=True)
    for name in DOCS:
        shutil.copy(HANDBOOK / name, handbook / name)
    pace = LLMPace(0.0)
    started_run = time.monotonic()
    with FakeSlack(rate_limits=True) as fake, serving(fake_llm(pace)) as llm_url:
        settings = Settings(
            data_dir=workdir / "data",
            serving=ServingSettings(llm_base_url=f"{llm_url}/v1", max_retries=0),
            store=StoreSettings(reviewers=[REVIEWER]),
            slack=SlackSettings(
                bot_token="xoxb-load", signing_secret=SECRET, base_url=fake.base_url,
                answer_workers=workers, answer_queue=queue,
            ),
        )  # fmt: skip
        with open_runtime(settings) as runtime:
            ingest_paths([handbook], backend=runtime.backend, embedder=runtime.embedder)
            app = build_app(runtime, http=True)
            with (
                serving(build_asgi(app, runtime)) as bot_url,
                httpx.Client(base_url=bot_url, timeout=30) as http,
            ):
                ack_ms: dict[str, list[float]] = {"question": [], "command": [], "click": [], "submit": []}
                statuses: dict[int, int] = {}

                def post(kind: str, raw: str) -> None:
                    headers = {k: str(v) for k, v in sign(SECRET, raw).items()}
                    if kind != "question":
                        headers["Content-Type"] = "application/x-www-form-urlencoded"
                    began = time.perf_counter()
                    response = http.post(EVENTS_PATH, content=raw, headers=headers)
                    ack_ms[kind].append((time.perf_counter() - began) * 1000)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

                asked_at: dict[str, float] = {}

                def ask(n: int, ts: str) -> dict[str, Any]:
                    user = f"U0LOAD{n:05d}"  # one person per question: the per-user limit is not tested here
                    body = payloads.event_callback(payloads.app_mention(QUESTION, ts=ts, user=user))
                    fake.add_event_message(body)
                    asked_at[ts] = time.time()
                    post("question", json.dumps(body))
                    return body

                # warm-up: a few quick answers whose buttons the load phase clicks
                warm = [ask(9000 + i, f"{1730000000 + i}.000000") for i in range(WARM_ANSWERS)]
                warm_answers = [_wait_answer(fake, b["event"]["ts"], 60) for b in warm]
                ack_ms["question"].clear()
                statuses.clear()

                pace.seconds = llm_seconds
                threads = [f"{1740000000 + i}.000000" for i in range(questions)]
                with ThreadPoolExecutor(max_workers=16) as senders:
                    list(senders.map(lambda i: ask(i, threads[i]), range(questions)))
                time.sleep(1.0)  # the answers are generating now

                jobs = _interactive_jobs(fake, warm_answers, commands=commands, clicks=clicks, downs=submits)
                opened: list[str] = []
                interval = spread_seconds / max(len(jobs), 1)
                began = time.monotonic()
                with ThreadPoolExecutor(max_workers=48) as senders:
                    futures = []
                    submitted = 0
                    for n, job in enumerate(jobs):
                        delay = began + n * interval - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        body, trigger = job.encode()
                        futures.append(senders.submit(post, job.kind, body))
                        if trigger is not None:
                            opened.append(trigger)
                            if submitted < submits:
                                submitted += 1
                                futures.append(
                                    senders.submit(_submit_after_open, fake, trigger, job.user, post)
                                )
                    for future in futures:
                        future.result()

                busy = text("en", "busy")

                def refused() -> set[str]:
                    return {
                        str(e.get("thread_ts")) for e in fake.workspace.ephemerals if e.get("text") == busy
                    }

                deadline = time.monotonic() + drain_timeout
                while time.monotonic() < deadline:
                    replies = [fake.messages(CHANNEL_ID, ts) for ts in threads]
                    done = refused()
                    if all(
                        ts in done or any(map(_is_answer, r)) for ts, r in zip(threads, replies, strict=True)
                    ):
                        break
                    time.sleep(0.5)
                time.sleep(1.0)  # a late second answer would show up now
                replies = [fake.messages(CHANNEL_ID, ts) for ts in threads]
                busy_threads = refused()
                responses = fake.responses
                views = [c for c in fake.calls("views.open") if c.args.get("trigger_id") in set(opened)]
                with runtime.store.session() as session:
                    details = session.scalar(
                        select(func.count()).select_from(Feedback).where(Feedback.reason.is_not(None))
                    )
    command_urls = {job.url for job in jobs if job.kind == "command"}
    click_urls = {job.url for job in jobs if job.kind == "click" and job.url}
    return InteractiveFigures(
        questions=questions,
        capacity=workers + queue,
        requests={kind: len(v) for kind, v in ack_ms.items()},
        statuses=statuses,
        ack_ms=ack_ms,
        answered=sum(1 for r in replies if any(_is_answer(m) for m in r)),
        answered_twice=sum(1 for r in replies if sum(_is_answer(m) for m in r) > 1),
        busy_replies=sum(1 for ts in threads if ts in busy_threads),
        unanswered=sum(1 for ts, r in zip(threads, replies, strict=True) if not r and ts not in busy_threads),
        commands_answered=len({r.url for r in responses if r.url in command_urls}),
        clicks_answered=len({r.url for r in responses if r.url in click_urls}),
        modals_opened=sum(1 for c in views if c.status == 200 and c.response.get("ok")),
        modals_refused=[str(c.response.get("error")) for c in views if not c.response.get("ok")],
        details_stored=int(details or 0),
        rate_limited=sum(1 for c in fake.calls() if c.status == 429),
        status_max_s=max(
            (
                min(
                    (c.time for c in fake.calls("assistant.threads.setStatus") if c.args["thread_ts"] == ts),
                    default=float("inf"),
                )
                - asked_at[ts]
                for ts in threads
            ),
            default=float("inf"),
        ),
        unhandled_429=len(fake.unhandled_rate_limits()),
        seconds=time.monotonic() - started_run,
    )


@dataclass(frozen=True)
class Job:
    """One interactive request: its body, the response_url its reply goes to, the trigger of a 👎 click."""

    kind: str
    body: str | dict[str, Any]  # a click's payload gets its trigger_id when it is sent, as Slack issues it
    url: str | None = None
    user: str = ""

    def encode(self) -> tuple[str, str | None]:
        """The request body, and the trigger_id of a 👎 click (None otherwise)."""
        if isinstance(self.body, str):
            return self.body, None
        click = {**self.body, "trigger_id": payloads.trigger_id()}
        down = self.url is None
        return payloads.interactive_body(click), str(click["trigger_id"]) if down else None


def _wait_answer(fake: FakeSlack, thread_ts: str, timeout: float) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in fake.messages(CHANNEL_ID, thread_ts) if _is_answer(m)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no warm-up answer in {thread_ts}: {fake.messages(CHANNEL_ID, thread_ts)}")


def _interactive_jobs(
    fake: FakeSlack, answers: list[Message], *, commands: int, clicks: int, downs: int
) -> list[Job]:
    """Every command and click, interleaved; `downs` of the clicks, evenly spread, are 👎 (each opens
    a modal), the rest alternate 👍 and Sources."""
    command_jobs: list[Job] = []
    for n in range(commands):
        url = fake.new_response_url()
        if n % 2:
            body = payloads.slash_command("/bron-flags", "", user=REVIEWER, response_url=url)
        else:
            body = payloads.slash_command("/bron-sources", "vakantiedagen meenemen", response_url=url)
        command_jobs.append(Job("command", body, url=url))
    click_jobs: list[Job] = []
    for n in range(clicks):
        message = answers[n % len(answers)]
        [element] = next(b for b in message["blocks"] if b["type"] == "context_actions")["elements"]
        url, user = fake.new_response_url(), f"U0CLICK{n:04d}"
        down = (n + 1) * downs // clicks > n * downs // clicks
        kind = "down" if down else ("up", "sources")[n % 2]
        if kind == "sources":
            interaction_id = str(element["positive_button"]["value"]).partition(":")[2]
            action = payloads.button_action(SOURCES_ACTION, interaction_id)
        else:
            button = element["negative_button" if kind == "down" else "positive_button"]
            action = payloads.feedback_buttons_action(button["value"], action_id=FEEDBACK_ACTION)
        click = payloads.block_actions([action], message=message, user=user, response_url=url)
        click_jobs.append(Job("click", click, url=None if kind == "down" else url, user=user))
    jobs: list[Job] = []
    for n in range(max(len(command_jobs), len(click_jobs))):
        jobs += command_jobs[n : n + 1] + click_jobs[n : n + 1]
    return jobs


def _submit_after_open(fake: FakeSlack, trigger: str, user: str, post: Callable[[str, str], None]) -> None:
    """The person fills in the modal their 👎 click opened (a second later) and submits it."""
    deadline = time.monotonic() + 10
    call = None
    while call is None and time.monotonic() < deadline:
        call = next((c for c in fake.calls("views.open") if c.args.get("trigger_id") == trigger), None)
        time.sleep(0.05)
    if call is None or not call.response.get("ok"):
        return  # not opened: the caller counts it
    time.sleep(1.0)
    view = call.response["view"]
    values = {"reason": {"reason": {"type": "radio_buttons", "selected_option": {"value": "outdated"}}}}
    submit = payloads.view_submission(
        MODAL_CALLBACK, values, private_metadata=view["private_metadata"], user=user
    )
    post("submit", payloads.interactive_body(submit))
