"""`bron sync`, `bron sources --status` and `bron run`'s scheduler, against the fake intranet site.

The end-to-end test starts the real `bron run` (local chat mode, so no Slack) with a one-second sync
interval, changes and deletes pages on the fake site while it runs, and then searches with the real
`bron sources`: the new text is found and the deleted page never comes back.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from bot.cli import app
from connectors.sync import stream_status
from feedback.migrate import upgrade
from feedback.models import SourceSync
from feedback.store import FeedbackStore
from tests.connectors.fakes import confluence as fc
from tests.connectors.fakes.confluence import FakeConfluence
from tests.connectors.fakes.website import FakeSite

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Bearer intranet-token-do-not-log"
PAGES = {
    "leave": ("Leave policy", "Every employee gets 25 vacation days a year under the okapi arrangement."),
    "bike": ("Bike plan", "The zebrafiets plan pays half of a new bicycle."),
    "expenses": ("Expenses", "Declare travel costs within thirty days."),
    "laptops": ("Laptops", "Laptops are replaced every four years."),
    "onboarding": ("Onboarding", "New colleagues get a buddy in their first month."),
    "parking": ("Parking", "The garage opens at seven in the morning."),
}


@pytest.fixture
def site() -> Iterator[FakeSite]:
    s = FakeSite()
    for key, (title, text) in PAGES.items():
        s.put(f"/pub/{key}", title, text)
    s.put("/", "Intranet", "Welcome.", links=[f"/pub/{k}" for k in PAGES])
    yield s
    s.close()


def _config(tmp_path: Path, site: FakeSite, corpus: Path | None = None) -> Path:
    toml = tmp_path / "bron.toml"
    lines = [f'data_dir = "{tmp_path / "data"}"']
    if corpus is not None:
        lines.append(f'corpus = ["{corpus}"]')
    lines += [
        "[sources.intranet]",
        'kind = "website"',
        f'url = "{site.url}/"',
        f'authorization = "{SECRET}"',
        'collections = { "/pub/" = "public" }',
    ]
    toml.write_text("\n".join(lines) + "\n")
    return toml


@pytest.fixture
def env(tmp_path: Path, site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> Path:
    toml = _config(tmp_path, site)
    monkeypatch.setenv("BRON_CONFIG", str(toml))
    return tmp_path / "data"


def _out(result: object) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(str(result.output).split())  # type: ignore[attr-defined]


def test_sync_status_and_the_mass_delete_guard_from_the_cli(
    env: Path, site: FakeSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    before = runner.invoke(app, ["sources", "--status"])
    assert before.exit_code == 0, _out(before)
    assert "intranet" in _out(before) and "never" in _out(before)

    first = runner.invoke(app, ["sync"])
    assert first.exit_code == 0, _out(first)
    assert "6 added" in _out(first) and "1 not served" in _out(first)  # the home page has no collection
    assert all(r.headers.get("authorization") == SECRET for r in site.server.requests("/pub/"))

    status = runner.invoke(app, ["sources", "--status"])
    assert status.exit_code == 0
    assert "s ago" in _out(status) and "6 documents" in _out(status) and "ok" in _out(status)

    for key in ("bike", "expenses", "laptops"):
        site.delete(f"/pub/{key}")
    held = runner.invoke(app, ["sync", "intranet"])
    assert held.exit_code == 1
    assert "3 of 6 documents would be deleted" in _out(held) and "--allow-mass-delete" in _out(held)
    assert "mass delete blocked" in _out(runner.invoke(app, ["sources", "--status"]))
    allowed = runner.invoke(app, ["sync", "intranet", "--allow-mass-delete"])
    assert allowed.exit_code == 0, _out(allowed)
    assert "3 deleted" in _out(allowed)
    assert "3 documents" in _out(runner.invoke(app, ["sources", "--status"]))

    unknown = runner.invoke(app, ["sync", "wiki"])
    assert unknown.exit_code == 1 and "no source named 'wiki'" in _out(unknown)

    outputs = _out(first) + _out(status) + _out(held) + _out(allowed) + caplog.text
    assert "intranet-token-do-not-log" not in outputs


def test_a_bad_source_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "bron.toml"
    toml.write_text('[sources."My Wiki"]\nkind = "website"\nurl = "http://x/"\n')
    monkeypatch.setenv("BRON_CONFIG", str(toml))
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "BRON_SOURCES" in _out(result)


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _bron(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(ROOT / ".venv/bin/bron"), *args],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def _scheduled_run(
    tmp_path: Path, config: Path, change: Callable[[], None], secret: str = SECRET
) -> dict[str, str]:
    """`bron run` with a 1 s sync interval on `config`: first sync, then `change()` edits the source (the
    leave page changes, the bike page is deleted), and `bron run` is stopped two scheduled syncs later.
    Returns its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRON_", "SLACK_"))}
    env.update(
        BRON_CONFIG=str(config),
        BRON_SYNC__INTERVAL_S="1",
        # nothing is asked while it runs; a closed port keeps the local LLM server from starting
        BRON_SERVING__LLM_BASE_URL="http://127.0.0.1:9/v1",
        PYTHONPATH=str(ROOT),
    )
    url = f"sqlite:///{(tmp_path / 'data' / 'bron.db').resolve()}"
    (tmp_path / "data").mkdir()
    upgrade(url)
    store = FeedbackStore(url)

    def synced_since(t: float) -> bool:
        ages = [s.age_s() for s in stream_status(store)]
        return any(a is not None and time.time() - a > t for a in ages)

    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/bron"), "run"], env=env, cwd=tmp_path, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait(lambda: synced_since(0), 240, "the first scheduled sync")
        change()
        changed = time.time()
        _wait(lambda: synced_since(changed + 0.5), 60, "a scheduled sync after the change")
        later = time.time()
        _wait(lambda: synced_since(later), 60, "one more scheduled sync")  # the change is in, twice over
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # EOF ends the local chat; the scheduler stops with it
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        stderr = proc.stderr.read() if proc.stderr else ""
        print(stderr)  # shown when the test fails
        store.close()
    assert proc.returncode == 0, stderr
    assert "Syncing 1 source(s) every 1 s" in stderr
    assert secret.split()[-1] not in stderr
    return env


