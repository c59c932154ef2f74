"""The Socket Mode side of the fake: a local websocket that behaves like `wss-*.slack.com/link`.

It runs the `websockets` server on its own asyncio loop in a background thread,
says `hello` on each connection, pushes envelopes to the newest connection,
and records every acknowledgement by `envelope_id`, so a test can assert that
the app acked (and what it answered) without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import uuid
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.fakeslack.ids import APP_ID
from tests.fakeslack.records import Recorder

_RESPONDING_TYPES = frozenset({"slash_commands", "interactive"})


class SocketModeServer:
    """One websocket endpoint; `url()` issues a fresh ticket each time, like `apps.connections.open`."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fakeslack-socket-mode", daemon=True)
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._connections: list[ServerConnection] = []
        self._retiring: list[ServerConnection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._connected = threading.Condition()
        self._tickets = itertools.count(1)
        self.port = 0
        self.connection_count = 0
        self.acks: Recorder[dict[str, Any]] = Recorder()
        self.received: Recorder[dict[str, Any]] = Recorder()
        self.paths: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fake Socket Mode server did not start within 10 s")

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        # ping_interval=None: the slack_sdk clients ping us; we only answer (websockets does that itself).
        server: Server
        async with serve(self._session, "127.0.0.1", 0, ping_interval=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._started.set()
            await self._stopping.wait()

    async def _session(self, connection: ServerConnection) -> None:
        self.paths.append(connection.request.path if connection.request else "")
        with self._connected:
            retiring, self._retiring = self._retiring, []
            self._connections.append(connection)
            self.connection_count += 1
            self._connected.notify_all()
        for old in retiring:  # Slack closes a refreshed connection once the client has a new one
            task = asyncio.create_task(old.close(1001, "refreshed"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await connection.send(json.dumps(_hello()))
            async for raw in connection:
                message = json.loads(raw)
                if "envelope_id" in message:
                    self.acks.add(message)
                else:
                    self.received.add(message)
        except ConnectionClosed:
            pass  # clients drop the socket without a close frame when they reconnect
        finally:
            with self._connected:
                self._connections.remove(connection)

    # -- what tests call ---------------------------------------------------------------

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket={next(self._tickets)}&app_id={APP_ID}"

    def wait_for_connection(self, *, count: int = 1, timeout: float = 10) -> None:
        """Block until `count` connections have been made in total and one is open."""
        with self._connected:
            ok = self._connected.wait_for(
                lambda: self.connection_count >= count and bool(self._connections), timeout
            )
        if not ok:
            raise AssertionError(
                f"waited {timeout}s for Socket Mode connection #{count}, saw {self.connection_count}"
            )

    def push(
        self,
        payload: dict[str, Any],
        *,
        envelope_type: str = "events_api",
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 10,
    ) -> str:
        """Send one envelope to the newest open connection; returns its `envelope_id`."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": envelope_type in _RESPONDING_TYPES,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        self._send(envelope, timeout=timeout)
        return envelope_id

    def disconnect(self, *, reason: str = "refresh_requested", timeout: float = 10) -> None:
        """Ask the client to reconnect, as Slack does every few hours; the old socket closes once it has."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fakeslack"}}
        self._send(message, timeout=timeout, retire=True)

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 10) -> dict[str, Any]:
        found = self.acks.wait(
            lambda ack: ack.get("envelope_id") == envelope_id, n=1, timeout=timeout, what=f"ack {envelope_id}"
        )
        return found[0]

    def _send(self, message: dict[str, Any], *, timeout: float, retire: bool = False) -> None:
        self.wait_for_connection(timeout=timeout)
        with self._connected:
            connection = self._connections[-1]
            if retire:  # before sending: the client may reconnect before send() returns
                self._retiring.append(connection)
        future = asyncio.run_coroutine_threadsafe(connection.send(json.dumps(message)), self._loop)
        future.result(timeout)


def _hello() -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "fakeslack", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": APP_ID},
    }
