"""Slack's rate limits, as the fake enforces them when asked (`FakeSlack(rate_limits=True)`).

Per method and workspace, each tier allows a number of calls per minute (Tier 1: 1, Tier 2: 20,
Tier 3: 50, Tier 4: 100); `chat.postMessage` allows about one message per second per channel with
short bursts. Modelled as token buckets that start full (Slack tolerates bursts up to the minute's
allowance) and refill evenly; a call over the limit gets HTTP 429 with `Retry-After` in whole seconds,
as Slack answers it. The tier of each method comes from the method reference (`rate_limits`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

PER_MINUTE = {"t1": 1, "t2": 20, "t3": 50, "t4": 100}
POST_PER_SECOND = 1.0
POST_BURST = 3


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    at: float

    def take(self, now: float) -> float | None:
        """None when a call may go now, else the seconds until one may."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.per_second


class RateLimits:
    """Token buckets per (workspace token, method) and, for chat.postMessage, per channel."""

    def __init__(self, tiers: dict[str, str], *, scale: float = 1.0) -> None:
        self._tiers = tiers
        self._scale = scale  # < 1 makes every limit stricter, for short tests
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, method: str, token: str | None, channel: str | None) -> int | None:
        """Retry-After in seconds when this call is over its limit, else None (and the call is counted)."""
        if method == "chat.postMessage":
            key: tuple[str, ...] = (token or "", method, channel or "")
            capacity, per_second = POST_BURST, POST_PER_SECOND * self._scale
        elif self._tiers.get(method) in PER_MINUTE:
            per_minute = PER_MINUTE[self._tiers[method]] * self._scale
            key, capacity, per_second = (token or "", method), max(per_minute, 1), per_minute / 60
        else:
            return None
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(capacity, per_second, capacity, now)
            wait = bucket.take(now)
        return None if wait is None else max(1, math.ceil(wait))
