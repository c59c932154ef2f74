"""Bron's own bounded worker pools, so Slack's 3-second acknowledgements never wait behind answers.

Bolt runs every listener's `ack` function on one executor (5 threads by default) and lazy listeners
on the same one; a few slow answers there and commands, buttons and modal submits miss Slack's 3 s.
So listeners only acknowledge, show a status and hand the work over: answers to a pool of
`answer_workers` threads behind a queue of `answer_queue`, at most `answers_per_user` per person, and
searches and database writes (sources, flags, votes) to a smaller pool of their own. A pool that is
full says so at once, and the caller replies "busy, ask again in a minute" instead of going silent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from bot.slack.metrics import QUEUE_DEPTH, QUEUE_REFUSED, QUEUE_WAIT, RUNNING

log = logging.getLogger(__name__)

Admission = Literal["accepted", "busy", "user_busy"]


class WorkPool:
    """A fixed number of threads behind a bounded queue, with an optional per-user limit."""

    def __init__(self, name: str, *, workers: int, queue: int, per_user: int | None = None) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"{name} pool needs at least one worker and a queue of 0 or more")
        self.name = name
        self.workers = workers
        self.capacity = workers + queue
        self.per_user = per_user
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bron-{name}")
        self._lock = threading.Lock()
        self._pending = 0  # queued + running
        self._running = 0
        self._by_user: dict[str, int] = {}

    def submit(self, job: Callable[[], object], *, user: str = "") -> Admission:
        """Queue `job` unless the pool (or this user's share of it) is full; never blocks."""
        with self._lock:
            if self._pending >= self.capacity:
                QUEUE_REFUSED.labels(pool=self.name, reason="busy").inc()
                return "busy"
            if self.per_user is not None and user and self._by_user.get(user, 0) >= self.per_user:
                QUEUE_REFUSED.labels(pool=self.name, reason="user_busy").inc()
                return "user_busy"
            self._pending += 1
            if user:
                self._by_user[user] = self._by_user.get(user, 0) + 1
            self._publish()
        queued_at = time.monotonic()
        self._executor.submit(self._run, job, user, queued_at)
        return "accepted"

    def _run(self, job: Callable[[], object], user: str, queued_at: float) -> None:
        QUEUE_WAIT.labels(pool=self.name).observe(time.monotonic() - queued_at)
        with self._lock:
            self._running += 1
            self._publish()
        try:
            job()
        except Exception:  # a job must not take a worker thread down; the traceback goes to the log
            log.exception("%s job failed", self.name)
        finally:
            with self._lock:
                self._running -= 1
                self._pending -= 1
                if user:
                    left = self._by_user.get(user, 1) - 1
                    if left > 0:
                        self._by_user[user] = left
                    else:
                        self._by_user.pop(user, None)
                self._publish()

    def _publish(self) -> None:
        QUEUE_DEPTH.labels(pool=self.name).set(self._pending - self._running)
        RUNNING.labels(pool=self.name).set(self._running)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def shutdown(self, *, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait)


class Pools:
    """The two pools a Slack app uses: `answers` (the LLM) and `chores` (searches, database writes)."""

    def __init__(self, *, answer_workers: int, answer_queue: int, answers_per_user: int, chore_workers: int,
                 chore_queue: int) -> None:  # fmt: skip
        self.answers = WorkPool(
            "answers", workers=answer_workers, queue=answer_queue, per_user=answers_per_user
        )
        self.chores = WorkPool("chores", workers=chore_workers, queue=chore_queue)

    def shutdown(self, *, wait: bool = True) -> None:
        self.answers.shutdown(wait=wait)
        self.chores.shutdown(wait=wait)
