"""Sign HTTP-mode requests exactly as Slack does, so tests exercise the app's real verification."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence


def signature(secret: str, body: bytes | str, timestamp: int) -> str:
    """`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the signing secret."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def sign(
    secret: str, body: bytes | str, timestamp: int | None = None, *, content_type: str | None = None
) -> dict[str, str | Sequence[str]]:
    """Headers Slack sends with a request: signature, timestamp and content type.

    `timestamp` defaults to now; pass an old one to test replay rejection. The
    content type is guessed the way Slack sends it: JSON for Events API bodies,
    form-encoded for slash commands and interactivity. The value type matches
    `BoltRequest(headers=...)`.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    raw = body.encode() if isinstance(body, str) else body
    guessed = "application/json" if raw.lstrip().startswith(b"{") else "application/x-www-form-urlencoded"
    return {
        "Content-Type": content_type or guessed,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, raw, ts),
    }
