"""Delivering one answer into a thread while the model writes it.

Streams with `chat.startStream` / `appendStream` / `stopStream` where the workspace allows it, and
falls back to posting one message and `chat.update`-ing it when streaming is refused or breaks
(older workspaces, Enterprise policies, a 5xx mid-stream). Either way the thread ends with exactly
one answer message, whose `ts` is returned so the answer can be linked to it in SQL.

Citation numbers are renumbered as they stream (1, 2, … in order of first use), the way
`serving.citations.renumber_citations` does at the end; if the final text still differs (an invalid
marker dropped, an abstention, a sentence marked unsupported) the message is updated once at the end.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

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
        flush_chars: int = 80,
        flush_seconds: float = 0.8,
        update_seconds: float = 1.5,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.recipient_team_id = recipient_team_id
        self.recipient_user_id = recipient_user_id
        self.mode = "stream" if stream else "update"
        self.ts: str | None = None
        self.shown = ""  # what the message shows so far
        self._pending = ""
        self._renumber = CitationRenumberer(n_sources=n_sources)
        self._raw = ""
        self._feeding = False
        self._abstaining = False
        self._last_flush = time.monotonic()
        self._flush_chars = flush_chars
        self._flush_seconds = flush_seconds
        self._update_seconds = update_seconds

    # -- while generating ----------------------------------------------------------------

    def on_token(self, token: str) -> None:
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
        self._pending += self._renumber.feed(token)
        due = time.monotonic() - self._last_flush >= (
            self._flush_seconds if self.mode == "stream" else self._update_seconds
        )
        if self._pending.strip() and (due or len(self._pending) >= self._flush_chars * 4):
            self._flush()

    def _flush(self) -> None:
        chunk, self._pending = self._pending, ""
        self._last_flush = time.monotonic()
        if self.mode == "stream":
            try:
                if self.ts is None:
                    if not chunk.strip():
                        self._pending = chunk
                        return
                    response = self.client.chat_startStream(
                        channel=self.channel,
                        thread_ts=self.thread_ts,
                        markdown_text=chunk,
                        recipient_team_id=self.recipient_team_id,
                        recipient_user_id=self.recipient_user_id,
                    )
                    self.ts = str(response["ts"])
                else:
                    self.client.chat_appendStream(channel=self.channel, ts=self.ts, markdown_text=chunk)
                self.shown += chunk
                return
            except SlackClientError as exc:
                log.warning("streaming to %s failed (%s); posting and updating instead", self.channel, exc)
                self._leave_stream()
        self.shown += chunk
        self._show(self.shown)

    def _leave_stream(self) -> None:
        if self.ts is not None:
            self._call("chat.stopStream", channel=self.channel, ts=self.ts)
        self.mode = "update"

    def _show(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post the message, or update it once it exists (the non-streaming path)."""
        extra: dict[str, Any] = {"blocks": blocks} if blocks is not None else {}
        if self.ts is None:
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
        self._pending += self._renumber.flush()
        if self.mode == "stream" and self.ts is not None:
            if self._pending:
                try:
                    self.client.chat_appendStream(
                        channel=self.channel, ts=self.ts, markdown_text=self._pending
                    )
                    self.shown += self._pending
                except SlackClientError as exc:
                    log.warning("appending to the stream in %s failed: %s", self.channel, exc)
            stopped = self._call("chat.stopStream", channel=self.channel, ts=self.ts, blocks=footer)
            if stopped is not None and streamed_ok and self.shown.strip() == text.strip():
                return self.ts
        self._show(text, blocks)
        return self.ts

    def fail(self, message: str) -> str | None:
        """Replace whatever was shown with a polite message (the cause goes to the log, not the user)."""
        if self.mode == "stream" and self.ts is not None:
            self._leave_stream()
        self._show(message)
        return self.ts

    def _call(self, method: str, **args: Any) -> Any:
        try:
            return getattr(self.client, method.replace(".", "_"))(**args)
        except SlackClientError as exc:
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.error("Slack %s in %s failed: %s", method, self.channel, detail)
            return None
