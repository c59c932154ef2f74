"""Load through HTTP mode: signed events at a steady rate into uvicorn, with Slack's retries mixed in.

Everything on the Slack path is real — uvicorn, the ASGI app, signature checks, Bolt, the event_id
dedupe in SQL, retrieval over the indexed sample handbook, the recording of every answer — except
the LLM: answering 180 questions with the local 0.5B model on 2 CPUs would take about 15 minutes,
so a tiny OpenAI-compatible server streams one fixed answer instead. It measures the bot, not the model.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.runtime import open_runtime
from bot.settings import Settings, SlackSettings
from bot.slack.app import build_app
from bot.slack.http import EVENTS_PATH, build_asgi
from bot.slack.metrics import REGISTRY
from feedback.models import Interaction
from retrieval.ingest import ingest_paths
from serving.settings import ServingSettings
from tests.fakeslack import FakeSlack, payloads, sign

SECRET = "load-signing-secret"
FIXED_ANSWER = ["A full-time employee ", "gets 25 vacation days ", "per year [1]."]
CHANNELS = 20
DOCS = ("vakantie-en-verlof.md", "parental-leave.md", "declaraties.md")
HANDBOOK = Path(__file__).resolve().parents[2] / "retrieval" / "sample_handbook"
QUESTIONS = (
    "How many vacation days does a full-time employee get per year?",
    "Hoeveel vakantiedagen krijg ik per jaar?",
    "How do I claim expenses?",
    "Hoe lang is het geboorteverlof?",
)


class LLMPace:
    """How long the stand-in takes per answer; tests change it between phases (0 = at once)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds


