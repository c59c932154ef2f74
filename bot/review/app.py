"""The review web page: flagged answers, a verdict form, and charts over time (`bron review`).

Server-rendered (Starlette + Jinja2, no JavaScript, charts as inline SVG) so it runs offline, needs
no build step and works in any browser. Reviewers only: HTTP basic auth, where the user name must be
one of `store.reviewers` and the password is the reviewer's own (`store.reviewer_passwords`) or else
the shared `store.review_token`; a wrong password gets 401 (the browser asks again), a valid password
with a name not on the list gets 403. Each reviewer sees only answers whose every chunk lies in their
collections (`store.reviewer_collections`, else `public`); one granted more than `public` must have a
password of their own, since names are no secret and the shared one opens every name. Because browsers resend
basic-auth credentials on cross-site requests, every POST also carries a CSRF token (an HMAC of the
reviewer's name under the review token, so it survives restarts and works across replicas) and a
foreign Origin header is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.review.charts import daily_charts, histogram, source_bars
from bot.review.marking import mark_unsupported
from bot.syncing import format_age
from connectors.sync import stream_status
from feedback.errors import StoreError, StoreUnavailableError
from feedback.review import VERDICTS, FlagNotFoundError, FlagView, get_flag, list_flags, resolve_flag
from feedback.stats import daily_stats, groundedness_histogram, top_flagged_sources
from feedback.store import FeedbackStore

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
VERDICT_LABELS = {
    "correct": "Correct: the answer is right and supported",
    "hallucination": "Hallucination: says something the sources do not",
    "outdated_source": "Outdated source: the source itself is wrong or old",
    "retrieval_miss": "Retrieval miss: the right source was not found",
}


class ReviewConfigError(StoreError):
    """The review page cannot start as configured."""


@dataclass(frozen=True)
class ReviewConfig:
    reviewers: tuple[str, ...]
    token: str
    min_groundedness: float = 0.5
    days: int = 30
    # reviewer → the collections whose answers they may see; a reviewer not listed sees `public` only
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # reviewer → their own password; the only one accepted for them
    passwords: dict[str, str] = field(default_factory=dict)

    def scope(self, reviewer: str) -> tuple[str, ...]:
        return self.scopes.get(reviewer, ("public",))

    def __post_init__(self) -> None:
        if not self.token:
            raise ReviewConfigError(
                "the review page needs a password: set BRON_STORE__REVIEW_TOKEN (and BRON_STORE__REVIEWERS, "
                'e.g. \'["alice","bob"]\')'
            )
        if not self.reviewers:
            raise ReviewConfigError("no reviewers configured: set BRON_STORE__REVIEWERS, e.g. '[\"alice\"]'")
        shared = [r for r in self.reviewers if set(self.scope(r)) - {"public"} and not self.passwords.get(r)]
        if shared:
            raise ReviewConfigError(
                f"{', '.join(shared)} may review more than public answers but would sign in with the shared "
                "review token, which every reviewer knows: give each their own password in "
                'BRON_STORE__REVIEWER_PASSWORDS, e.g. \'{"alice": "…"}\''
            )


def csrf_token(config: ReviewConfig, reviewer: str) -> str:
    return hmac.new(config.token.encode(), f"csrf:{reviewer}".encode(), hashlib.sha256).hexdigest()


def reviewer_of(request: Request, config: ReviewConfig) -> str:
    """The authenticated reviewer's name, or an HTTP error (401 to ask again, 403 for non-reviewers)."""
    ask = {"WWW-Authenticate": 'Basic realm="Bron review", charset="UTF-8"'}
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise HTTPException(401, "reviewers only: sign in", headers=ask)
    try:
        user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise HTTPException(401, "malformed credentials", headers=ask) from None
    expected = config.passwords.get(user) or config.token
    if not hmac.compare_digest(password.encode(), expected.encode()):
        raise HTTPException(401, "wrong password", headers=ask)
    if user not in config.reviewers:
        raise HTTPException(403, f"{user!r} is not a reviewer (store.reviewers)")
    return user


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-site form submission refused")


async def _form(request: Request) -> dict[str, list[str]]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    return parse_qs(body.decode("utf-8"), keep_blank_values=True)


def _first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


