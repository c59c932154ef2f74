"""`FakeSlack`: a local Slack Web API, `response_url` sink and Socket Mode endpoint for tests.

Point the app at it with `WebClient(base_url=fake.base_url)`; everything the
app sends is recorded and answered like Slack would (see `web_api.py`), faults
can be injected per method, and tests wait on calls instead of sleeping:

    with FakeSlack() as fake:
        app = App(client=WebClient(token="xoxb-test", base_url=fake.base_url), ...)
        ...
        [call] = fake.wait_for_call("chat.postMessage")
        fake.assert_all_calls_valid()
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakeslack.limits import RateLimits
from tests.fakeslack.records import Call, Recorder, ResponsePost
from tests.fakeslack.socket_mode import SocketModeServer
from tests.fakeslack.validation import check_call, load_methods
from tests.fakeslack.web_api import Message, Workspace


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None
    times: int


class FakeSlack:
    """Start with `with FakeSlack() as fake:`; `base_url` ends in `/api/` as slack_sdk expects.

    `rate_limits=True` enforces Slack's rate tiers (429 with Retry-After, see `limits.py`);
    `rate_scale` < 1 makes them stricter. trigger_id expiry (3 s) and stream rules always apply.
    """

    def __init__(
        self, *, rate_limits: bool = False, rate_scale: float = 1.0, stream_ttl: float = 300.0
    ) -> None:
        self.socket_mode = SocketModeServer()
        try:
            methods = load_methods()
        except FileNotFoundError:
            methods = {}  # the fake still answers; check_call() will say what is missing
        reference = frozenset(methods)
        self.workspace = Workspace(
            socket_url=self.socket_mode.url, known_methods=reference, stream_ttl=stream_ttl
        )
        tiers = {name: str(spec.get("rate_limits", "")) for name, spec in methods.items()}
        self.limits = RateLimits(tiers, scale=rate_scale) if rate_limits else None
        self._calls: Recorder[Call] = Recorder()
        self._responses: Recorder[ResponsePost] = Recorder()
        self._faults: dict[str, list[_Fault]] = {}
        self._faults_lock = threading.Lock()
        self._response_ids = itertools.count(1)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._http.daemon_threads = True
        self.port = int(self._http.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakeslack-http",
            daemon=True,
        )

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        self.socket_mode.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.shutdown()
        self._http.server_close()
        self.socket_mode.stop()

    # -- Web API records -----------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self._calls.all() if method is None or c.method == method]

    def wait_for_call(self, method: str, n: int = 1, timeout: float = 10) -> list[Call]:
        """The first `n` calls to `method` (failed ones included), waiting up to `timeout` seconds."""
        return self._calls.wait(lambda c: c.method == method, n=n, timeout=timeout, what=method)

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls to `method` fail: `ok:false` (200), 429 with Retry-After, or 5xx."""
        if status == 200 and error is None:
            raise ValueError("a 200 fault needs an error code, e.g. error='channel_not_found'")
        if status == 429 and retry_after is None:
            retry_after = 1
        default = "ratelimited" if status == 429 else "internal_error"
        with self._faults_lock:
            self._faults.setdefault(method, []).append(_Fault(status, error or default, retry_after, times))

    def unhandled_rate_limits(self) -> list[Call]:
        """429s the app gave up on: no later call with the same method and arguments succeeded."""
        calls = self._calls.all()
        left: list[Call] = []
        for index, call in enumerate(calls):
            if call.status != 429:
                continue
            key = _call_key(call)
            if not any(c.status == 200 and _call_key(c) == key for c in calls[index + 1 :]):
                left.append(call)
        return left

    def check_all_calls(self) -> list[str]:
        return [problem for call in self._calls.all() for problem in check_call(call)]

    def assert_all_calls_valid(self) -> None:
        problems = self.check_all_calls()
        assert not problems, "Web API calls Slack would reject:\n" + "\n".join(problems)

    # -- workspace state -------------------------------------------------------------------

    def messages(self, channel: str, thread_ts: str | None = None, *, bot_only: bool = True) -> list[Message]:
        """What the channel (or thread) shows now, after updates and streams; bot messages by default."""
        return self.workspace.messages(channel, thread_ts, bot_only=bot_only)

    def add_message(
        self, channel: str, text: str, *, user: str, ts: str | None = None, thread_ts: str | None = None
    ) -> str:
        return self.workspace.add_message(channel, text, user=user, ts=ts, thread_ts=thread_ts)

    def remove_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self.workspace.remove_message(channel, ts)

    def edit_message(self, channel: str, ts: str, text: str) -> tuple[Message, Message]:
        return self.workspace.edit_message(channel, ts, text)

    def add_event_message(self, body: dict[str, Any]) -> None:
        """Store the user message an event_callback carries, as Slack holds it before delivering the event."""
        event = body.get("event") or {}
        if event.get("type") in ("app_mention", "message") and not event.get("subtype") and event.get("ts"):
            self.workspace.add_message(
                event["channel"],
                event.get("text", ""),
                user=event["user"],
                ts=event["ts"],
                thread_ts=event.get("thread_ts"),
            )

    # -- response_url ----------------------------------------------------------------------

    def new_response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{next(self._response_ids)}"

    @property
    def responses(self) -> list[ResponsePost]:
        return self._responses.all()

    def wait_for_response(
        self, n: int = 1, timeout: float = 10, *, url: str | None = None
    ) -> list[ResponsePost]:
        return self._responses.wait(
            lambda r: url is None or r.url == url, n=n, timeout=timeout, what=f"response_url POST {url or ''}"
        )

    # -- Socket Mode -----------------------------------------------------------------------

    def push_event(
        self,
        payload: dict[str, Any],
        envelope_type: str = "events_api",
        retry_attempt: int = 0,
        *,
        retry_reason: str = "",
        timeout: float = 10,
    ) -> str:
        """Deliver an envelope over Socket Mode (waiting for a connection); returns its envelope_id."""
        if envelope_type == "events_api":
            self.add_event_message(payload)
        return self.socket_mode.push(
            payload,
            envelope_type=envelope_type,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason or ("timeout" if retry_attempt else ""),
            timeout=timeout,
        )

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        return self.socket_mode.wait_for_ack(envelope_id, timeout=timeout)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        self.socket_mode.disconnect(reason=reason)

    def wait_for_socket_connection(self, count: int = 1, timeout: float = 10) -> None:
        self.socket_mode.wait_for_connection(count=count, timeout=timeout)

    # -- HTTP plumbing (server threads) -----------------------------------------------------

    def _take_fault(self, method: str) -> _Fault | None:
        with self._faults_lock:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        raw = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in request.headers.items()}
        content_type = headers.get("content-type", "").split(";")[0].strip()
        body = _parse_body(raw, content_type)
        if url.path.startswith("/response/"):
            self._responses.add(
                ResponsePost(url=f"http://127.0.0.1:{self.port}{url.path}", body=body, headers=headers)
            )
            _reply(request, 200, {"ok": True})
            return
        if not url.path.startswith("/api/"):
            _reply(request, 404, {"ok": False, "error": "not_found"})
            return
        method = url.path.removeprefix("/api/")
        args = {**dict(parse_qsl(url.query, keep_blank_values=True)), **body}
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else args.get("token")
        fault = self._take_fault(method)
        extra: dict[str, str] = {}
        channel = args.get("channel") or args.get("channel_id")
        retry_after = None if self.limits is None else self.limits.check(method, token, channel)
        if fault is None and retry_after is not None:
            status, answer = 429, {"ok": False, "error": "ratelimited"}
            extra["Retry-After"] = str(retry_after)
        elif fault is None:
            status, answer = 200, self.workspace.answer(method, args, token=token)
        else:
            status, answer = fault.status, {"ok": False, "error": fault.error}
            if fault.retry_after is not None:
                extra["Retry-After"] = str(fault.retry_after)
        self._calls.add(
            Call(
                method=method,
                args=args,
                headers=headers,
                content_type=content_type,
                http_method=request.command,
                token=token,
                status=status,
                response=answer,
            )
        )
        _reply(request, status, answer, extra)


def _call_key(call: Call) -> str:
    return call.method + json.dumps(call.args, sort_keys=True, default=str)


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type == "application/json":
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"_json": parsed}
    if content_type == "application/x-www-form-urlencoded":
        fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        if set(fields) == {"payload"}:  # response_url posts and interactivity wrap JSON in `payload=`
            payload = json.loads(fields["payload"])
            return payload if isinstance(payload, dict) else fields
        return fields
    return {"_raw": raw.decode(errors="replace")}


def _reply(
    request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], extra: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json; charset=utf-8")
    request.send_header("Content-Length", str(len(data)))
    request.send_header("X-Slack-Req-Id", uuid.uuid4().hex)
    for name, value in (extra or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)


def _handler_class(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            fake._serve(self)

        def do_GET(self) -> None:
            fake._serve(self)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler
