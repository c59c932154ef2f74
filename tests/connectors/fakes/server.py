"""A tiny threaded HTTP server for the connector fakes: each fake is a function of the request.

Common to every fake: a request log (to assert conditional GETs, Retry-After waits, paging) and
throttling on demand (the next N requests answer 429 with Retry-After), as real services do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


class FakeServer:
    """Serves `handler` on 127.0.0.1 (a free port) until `close()`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.log: list[Request] = []
        self.throttle_next = 0
        self.retry_after = "1"
        self.fail_next = 0  # answer 500 to the next N requests (a server falling over)
        self._lock = threading.Lock()
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms to
            # every response on a kept-alive connection, which no real server does
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                              time.monotonic())  # fmt: skip
                reply = fake._reply(req)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def _reply(self, req: Request) -> Reply:
        with self._lock:
            self.log.append(req)
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return Reply(
                    429, b'{"error": {"code": "TooManyRequests"}}', {"Retry-After": self.retry_after}
                )
            if self.fail_next > 0:
                self.fail_next -= 1
                return Reply(500, b"internal error")
        return self.handler(req)

    def requests(self, path_prefix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(path_prefix)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
