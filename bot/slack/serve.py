"""`bron run`: serve Slack in Socket Mode (default) or over HTTP (`--http`, several replicas)."""

from __future__ import annotations

import logging

from bot.runtime import Runtime
from bot.slack.app import SlackConfigError, build_app

log = logging.getLogger(__name__)


def serve(runtime: Runtime, *, http: bool) -> None:
    """Block until interrupted. Socket Mode needs SLACK_APP_TOKEN; HTTP mode the signing secret."""
    settings = runtime.settings.slack
    app = build_app(runtime, http=http)
    if http:
        import uvicorn

        from bot.slack.http import build_asgi

        log.info("serving Slack over HTTP on %s:%s", settings.http_host, settings.http_port)
        uvicorn.run(
            build_asgi(app, runtime),
            host=settings.http_host,
            port=settings.http_port,
            log_level=runtime.settings.log_level.lower(),
        )
        return
    if not settings.app_token:
        raise SlackConfigError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write)")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token=settings.app_token)
    log.info("connecting to Slack in Socket Mode")
    handler.start()  # type: ignore[no-untyped-call]
