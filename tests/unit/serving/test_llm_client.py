"""LLMClient against a local server that speaks the OpenAI streaming protocol the way vLLM does.

The stand-in serves exactly what the test sets (which model names exist, a delay, an error after the
first tokens), so each failure mode of a real vLLM can be produced on demand: an adapter that is not
loaded yet (404), an adapter that appears later, and vLLM's mid-stream `{"error": ...}` event.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from serving.errors import GenerationError, LLMUnavailableError
from serving.llm import LLMClient, read_active_adapter


@dataclass
class Served:
    models: set[str] = field(default_factory=lambda: {"base"})
    delay_s: float = 0.0
    error_after_first_token: bool = False
    requested: list[str] = field(default_factory=list)


def _chunk(model: str, content: str | None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip
    return f"data: {json.dumps(body)}\n\n".encode()


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._json(
                200, {"object": "list", "data": [{"id": m, "object": "model"} for m in sorted(served.models)]}
            )

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = request["model"]
            served.requested.append(model)
            if model not in served.models:
                self._json(404, {"object": "error", "message": f"The model `{model}` does not exist.",
                                 "type": "NotFoundError", "code": 404})  # fmt: skip
                return
            time.sleep(served.delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(_chunk(model, f"answer from {model}"))
            if served.error_after_first_token:
                error = {"error": {"object": "error", "message": "engine died", "type": "InternalServerError",
                                   "code": 500}}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", served
    finally:
        httpd.shutdown()


def _ask(llm: LLMClient) -> str:
    return llm.chat([{"role": "user", "content": "hi"}]).model


def test_a_mid_stream_error_is_a_generation_error_not_a_crash(server: tuple[str, Served]) -> None:
    url, served = server
    served.error_after_first_token = True
    with pytest.raises(GenerationError, match="engine died"):
        _ask(LLMClient.from_settings(base_url=url, model="base", max_retries=0))


def test_a_missing_adapter_falls_back_per_request_and_is_retried_after_the_back_off(
    server: tuple[str, Served],
) -> None:
    url, served = server
    llm = LLMClient.from_settings(
        base_url=url, model="base", adapter="bron-handbook-v2", adapter_retry_s=0.3, max_retries=0
    )
    assert _ask(llm) == "base"  # 404 on the adapter, answered by the base model
    assert served.requested == ["bron-handbook-v2", "base"]
    served.models.add("bron-handbook-v2")  # e.g. a restarted vLLM replica loaded it again
    assert _ask(llm) == "base"  # still inside the back-off: no second 404 per question
    time.sleep(0.35)
    assert _ask(llm) == "bron-handbook-v2"


def test_the_promoted_adapter_is_read_from_the_pointer_file_on_every_request(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    served.models |= {"bron-handbook-v1", "bron-handbook-v2"}
    pointer = tmp_path / "active.json"
    llm = LLMClient.from_settings(base_url=url, model="base", adapter_file=pointer, max_retries=0)
    assert _ask(llm) == "base"  # no pointer yet: the base model, not an error
    pointer.write_text(json.dumps({"active": "bron-handbook-v1", "previous": None}))
    assert _ask(llm) == "bron-handbook-v1"
    pointer.write_text(json.dumps({"active": "bron-handbook-v2", "previous": "bron-handbook-v1"}))
    assert _ask(llm) == "bron-handbook-v2"
    pointer.write_text("{not json")
    assert read_active_adapter(pointer) is None and _ask(llm) == "base"


def test_requests_beyond_the_in_flight_bound_hear_busy_instead_of_queueing(
    server: tuple[str, Served],
) -> None:
    url, served = server
    served.delay_s = 1.0
    llm = LLMClient.from_settings(
        base_url=url, model="base", max_in_flight=1, queue_timeout_s=0.2, max_retries=0
    )
    first = threading.Thread(target=_ask, args=(llm,))
    first.start()
    time.sleep(0.2)
    with pytest.raises(LLMUnavailableError, match="busy"):
        _ask(llm)
    first.join()
    assert _ask(llm) == "base"  # the slot is free again
