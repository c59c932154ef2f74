"""HTTP mode: the ASGI app behind the load balancer — Slack events, health, readiness, metrics.

Bolt's own Starlette handler calls `App.dispatch` on the event loop; here it runs on the thread
pool, because dispatch claims the event id in the database before it acknowledges, and the loop must
keep accepting Slack's requests meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import text as sql
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.runtime import Runtime
from bot.slack.metrics import DEPENDENCY_UP, REGISTRY

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def readiness(runtime: Runtime) -> dict[str, str]:
    """Each dependency: "ok", or "unavailable (ErrorType)"; the details go to the log, not the response.

    A dependency's outage does not make Bron unready: it still acknowledges Slack and tells users
    politely that a part is down, where a 503 would only make Slack retry and alert on delivery failures.
    """
    checks: dict[str, str] = {}

    def probe(name: str, check: Callable[[], object]) -> None:
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure is reported, never raised
            log.warning("readiness probe: %s unavailable: %s", name, exc)
            checks[name] = f"unavailable ({type(exc).__name__})"
        DEPENDENCY_UP.labels(dependency=name).set(1 if checks[name] == "ok" else 0)

    def database() -> None:
        with runtime.store.session() as session:
            session.execute(sql("SELECT 1"))

    probe("database", database)
    probe("search", runtime.backend.count_chunks)
    if runtime.llm is None:
        checks["llm"] = "not configured"
    else:
        probe("llm", runtime.llm.available_models)
    return checks


def build_asgi(
    app: App | None, runtime: Runtime, *, socket_connected: Callable[[], bool] | None = None
) -> Starlette:
    """The HTTP app; with `app=None` (Socket Mode) only the health, readiness and metrics routes.

    In Socket Mode the websocket is how events arrive, so `socket_connected` decides readiness: a
    replica whose socket is down takes no events and answers 503 until the client reconnects.
    """

    async def events(request: Request) -> Response:
        assert app is not None
        body = await request.body()
        bolt_response = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        """Liveness: the process serves requests (a restart would not fix a dependency outage)."""
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        """Readiness: Bron takes events; each dependency's state is reported beside it, not as a 503."""
        checks = await run_in_threadpool(readiness, runtime)
        ready = True
        if socket_connected is not None:
            ready = socket_connected()
            checks["slack_socket"] = "ok" if ready else "unavailable (disconnected)"
        degraded = [name for name, state in checks.items() if state.startswith("unavailable")]
        return JSONResponse(
            {"ready": ready, "degraded": degraded, "checks": checks}, status_code=200 if ready else 503
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if app is not None:
        routes.append(Route(EVENTS_PATH, events, methods=["POST"]))
    return Starlette(routes=routes)
