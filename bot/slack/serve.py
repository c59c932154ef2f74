"""`bron run`: serve Slack in Socket Mode (default) or over HTTP (`--http`, several replicas)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.runtime import Runtime
from bot.settings import reveal
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

    handler = SocketModeHandler(app, app_token=reveal(settings.app_token))
    _serve_health_in_background(runtime, socket_connected=handler.client.is_connected)
    log.info("connecting to Slack in Socket Mode")
    handler.start()  # type: ignore[no-untyped-call]


def _serve_health_in_background(runtime: Runtime, *, socket_connected: Callable[[], bool]) -> None:
    """Socket Mode needs no inbound port, but the container healthcheck and Prometheus do."""
    import threading

    import uvicorn

    from bot.slack.http import build_asgi

    settings = runtime.settings.slack
    server = uvicorn.Server(
        uvicorn.Config(
            build_asgi(None, runtime, socket_connected=socket_connected),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, name="health", daemon=True).start()
    log.info("health, readiness and metrics on %s:%s", settings.http_host, settings.http_port)
