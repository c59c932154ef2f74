"""Building the Bolt `App` from settings and a `Runtime`: client, middleware, listeners."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.runtime import Runtime
from bot.settings import SlackSettings, reveal
from bot.slack.access import SlackAccess
from bot.slack.commands import register_commands
from bot.slack.dedupe import dedupe_events
from bot.slack.feedback_modal import register_feedback
from bot.slack.listeners import register_agent_view, register_events
from bot.slack.pool import Pools
from bot.slack.sharing import register_sharing
from bot.slack.streaming import StreamBudget

log = logging.getLogger(__name__)


class SlackConfigError(Exception):
    """The Slack settings are incomplete for the chosen mode; the message names the variable."""


def build_client(settings: SlackSettings) -> WebClient:
    """A client that waits out 429s (Retry-After, up to 3 times) and retries dropped connections and 5xx."""
    return WebClient(
        token=reveal(settings.bot_token),
        base_url=settings.base_url or WebClient.BASE_URL,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_pools(settings: SlackSettings) -> Pools:
    return Pools(
        answer_workers=settings.answer_workers,
        answer_queue=settings.answer_queue,
        answers_per_user=settings.answers_per_user,
        chore_workers=settings.chore_workers,
        chore_queue=settings.chore_queue,
    )


def build_app(runtime: Runtime, *, http: bool, verify_token: bool = True, pools: Pools | None = None) -> App:
    """The whole app. `http` needs the signing secret; Socket Mode needs none (the socket is authenticated).

    `verify_token` calls `auth.test` now, which fails fast on a bad token and tells Bolt the bot's
    own user id (to ignore its own messages); tests against a fake Slack may turn it off.
    """
    settings = runtime.settings.slack
    if not settings.bot_token:
        raise SlackConfigError("set SLACK_BOT_TOKEN (or BRON_SLACK__BOT_TOKEN) to the app's xoxb- token")
    if http and not settings.signing_secret:
        raise SlackConfigError("HTTP mode needs SLACK_SIGNING_SECRET (or BRON_SLACK__SIGNING_SECRET)")
    app = App(
        client=build_client(settings),
        signing_secret=reveal(settings.signing_secret) or "",
        request_verification_enabled=http,
        token_verification_enabled=verify_token,
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.listener_workers, thread_name_prefix="bron-listener"
        ),
        name="bron",
    )
    pools = pools or build_pools(settings)
    app.use(dedupe_events(runtime.store))
    budget = StreamBudget(
        starts_per_minute=settings.stream_starts_per_minute,
        appends_per_minute=settings.stream_sends_per_minute,
    )
    access = SlackAccess(settings)
    register_events(app, runtime, access, pools, budget)
    register_agent_view(app)
    register_commands(app, runtime, access, pools)
    register_feedback(app, runtime, access, pools)
    register_sharing(app, runtime, access, pools)
    return app