def fake_llm(pace: LLMPace | None = None, pieces: Sequence[str] = FIXED_ANSWER) -> Starlette:
    """The LLM's stand-in: `/v1/models` and a streamed `/v1/chat/completions` with a fixed cited answer,
    its pieces spread evenly over `pace.seconds` (a slow model holds its worker that long)."""
    pace = pace or LLMPace()

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "bron-local", "object": "model"}]})

    async def completions(_: Request) -> Response:
        gap = pace.seconds / max(len(pieces), 1)

        async def chunks() -> AsyncIterator[str]:
            base = {"id": "cmpl-load", "object": "chat.completion.chunk", "created": 0, "model": "bron-local"}
            for piece in pieces:
                if gap:
                    await asyncio.sleep(gap)
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                yield f"data: {json.dumps({**base, 'choices': [delta]})}\n\n"
            done = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield f"data: {json.dumps({**base, 'choices': [done]})}\n\n"
            usage = {"prompt_tokens": 500, "completion_tokens": 12, "total_tokens": 512}
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return Starlette(
        routes=[Route("/v1/models", models), Route("/v1/chat/completions", completions, methods=["POST"])]
    )


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """uvicorn on 127.0.0.1, port 0, in a thread; yields the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class LoadFigures:
    sent: int
    unique: int
    duplicates: int
    statuses: dict[int, int]
    ack_p50_ms: float
    ack_p95_ms: float
    ack_max_ms: float
    answered: int
    threads_answered_twice: int
    recorded: int
    duplicates_ignored: float
    send_seconds: float
    drain_seconds: float

    def lines(self) -> list[str]:
        return [
            f"events sent: {self.sent} ({self.unique} unique + {self.duplicates} retries) in {self.send_seconds:.1f} s",
            f"HTTP statuses: {self.statuses}",
            f"ack latency: p50 {self.ack_p50_ms:.0f} ms, p95 {self.ack_p95_ms:.0f} ms, max {self.ack_max_ms:.0f} ms",
            f"answered: {self.answered}/{self.unique} threads, {self.threads_answered_twice} answered twice, "
            f"{self.recorded} recorded in SQL; all answered {self.drain_seconds:.1f} s after the last event",
            f"duplicates ignored (bron_slack_events_total{{outcome=duplicate}}): {self.duplicates_ignored:.0f}",
        ]


def run_load(
    workdir: Path,
    *,
    events: int = 200,
    seconds: float = 10.0,
    duplicate_share: float = 0.1,
    drain_timeout: float = 120,
) -> LoadFigures:
    handbook = workdir / "handbook"
    handbook.mkdir(parents=True, exist_ok=True)
    for name in DOCS:
        shutil.copy(HANDBOOK / name, handbook / name)
    duplicates = round(events * duplicate_share)
    unique = events - duplicates
    with FakeSlack() as fake, serving(fake_llm()) as llm_url:
        settings = Settings(
            data_dir=workdir / "data",
            serving=ServingSettings(llm_base_url=f"{llm_url}/v1", max_retries=0),
            # a queue for every question: this run measures throughput, not load shedding
            slack=SlackSettings(
                bot_token="xoxb-load", signing_secret=SECRET, base_url=fake.base_url, answer_queue=events
            ),
        )
        with open_runtime(settings) as runtime:
            ingest_paths([handbook], backend=runtime.backend, embedder=runtime.embedder)
            app = build_app(runtime, http=True)
            # whole-second ts: the fake numbers its own posts latest + 100 µs, so these never collide
            bodies = [
                payloads.event_callback(
                    payloads.app_mention(  # 180 people: one person's share of the pool is limited
                        f"{QUESTIONS[i % len(QUESTIONS)]} ({i})",
                        ts=f"{1720000000 + i}.000000",
                        user=f"U0LOAD{i:05d}",
                        # Slack posts about one message a second per channel, so 180 answers in one
                        # channel take three minutes whatever Bron does; a workspace asks in many
                        channel=f"C0LOAD{i % CHANNELS:05d}",
                    )
                )
                for i in range(unique)
            ]
            # every 10th request is Slack redelivering an event sent a moment earlier
            plan: list[tuple[dict[str, Any], int]] = []
            sent_unique = 0
            for n in range(events):
                if n % 10 == 9 and len(plan) - sent_unique < duplicates:
                    plan.append((bodies[max(sent_unique - 3, 0)], 1))
                else:
                    plan.append((bodies[sent_unique], 0))
                    sent_unique += 1
            duplicates_before = (
                REGISTRY.get_sample_value("bron_slack_events_total", {"outcome": "duplicate"}) or 0
            )
            with (
                serving(build_asgi(app, runtime)) as bot_url,
                httpx.Client(base_url=bot_url, timeout=30) as http,
            ):
                interval = seconds / events

                def post(item: tuple[dict[str, Any], int]) -> tuple[int, float]:
                    body, retry = item
                    raw = json.dumps(body)
                    if not retry:
                        fake.add_event_message(body)
                    headers = {k: str(v) for k, v in sign(SECRET, raw).items()}
                    if retry:
                        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
                    started = time.perf_counter()
                    response = http.post(EVENTS_PATH, content=raw, headers=headers)
                    return response.status_code, (time.perf_counter() - started) * 1000

                started = time.monotonic()
                futures = []
                with ThreadPoolExecutor(max_workers=32) as pool:
                    for n, item in enumerate(plan):
                        delay = started + n * interval - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        futures.append(pool.submit(post, item))
                    results = [f.result() for f in futures]
                send_seconds = time.monotonic() - started
                sent_done = time.monotonic()
                threads = [(b["event"]["channel"], b["event"]["ts"]) for b in bodies]
                deadline = sent_done + drain_timeout
                while True:
                    counts = [sum(1 for m in fake.messages(ch, ts) if m.get("blocks")) for ch, ts in threads]
                    if all(counts) or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                drain_seconds = time.monotonic() - sent_done
                time.sleep(1)  # any late double answer would show up now
                counts = [sum(1 for m in fake.messages(ch, ts) if m.get("blocks")) for ch, ts in threads]
            with runtime.store.session() as session:
                recorded = session.scalar(select(func.count()).select_from(Interaction)) or 0
            duplicates_after = (
                REGISTRY.get_sample_value("bron_slack_events_total", {"outcome": "duplicate"}) or 0
            )
    latencies = sorted(ms for _, ms in results)
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return LoadFigures(
        sent=len(plan),
        unique=unique,
        duplicates=len(plan) - unique,
        statuses=statuses,
        ack_p50_ms=statistics.median(latencies),
        ack_p95_ms=latencies[int(0.95 * (len(latencies) - 1))],
        ack_max_ms=latencies[-1],
        answered=sum(1 for c in counts if c >= 1),
        threads_answered_twice=sum(1 for c in counts if c > 1),
        recorded=int(recorded),
        duplicates_ignored=duplicates_after - duplicates_before,
        send_seconds=send_seconds,
        drain_seconds=drain_seconds,
    )
