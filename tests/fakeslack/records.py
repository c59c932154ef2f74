"""What the fake saw, kept in order and waitable from the test thread.

Tests wait on these records instead of sleeping: the bot answers from its own
threads (lazy listeners, Socket Mode workers), so a test blocks until the n-th
matching record arrives or the timeout says what did arrive instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake received it, with the answer it gave."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    content_type: str
    http_method: str
    token: str | None
    status: int
    response: dict[str, Any]
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ResponsePost:
    """One POST to a `response_url` handed out by `FakeSlack.new_response_url`."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    time: float = field(default_factory=time.time)


T = TypeVar("T")


class Recorder(Generic[T]):
    """A thread-safe append-only list with a blocking `wait`."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def add(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def all(self) -> list[T]:
        with self._changed:
            return list(self._items)

    def wait(self, match: Callable[[T], bool], *, n: int, timeout: float, what: str) -> list[T]:
        """The first `n` matching items, or AssertionError listing what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [item for item in self._items if match(item)]
                if len(found) >= n:
                    return found[:n]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"waited {timeout}s for {n} x {what}, got {len(found)}; "
                        f"last recorded: {'; '.join(repr(i)[:200] for i in self._items[-15:])}"
                    )
                self._changed.wait(left)
