"""Slack delivers an event again when it thinks the first delivery failed; answer it once.

Bolt does not deduplicate. The `event_id` is claimed in the feedback database (a primary-key
insert), so a retry is recognised on any replica and after a restart. A duplicate is still
acknowledged, or Slack would keep retrying it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse

from bot.slack.metrics import BACKEND_ERRORS, SLACK_EVENTS
from feedback.errors import StoreError
from feedback.store import FeedbackStore, claim_event

log = logging.getLogger(__name__)

Middleware = Callable[..., BoltResponse | None]


def dedupe_events(store: FeedbackStore) -> Middleware:
    """Bolt middleware: a claimed `event_id` is acked and dropped; anything without one passes through."""

    def dedupe(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not event_id:
            return next()
        try:
            first = claim_event(store, str(event_id))
        except StoreError as exc:  # better a rare double answer than no answer while the DB is down
            BACKEND_ERRORS.labels(backend="store").inc()
            log.error("event %s not deduplicated (database unavailable): %s", event_id, exc)
            first = True
        if not first:
            SLACK_EVENTS.labels(outcome="duplicate").inc()
            log.info("event %s already handled; acknowledging the retry only", event_id)
            return BoltResponse(status=200, body="")
        SLACK_EVENTS.labels(outcome="handled").inc()
        return next()

    return dedupe
