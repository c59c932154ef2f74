"""A recording proxy in front of the Elasticsearch emulator (or a real cluster).

It forwards every request unchanged and keeps a log of what was sent (method, path, query), so a test
can count bulk requests and refreshes as the server saw them; it can also answer the first N requests
to a path with 429, as a cluster under indexing pressure does (`es_rejected_execution_exception`).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Recorder:
    upstream: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    reject: dict[str, int] = field(default_factory=dict)  # path suffix -> how many 429s still to send
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path_suffix: str) -> int:
        return sum(1 for _, p in self.requests if p.split("?")[0].endswith(path_suffix))

    def with_query(self, word: str) -> list[str]:
        return [p for _, p in self.requests if "?" in p and word in p.split("?", 1)[1]]


@contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(upstream)
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with recorder.lock:
                recorder.requests.append((self.command, self.path))
                path = self.path.split("?")[0]
                suffix = next((s for s, n in recorder.reject.items() if n > 0 and path.endswith(s)), None)
                if suffix is not None:
                    recorder.reject[suffix] -= 1
                    recorder.rejected += 1
            if suffix is not None:
                data = json.dumps({"error": {"type": "es_rejected_execution_exception", "reason": "queue full"},
                                   "status": 429}).encode()  # fmt: skip
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
