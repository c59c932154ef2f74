"""Delivering one answer into a thread while the model writes it, within Slack's rate tiers.

Streams with slack_sdk's `chat_stream` (`chat.startStream` / `appendStream` / `stopStream`) where the
workspace allows it, and falls back to posting one message and `chat.update`-ing it when streaming is
refused or breaks (older workspaces, Enterprise policies, a 5xx mid-stream) or when the workspace's
share of Tier 2 stream starts is used up. Either way the thread ends with exactly one answer message,
whose `ts` is returned so the answer can be linked to it in SQL.

The model's tokens never wait for Slack: `on_token` only adds text to a buffer, and a sender thread
per answer delivers it at a cadence shared by every answer of the workspace (`StreamBudget`: at most
`appends_per_minute` appends or updates across all of them, Tier 4 / Tier 3 being 100 / 50 a minute).
A 429 is waited out by the client's retry handler on that sender thread, not in the token callback.

Citation numbers are renumbered as they stream (1, 2, … in order of first use), the way
`serving.citations.renumber_citations` does at the end; if the final text still differs (an invalid
marker dropped, an abstention, a sentence marked unsupported) the message is updated once at the end.
The abstention marker is held back until it can no longer be the start of one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.chat_stream import ChatStream

from bot.slack.escaping import StreamEscaper, escape_answer
from bot.slack.metrics import FIRST_TOKEN
from serving.answer import NOT_FOUND

log = logging.getLogger(__name__)

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_OPEN_MARKER = re.compile(r"\[[\d,\s]*$")


class CitationRenumberer:
    """Incremental `renumber_citations`: feed tokens, get text that is safe to show now."""

    def __init__(self, *, n_sources: int) -> None:
        self.n_sources = n_sources
        self.order: list[int] = []
        self._held = ""

    def feed(self, token: str) -> str:
        self._held += token
        tail = _OPEN_MARKER.search(self._held)
        if tail is not None and len(self._held) - tail.start() < 24:
            ready, self._held = self._held[: tail.start()], self._held[tail.start() :]
        else:
            ready, self._held = self._held, ""
        return _MARKER.sub(self._replace, ready)

    def flush(self) -> str:
        ready, self._held = self._held, ""
        return _MARKER.sub(self._replace, ready)

    def _replace(self, match: re.Match[str]) -> str:
        out: list[str] = []
        for raw in match.group(1).split(","):
            n = int(raw)
            if not 1 <= n <= self.n_sources:
                continue
            if n not in self.order:
                self.order.append(n)
            new = f"[{self.order.index(n) + 1}]"
            if new not in out:
                out.append(new)
        return "".join(out)


class StreamBudget:
    """One workspace's share of Slack's rate tiers for answers being delivered, shared by all of them.

    Stream starts (and so stops) are Tier 2, about 20 a minute per workspace: a start is granted only
    while fewer than `starts_per_minute` began in the last minute, otherwise the answer is posted and
    updated instead. Appends and updates are spread evenly over the answers being delivered: each
    waits `interval()` between sends, so together they stay under `appends_per_minute`.

    New messages are paced per channel (`wait_to_post`): Slack allows about one `chat.postMessage` a
    second in a channel, with short bursts. Answers that finish together in one busy channel would
    otherwise all hit 429 at once and retry together; the SDK's retry handler cannot share one
    channel's allowance between threads, so each of them used up its retries and some were lost.
    """

    def __init__(
        self,
        *,
        starts_per_minute: int = 16,
        appends_per_minute: int = 40,
        min_interval: float = 1.0,
        posts_per_second: float = 1.0,
        post_burst: int = 2,
    ) -> None:
        self.starts_per_minute = starts_per_minute
        self.appends_per_minute = appends_per_minute
        self.min_interval = min_interval
        self.posts_per_second = posts_per_second
        self.post_burst = post_burst
        self._lock = threading.Lock()
        self._starts: dict[str, deque[float]] = {}
        self._active: dict[str, int] = {}
        self._posts: dict[str, tuple[float, float]] = {}  # channel -> (allowance left, when counted)

    def wait_to_post(self, channel: str) -> None:
        """Block until this channel's next post slot: a token bucket that lends ahead, so callers queue
        in order (each reserves the slot after the last one) instead of racing for the same second."""
        with self._lock:
            now = time.monotonic()
            if len(self._posts) > 1000:  # forget channels whose allowance is full again
                rate, burst = self.posts_per_second, self.post_burst
                self._posts = {c: p for c, p in self._posts.items() if p[0] + (now - p[1]) * rate < burst}
            left, at = self._posts.get(channel, (float(self.post_burst), now))
            left = min(float(self.post_burst), left + (now - at) * self.posts_per_second) - 1
            self._posts[channel] = (left, now)
        if left < 0:
            time.sleep(-left / self.posts_per_second)

    def may_start(self, team: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = self._starts.setdefault(team, deque())
            while recent and now - recent[0] > 60:
                recent.popleft()
            if len(recent) >= self.starts_per_minute:
                return False
            recent.append(now)
            return True

    def joined(self, team: str) -> None:
        with self._lock:
            self._active[team] = self._active.get(team, 0) + 1

    def left(self, team: str) -> None:
        with self._lock:
            self._active[team] = max(self._active.get(team, 1) - 1, 0)

    def interval(self, team: str) -> float:
        """Seconds between two sends of one answer, given how many answers the workspace is delivering."""
        with self._lock:
            active = max(self._active.get(team, 0), 1)
        return max(self.min_interval, 60.0 * active / self.appends_per_minute)


class ThreadReply:
    """One answer message in one thread; call `on_token` while generating, then `finish` or `fail`."""

    def __init__(
        self,
        client: WebClient,
        *,
        channel: str,
        thread_ts: str,
        recipient_team_id: str | None,
        recipient_user_id: str | None,
        stream: bool = True,
        n_sources: int = 20,
        budget: StreamBudget | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.recipient_team_id = recipient_team_id
        self.recipient_user_id = recipient_user_id
        self.mode = "stream" if stream else "update"
        self.ts: str | None = None
        self.shown = ""  # what the message shows so far
        self.budget = budget or StreamBudget()
        self._team = recipient_team_id or ""
        self._stream: ChatStream | None = None
        self._pending = ""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done = False
        self._sender: threading.Thread | None = None
        self._renumber = CitationRenumberer(n_sources=n_sources)
        self._escape = StreamEscaper()  # nothing reaches Slack unescaped, streamed or posted
        self._raw = ""
        self._feeding = False
        self._abstaining = False
        self._created = time.monotonic()

    # -- while generating (the model's thread: never waits for Slack) ---------------------

    def on_token(self, token: str) -> None:
        if not self._raw:
            FIRST_TOKEN.observe(time.monotonic() - self._created)
        self._raw += token
        if self._abstaining:
            return
        if NOT_FOUND in self._raw:
            self._abstaining = True  # the model gave up: `finish` shows the abstention instead
            return
        if not self._feeding:
            if NOT_FOUND.startswith(self._raw.strip()):
                return  # could still become the abstention marker: show nothing yet
            self._feeding, token = True, self._raw.lstrip()
        ready = self._escape.feed(self._renumber.feed(token))
        with self._lock:
            self._pending += ready
            start = self._sender is None and bool(self._pending.strip())
            if start:
                self._sender = threading.Thread(target=self._send_loop, name="bron-stream", daemon=True)
        if start:
            self.budget.joined(self._team)
            assert self._sender is not None
            self._sender.start()

    # -- the sender thread -----------------------------------------------------------------

    def _send_loop(self) -> None:
        try:
            while True:
                with self._lock:
                    chunk, self._pending = self._pending, ""
                    done = self._done
                if chunk.strip() or (chunk and self.ts is not None):
                    self._deliver(chunk)
                elif chunk:
                    with self._lock:
                        self._pending = chunk + self._pending
                if done:
                    return
                self._wake.wait(self.budget.interval(self._team))
                self._wake.clear()
        finally:
            self.budget.left(self._team)

    def _deliver(self, chunk: str) -> None:
        if self.mode == "stream":
            try:
                if self._stream is None:
                    if not self.budget.may_start(self._team):
                        log.info(
                            "stream budget of %s used up; posting and updating in %s",
                            self._team,
                            self.channel,
                        )
                        self.mode = "update"
                    else:
                        self._stream = self.client.chat_stream(
                            channel=self.channel,
                            thread_ts=self.thread_ts,
                            recipient_team_id=self.recipient_team_id,
                            recipient_user_id=self.recipient_user_id,
                            buffer_size=1,  # Bron decides when to send; the budget sets the cadence
                        )
                if self._stream is not None:
                    response = self._stream.append(markdown_text=chunk)
                    if self.ts is None and response is not None:
                        self.ts = str(response["ts"])
                    self.shown += chunk
                    return
            except (SlackClientError, OSError) as exc:
                log.warning("streaming to %s failed (%s); posting and updating instead", self.channel, exc)
                self._leave_stream()
        self.shown += chunk
        self._show(self.shown)

    def _leave_stream(self) -> None:
        if self._stream is not None and self.ts is not None:
            try:
                self._stream.stop()
            except (SlackClientError, OSError) as exc:
                log.error("Slack chat.stopStream in %s failed: %s", self.channel, exc)
        self._stream = None
        self.mode = "update"

    def _stop_sender(self) -> None:
        with self._lock:
            self._done = True
            sender = self._sender
        self._wake.set()
        if sender is not None:
            sender.join()

    def _show(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post the message, or update it once it exists (the non-streaming path)."""
        extra: dict[str, Any] = {"blocks": blocks} if blocks is not None else {}
        if self.ts is None:
            self.budget.wait_to_post(self.channel)
            response = self._call(
                "chat.postMessage", channel=self.channel, thread_ts=self.thread_ts, text=text, **extra
            )
            if response is not None:
                self.ts = str(response["ts"])
        else:
            self._call("chat.update", channel=self.channel, ts=self.ts, text=text, **extra)

    # -- at the end ------------------------------------------------------------------------

    def finish(
        self, *, text: str, blocks: list[dict[str, Any]], footer: list[dict[str, Any]], streamed_ok: bool
    ) -> str | None:
        """End with the final answer: `text` is the plain fallback, `blocks` the whole message.

        `footer` is what a stream ends with; `streamed_ok` says the final text needs no marks, so a
        stream that showed exactly `text` is left as it is.
        """
        with self._lock:
            self._pending += self._escape.feed(self._renumber.flush()) + self._escape.flush()
        text = escape_answer(text)
        self._stop_sender()
        rest, self._pending = self._pending, ""
        if self.mode == "stream" and self._stream is not None:
            try:
                stopped = self._stream.stop(markdown_text=rest or None, blocks=footer)
                self.shown += rest
                if streamed_ok and self.shown.strip() == text.strip():
                    return self.ts or str(stopped["ts"])
            except (SlackClientError, OSError) as exc:
                log.error("Slack chat.stopStream in %s failed: %s", self.channel, exc)
        self._show(text, blocks)
        return self.ts

    def fail(self, message: str) -> str | None:
        """Replace whatever was shown with a polite message (the cause goes to the log, not the user)."""
        self._stop_sender()
        if self.mode == "stream":
            self._leave_stream()
        self._show(message)
        return self.ts

    def _call(self, method: str, **args: Any) -> Any:
        try:
            return getattr(self.client, method.replace(".", "_"))(**args)
        except (SlackClientError, OSError) as exc:
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.error("Slack %s in %s failed: %s", method, self.channel, detail)
            return None
