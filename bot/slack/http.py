"""HTTP mode: the ASGI app behind the load balancer — Slack events, health, readiness, metrics.

Bolt's own Starlette handler calls `App.dispatch` on the event loop; here it runs on the thread
pool, because dispatch claims the event id in the database before it acknowledges, and the loop must
keep accepting Slack's requests meanwhile.
"""

from __future__ import annotations

import logging

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
from bot.slack.metrics import REGISTRY

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def readiness(runtime: Runtime) -> dict[str, str]:
    """Each backend: "ok", or why not. Ready only when the database, the search backend and the LLM answer."""
    checks: dict[str, str] = {}
    try:
        with runtime.store.session() as session:
            session.execute(sql("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported, not raised
        checks["database"] = f"unavailable: {exc}"
    try:
        runtime.backend.count_chunks()
        checks["search"] = "ok"
    except Exception as exc:
        checks["search"] = f"unavailable: {exc}"
    if runtime.llm is None:
        checks["llm"] = "not configured"
    else:
        try:
            runtime.llm.available_models()
            checks["llm"] = "ok"
        except Exception as exc:
            checks["llm"] = f"unavailable: {exc}"
    return checks


def build_asgi(app: App | None, runtime: Runtime) -> Starlette:
    """The HTTP app; with `app=None` (Socket Mode) only the health, readiness and metrics routes."""

    async def events(request: Request) -> Response:
        assert app is not None
        body = await request.body()
        bolt_response = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        checks = await run_in_threadpool(readiness, runtime)
        ready = all(v == "ok" for v in checks.values())
        if not ready:
            log.warning("not ready: %s", checks)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

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