def _site_run(tmp_path: Path, site: FakeSite) -> dict[str, str]:
    corpus = tmp_path / "handbook"
    corpus.mkdir()
    (corpus / "welcome.md").write_text("# Welcome\n\nThis handbook is short.\n")

    def change() -> None:
        site.put(
            "/pub/leave",
            "Leave policy",
            "Every employee now gets 30 vacation days under the narwhal arrangement.",
        )
        site.delete("/pub/bike")

    return _scheduled_run(tmp_path, _config(tmp_path, site, corpus), change)


def test_bron_run_keeps_the_index_current_on_its_schedule(tmp_path: Path, site: FakeSite) -> None:
    env = _site_run(tmp_path, site)
    found = _bron(["sources", "narwhal vacation days", "--k", "3"], env)
    assert "Leave policy" in found.splitlines()[0] and "30 vacation days" in found
    assert "okapi" not in found
    gone = _bron(["sources", "zebrafiets bicycle plan", "--k", "10"], env)
    assert "Bike plan" not in gone and "zebrafiets" not in gone
    status = json.dumps(_bron(["sources", "--status"], env))
    assert "5 documents" in status


def test_bron_run_keeps_a_confluence_space_current_on_its_schedule(tmp_path: Path) -> None:
    """The same through Confluence Cloud's REST v2 (the fake): a page edited in place (a new version)
    is found with its new text after the next scheduled sync, and a deleted page never comes back."""
    wiki = FakeConfluence(("HR",))
    try:
        ids = {key: wiki.put("HR", None, title, f"<p>{text}</p>") for key, (title, text) in PAGES.items()}
        config = tmp_path / "bron.toml"
        config.write_text("\n".join([
            f'data_dir = "{tmp_path / "data"}"', f'corpus = ["{tmp_path / "empty"}"]', "[sources.wiki]",
            'kind = "confluence"', f'url = "{wiki.url}"', f'email = "{fc.EMAIL}"', f'api_token = "{fc.API_TOKEN}"',
            'spaces = ["HR"]', 'collections = { "HR" = "public" }',
        ]) + "\n")  # fmt: skip
        (tmp_path / "empty").mkdir()

        def change() -> None:
            narwhal = "<p>Every employee now gets 30 vacation days under the narwhal arrangement.</p>"
            wiki.put("HR", ids["leave"], "Leave policy", narwhal)
            wiki.delete(ids["bike"])

        env = _scheduled_run(tmp_path, config, change, secret=fc.API_TOKEN)
    finally:
        wiki.close()
    found = _bron(["sources", "narwhal vacation days", "--k", "3"], env)
    assert "Leave policy" in found.splitlines()[0] and "30 vacation days" in found
    assert "okapi" not in found
    gone = _bron(["sources", "zebrafiets bicycle plan", "--k", "10"], env)
    assert "Bike plan" not in gone and "zebrafiets" not in gone


@pytest.mark.llm
@pytest.mark.slow
def test_a_changed_page_is_answered_with_its_new_text_after_the_scheduled_sync(
    tmp_path: Path, site: FakeSite
) -> None:
    from serving.model_files import default_model_path
    from tests.integration.conftest import MODEL_CACHE

    env = _site_run(tmp_path, site)
    del env["BRON_SERVING__LLM_BASE_URL"]  # bron ask starts the packaged local model
    env["BRON_SERVING__LOCAL__MODEL_PATH"] = str(default_model_path(MODEL_CACHE))
    env["BRON_SERVING__TEMPERATURE"] = "0"
    answer = json.loads(_bron(["ask", "How many vacation days does an employee get?", "--json"], env))
    assert not answer["abstained"], answer["answer"]
    assert "30" in answer["answer"] and "25" not in answer["answer"]
    assert any("/pub/leave" in c["location"] for c in answer["citations"])
    bike = json.loads(_bron(["ask", "What does the zebrafiets bicycle plan pay for?", "--json"], env))
    cited = [c["location"] for c in bike["citations"]] + [r["doc_id"] for r in bike["retrieved"]]
    assert not any("/pub/bike" in where for where in cited)


def test_the_review_page_shows_each_source_and_its_last_sync(env: Path, site: FakeSite) -> None:
    from starlette.testclient import TestClient

    from bot.review.app import ReviewConfig, create_app

    assert CliRunner().invoke(app, ["sync"]).exit_code == 0
    url = f"sqlite:///{(env / 'bron.db').resolve()}"
    store = FeedbackStore(url)
    try:
        client = TestClient(create_app(store, ReviewConfig(reviewers=("alice",), token="t")))
        page = client.get("/", auth=("alice", "t"))
        assert page.status_code == 200
        assert "Connected sources" in page.text and "intranet" in page.text
        assert "s ago" in page.text and "<td>6</td>" in page.text
        with store.session() as session:  # a failed sync's message may name a restricted page
            session.execute(
                update(SourceSync).values(last_error="GET https://intranet.example/hr/salaris.html: 500")
            )
        page = client.get("/", auth=("alice", "t"))
        assert "failed: details in bron&#39;s log" in page.text and "salaris" not in page.text
    finally:
        store.close()