def _expected_sources(form: dict[str, list[str]]) -> list[str]:
    chosen = [s for s in form.get("expected_source", []) if s.strip()]
    extra = [s.strip() for s in _first(form, "extra_sources").replace("\n", ",").split(",") if s.strip()]
    return list(dict.fromkeys([*chosen, *extra]))


def _card(flag: FlagView) -> dict[str, Any]:
    segments, missing = mark_unsupported(flag.answer, flag.unsupported)
    return {"flag": flag, "segments": segments, "missing": missing}


def create_app(store: FeedbackStore, config: ReviewConfig) -> Starlette:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.globals.update(verdicts=VERDICTS, verdict_labels=VERDICT_LABELS)

    def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
        response = templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    def index(request: Request) -> Response:
        reviewer = reviewer_of(request, config)
        scope = config.scope(reviewer)
        status = request.query_params.get("status", "open")
        with store.session() as session:
            flags = list_flags(session, status=None if status == "all" else status, limit=200, scope=scope)
            days = daily_stats(session, days=config.days)
            bins = groundedness_histogram(session, days=config.days)
            top = top_flagged_sources(session, days=config.days, scope=scope)
        sources = [
            {
                "stream": r.stream,
                "age": format_age(r.age_s()),
                "documents": r.documents,
                # a sync error can name a restricted page's URL; its text is for the operator's log
                "error": "failed: details in bron's log" if r.last_error else None,
            }
            for r in stream_status(store)
        ]
        charts = daily_charts(days)
        charts["groundedness"] = histogram("Groundedness of answers", bins, threshold=config.min_groundedness)
        charts["sources"] = source_bars("Sources most often cited in flagged answers", top)
        totals = {
            "answers": sum(d.answers for d in days),
            "thumbs_down": sum(d.thumbs_down for d in days),
            "flagged": sum(d.flagged for d in days),
        }
        return render(request, "index.html", {
            "reviewer": reviewer, "csrf": csrf_token(config, reviewer), "cards": [_card(f) for f in flags],
            "status": status, "charts": charts, "totals": totals, "days": config.days,
            "saved": request.query_params.get("saved"), "sources": sources,
        })  # fmt: skip

    def show(request: Request) -> Response:
        reviewer = reviewer_of(request, config)
        with store.session() as session:
            flag = get_flag(session, int(request.path_params["flag_id"]), scope=config.scope(reviewer))
        return render(request, "flag.html", {
            "reviewer": reviewer, "csrf": csrf_token(config, reviewer), "card": _card(flag),
        })  # fmt: skip

    async def verdict(request: Request) -> Response:
        reviewer = reviewer_of(request, config)
        _check_origin(request)
        form = await _form(request)
        if not hmac.compare_digest(_first(form, "csrf"), csrf_token(config, reviewer)):
            raise HTTPException(403, "the form has expired or did not come from this page; reload and retry")
        flag_id = int(request.path_params["flag_id"])
        chosen = _first(form, "verdict")
        if chosen not in VERDICTS:
            raise HTTPException(400, f"choose a verdict: one of {', '.join(VERDICTS)}")
        with store.session() as session:
            resolve_flag(
                session, flag_id, verdict=chosen, reviewer=reviewer,
                corrected_answer=_first(form, "corrected_answer"), expected_sources=_expected_sources(form),
                note=_first(form, "note"), scope=config.scope(reviewer),
            )  # fmt: skip
        back = "/?status=open" if _first(form, "next") != "flag" else f"/flags/{flag_id}"
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}saved={flag_id}", status_code=303)

    def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = PlainTextResponse(f"{exc.status_code}: {exc.detail}", status_code=exc.status_code)
        response.headers.update({**SECURITY_HEADERS, **(exc.headers or {})})
        return response

    async def not_found(_request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"404: {exc}", status_code=404, headers=SECURITY_HEADERS)

    async def unavailable(_request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"503: {exc}", status_code=503, headers=SECURITY_HEADERS)

    async def bad_request(_request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"400: {exc}", status_code=400, headers=SECURITY_HEADERS)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/flags/{flag_id:int}", show),
            Route("/flags/{flag_id:int}/verdict", verdict, methods=["POST"]),
            Route("/healthz", health),
        ],
        exception_handlers={
            HTTPException: http_error,
            FlagNotFoundError: not_found,
            StoreUnavailableError: unavailable,
            StoreError: bad_request,
        },
    )
