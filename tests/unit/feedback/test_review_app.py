"""The review page over HTTP: who may see it, what it shows, and that a verdict lands in the store."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.review.app import ReviewConfig, ReviewConfigError, create_app, csrf_token
from feedback.models import Flag, Review
from feedback.store import FeedbackStore
from tests.unit.feedback.records import seed_review_queue, sqlite_store

CONFIG = ReviewConfig(reviewers=("alice", "bob"), token="s3cret-review")


def auth(user: str = "alice", password: str = "s3cret-review") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with sqlite_store(tmp_path) as s:
        yield s


@pytest.fixture
def flags(store: FeedbackStore) -> dict[str, int]:
    return seed_review_queue(store, now=datetime.now(UTC))


@pytest.fixture
def client(store: FeedbackStore) -> TestClient:
    return TestClient(create_app(store, CONFIG), base_url="http://127.0.0.1:8080")


def test_config_needs_a_token_and_reviewers() -> None:
    with pytest.raises(ReviewConfigError, match="BRON_STORE__REVIEW_TOKEN"):
        ReviewConfig(reviewers=("alice",), token="")
    with pytest.raises(ReviewConfigError, match="BRON_STORE__REVIEWERS"):
        ReviewConfig(reviewers=(), token="x")


def test_reviewers_only(client: TestClient) -> None:
    anonymous = client.get("/")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
    assert client.get("/", headers=auth(password="guess")).status_code == 401
    assert client.get("/", headers=auth(user="mallory")).status_code == 403
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers=auth()).status_code == 200
    assert client.get("/healthz").text == "ok"


def test_list_shows_marked_answer_sources_feedback_and_charts(
    client: TestClient, flags: dict[str, int]
) -> None:
    page = client.get("/", headers=auth())
    assert page.status_code == 200
    html = page.text
    assert '<mark class="unsupported"' in html
    assert "Daarnaast krijg je elk jaar een extra week bij je verjaardag [1]." in html
    assert 'href="https://intranet.example/hr/verlof"' in html  # cited source as a link
    assert "Taxi&#39;s pas na middernacht" in html  # the thumbs-down comment, escaped
    assert html.count('<svg class="chart"') == 4
    for svg in html.split('<svg class="chart"')[1:]:
        ElementTree.fromstring('<svg class="chart"' + svg.split("</svg>")[0] + "</svg>")  # well-formed
    for flag_id in flags.values():
        assert f'<article class="flag open" id="flag-{flag_id}"' in html
    assert "fine" not in flags  # a grounded, upvoted answer is not in the queue
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_verdict_form_resolves_the_flag(
    client: TestClient, store: FeedbackStore, flags: dict[str, int]
) -> None:
    flag_id = flags["verlof"]
    form = {
        "csrf": csrf_token(CONFIG, "bob"), "verdict": "hallucination",
        "corrected_answer": "Je hebt recht op 25 vakantiedagen per jaar [1].",
        "expected_source": "hr/verlof.md", "extra_sources": "hr/cao.md, hr/verlof.md", "note": "geen extra week",
    }  # fmt: skip
    response = client.post(
        f"/flags/{flag_id}/verdict", data=form, headers=auth("bob"), follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"/?status=open&saved={flag_id}"
    with store.session() as session:
        review = session.scalars(select(Review)).one()
        assert (review.flag_id, review.reviewer, review.verdict) == (flag_id, "bob", "hallucination")
        assert review.expected_sources == ["hr/verlof.md", "hr/cao.md"]
        assert review.corrected_answer == "Je hebt recht op 25 vakantiedagen per jaar [1]."
        assert session.get(Flag, flag_id).status == "resolved"  # type: ignore[union-attr]
    after = client.get("/?saved=1", headers=auth("bob")).text
    assert f'id="flag-{flag_id}"' not in after
    assert f'id="flag-{flag_id}"' in client.get("/?status=resolved", headers=auth("bob")).text


def test_forged_or_bad_posts_are_refused(
    client: TestClient, store: FeedbackStore, flags: dict[str, int]
) -> None:
    url = f"/flags/{flags['taxi']}/verdict"
    good = {"csrf": csrf_token(CONFIG, "alice"), "verdict": "correct"}
    assert client.post(url, data={**good, "csrf": "x"}, headers=auth()).status_code == 403
    assert (
        client.post(url, data={**good, "csrf": csrf_token(CONFIG, "bob")}, headers=auth()).status_code == 403
    )
    foreign = {**auth(), "Origin": "https://evil.example"}
    assert client.post(url, data=good, headers=foreign).status_code == 403
    assert client.post(url, data={**good, "verdict": "meh"}, headers=auth()).status_code == 400
    assert client.post("/flags/9999/verdict", data=good, headers=auth()).status_code == 404
    assert client.post(url, json=good, headers=auth()).status_code == 415
    assert client.post(url, data=good, headers=auth("mallory")).status_code == 403
    with store.session() as session:
        assert session.scalars(select(Review)).all() == []


def test_flag_page_and_errors(client: TestClient, flags: dict[str, int]) -> None:
    page = client.get(f"/flags/{flags['uncited']}", headers=auth())
    assert (
        page.status_code == 200
        and "no citation" in page.text
        and "De vergoeding is 3 euro per dag." in page.text
    )
    assert client.get("/flags/424242", headers=auth()).status_code == 404
    assert client.get("/?status=bogus", headers=auth()).status_code == 400
