"""The review page in a real headless browser (Debian's Chromium driven by Playwright).

The app is served by uvicorn on 127.0.0.1 (a free port) over a SQLite store holding a few flagged
answers. Playwright never downloads a browser here: it drives /usr/bin/chromium. Without that binary
the test skips with a reason on a developer machine and fails in CI (env CI set), where .ci/run
installs it. Set BRON_SCREENSHOT_DIR to keep the screenshots (bench/review/ holds the committed one).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from bot.review.app import ReviewConfig, create_app
from feedback.models import Flag, Review
from feedback.store import FeedbackStore
from tests.unit.feedback.records import seed_review_queue, sqlite_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
CONFIG = ReviewConfig(reviewers=("alice",), token="browser-test-token")

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright; no browser download needed)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with sqlite_store(tmp_path) as s:
        yield s


@pytest.fixture
def served(store: FeedbackStore) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, CONFIG), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the review app did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _keep(shot: Path) -> None:
    keep = os.environ.get("BRON_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def test_reviewer_sees_marked_answer_and_charts_and_records_a_verdict(
    store: FeedbackStore, served: str, tmp_path: Path
) -> None:
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    flags = seed_review_queue(store, now=datetime.now(UTC))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            stranger = browser.new_context(http_credentials={"username": "mallory", "password": CONFIG.token})
            response = stranger.new_page().goto(served + "/")
            assert response is not None and response.status == 403

            context = browser.new_context(
                http_credentials={"username": "alice", "password": CONFIG.token},
                viewport={"width": 1280, "height": 900},
            )
            page = context.new_page()
            response = page.goto(served + "/")
            assert response is not None and response.status == 200

            card = page.locator(f"#flag-{flags['verlof']}")
            marked = card.locator("mark.unsupported")
            expect(marked).to_have_count(1)
            expect(marked).to_contain_text("extra week bij je verjaardag")
            expect(card.locator("ol.sources li").first).to_contain_text("Verlofregeling")
            expect(card.locator("ol.sources li").first.locator("a")).to_have_attribute(
                "href", "https://intranet.example/hr/verlof"
            )
            expect(page.locator("svg.chart")).to_have_count(4)
            assert page.locator("svg.chart").first.locator("rect.bar").count() == 30  # one bar per day
            box = page.locator("svg.chart").first.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100  # drawn, not collapsed
            shot = tmp_path / "review-page.png"
            page.screenshot(path=str(shot), full_page=True)
            _keep(shot)

            card.locator("input[value=hallucination]").check()
            card.locator("textarea[name=corrected_answer]").fill(
                "Je hebt recht op 25 vakantiedagen per jaar [1]."
            )
            card.locator("input[name=note]").fill("geen extra week in de regeling")
            card.locator("button[type=submit]").click()
            page.wait_for_url(f"**/?status=open&saved={flags['verlof']}")
            expect(page.locator("p.saved")).to_contain_text(f"#{flags['verlof']}")
            expect(page.locator(f"#flag-{flags['verlof']}")).to_have_count(0)
            expect(page.locator(f"#flag-{flags['taxi']}")).to_have_count(1)
        finally:
            browser.close()

    with store.session() as session:
        review = session.scalars(select(Review)).one()
        assert (review.flag_id, review.reviewer, review.verdict) == (
            flags["verlof"],
            "alice",
            "hallucination",
        )
        assert review.corrected_answer == "Je hebt recht op 25 vakantiedagen per jaar [1]."
        assert review.expected_sources == ["hr/verlof.md"]  # the cited source, pre-checked in the form
        assert review.note == "geen extra week in de regeling"
        assert session.get(Flag, flags["verlof"]).status == "resolved"  # type: ignore[union-attr]
