"""HTTP for connectors: httpx with the throttling rules every vendor documents.

httpx is already Bron's HTTP client (openai uses it); what it lacks is honouring `429 Too Many
Requests` / `503` with `Retry-After` (seconds or an HTTP date), which Microsoft Graph, Atlassian and
web servers all send. Retries wait what the server asked, capped, with a short backoff otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from connectors.base import SourceError
from connectors.settings import SyncSettings, WebsiteSourceSettings

log = logging.getLogger(__name__)
# httpx logs every URL at INFO and httpcore response headers at DEBUG; pre-authenticated download
# links (Location headers, query strings) carry tokens
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

RETRY_STATUSES = frozenset({429, 502, 503, 504})


def retry_after_seconds(value: str | None, *, default: float) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Http:
    """One httpx client with retries; `waited_s` adds up the time spent obeying Retry-After."""

    def __init__(
        self,
        sync: SyncSettings | None = None,
        *,
        user_agent: str = WebsiteSourceSettings.model_fields["user_agent"].default,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Timeout and retry limits come from `sync` (`BRON_SYNC__*`), the defaults where None."""
        sync = sync or SyncSettings()
        self.client = httpx.Client(
            timeout=sync.request_timeout_s, follow_redirects=True, headers={"User-Agent": user_agent}
        )
        self.max_retries = sync.max_retries
        self.max_wait_s = sync.max_retry_after_s
        self.sleep = sleep
        self.waited_s = 0.0
        self.throttled = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The response once it is not a throttling answer; SourceError when the server stays away."""
        attempt = 0
        while True:
            try:
                response = self.client.request(method, url, headers=headers, data=data)
            except httpx.HTTPError as exc:
                if attempt >= self.max_retries:
                    raise SourceError(f"{method} {_safe(url)}: {type(exc).__name__}: {exc}") from exc
                wait = min(self.max_wait_s, 0.5 * 2**attempt)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if attempt >= self.max_retries:
                    raise SourceError(
                        f"{method} {_safe(url)}: still {response.status_code} after {attempt} retries"
                    )
                if response.status_code == 429:
                    self.throttled += 1
                wait = min(
                    self.max_wait_s,
                    retry_after_seconds(response.headers.get("Retry-After"), default=0.5 * 2**attempt),
                )
            log.info("%s %s: waiting %.1f s before retrying", method, _safe(url), wait)
            self.sleep(wait)
            self.waited_s += wait
            attempt += 1

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        return self.request("GET", url, headers=headers)

    def close(self) -> None:
        self.client.close()


def _safe(url: str) -> str:
    """A URL for logs and errors without its query string (pre-authenticated links carry tokens)."""
    return url.split("?", 1)[0]
