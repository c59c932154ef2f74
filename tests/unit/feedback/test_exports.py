"""Reviewed answers become a regression set and fine-tuning data built like the serving prompt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bot.review.sft import SftReport, sft_examples
from feedback.errors import StoreError
from feedback.exports import eval_cases, reviewed_cases, write_eval_set
from feedback.retention import parse_age
from feedback.review import resolve_flag
from feedback.store import FeedbackStore
from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk, Hit
from serving.context import build_context
from tests.unit.feedback.records import seed_review_queue, sqlite_store

VERLOF_TEXT = ("Medewerkers met een voltijds dienstverband hebben recht op 25 vakantiedagen per jaar. "
               "Parttimers krijgen dit naar rato. Ongebruikte dagen vervallen na vijf jaar.")  # fmt: skip
THUIS_TEXT = "De thuiswerkvergoeding bedraagt 2,35 euro per thuiswerkdag en wordt maandelijks uitbetaald."


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with sqlite_store(tmp_path) as s:
        yield s


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SQLiteBackend]:
    backend = SQLiteBackend(tmp_path / "index.sqlite", dim=4)
    for doc_id, chunk_id, title, text in [
        ("hr/verlof.md", "c-verlof-1", "Verlofregeling", VERLOF_TEXT),
        ("hr/thuiswerken.md", "c-thuis-1", "Thuiswerkbeleid", THUIS_TEXT),
    ]:
        chunk = Chunk(chunk_id=chunk_id, doc_id=doc_id, title=title, heading_path=(title,), text=text,
                      source=f"handbook/{doc_id}", language="nl")  # fmt: skip
        backend.replace_document(doc_id, "h", [chunk], np.ones((1, 4), dtype=np.float32))
    yield backend
    backend.close()


def _review_all(store: FeedbackStore, flags: dict[str, int]) -> None:
    with store.session() as session:
        resolve_flag(session, flags["verlof"], verdict="hallucination", reviewer="alice",
                     corrected_answer="Je hebt recht op 25 vakantiedagen per jaar [1]; thuiswerken levert "
                                      "2,35 euro per dag op [2].")  # fmt: skip
        resolve_flag(
            session,
            flags["taxi"],
            verdict="outdated_source",
            reviewer="bob",
            corrected_answer="Taxis are reimbursed after midnight.",
            expected_sources=["finance/taxi.md"],
        )
        resolve_flag(
            session, flags["uncited"], verdict="retrieval_miss", reviewer="bob"
        )  # no answer: left out


def test_eval_export_is_the_documented_jsonl(store: FeedbackStore, tmp_path: Path) -> None:
    flags = seed_review_queue(store, now=datetime.now(UTC))
    _review_all(store, flags)
    with store.session() as session:
        # the verlof question reviewed again later: only the latest verdict counts
        resolve_flag(session, flags["verlof"], verdict="correct", reviewer="carol",
                     corrected_answer="Je hebt recht op 25 vakantiedagen per jaar [1].")  # fmt: skip
        cases = eval_cases(reviewed_cases(session))
    out = tmp_path / "regression.jsonl"
    assert write_eval_set(out, cases) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_q = {r["question"]: r for r in rows}
    verlof = by_q["Hoeveel vakantiedagen heb ik per jaar?"]
    assert verlof == {
        "question": "Hoeveel vakantiedagen heb ik per jaar?",
        "expected_answer": "Je hebt recht op 25 vakantiedagen per jaar [1].",
        "expected_sources": ["hr/verlof.md"], "language": "nl", "id": verlof["id"], "verdict": "correct",
    }  # fmt: skip
    taxi = by_q["Can I take a taxi home after a late meeting?"]
    assert (taxi["expected_sources"], taxi["language"]) == (["finance/taxi.md"], "en")


def test_sft_export_matches_the_serving_prompt(store: FeedbackStore, index: SQLiteBackend) -> None:
    flags = seed_review_queue(store, now=datetime.now(UTC))
    _review_all(store, flags)
    with store.session() as session:
        cases = reviewed_cases(session)
    report = SftReport()
    examples = sft_examples(cases, lookup=index.get_chunks, token_budget=1400, report=report)
    assert report.written == 1
    assert report.skipped == {"verdict outdated_source": 1, "verdict retrieval_miss": 1}
    (example,) = examples
    chunks = index.get_chunks(["c-verlof-1", "c-thuis-1"])  # cited first, then by rank
    expected = build_context("Hoeveel vakantiedagen heb ik per jaar?",
                             [Hit(chunk=c, score=0.0, rank=n) for n, c in enumerate(chunks, 1)],
                             language="nl", token_budget=1400)  # fmt: skip
    assert example["messages"][:-1] == expected.messages
    assert '<source id="1" title="Verlofregeling"' in example["messages"][-2]["content"]
    assert VERLOF_TEXT in example["messages"][-2]["content"]  # full chunk text, not the stored snippet
    assert example["messages"][-1] == {
        "role": "assistant",
        "content": (
            "Je hebt recht op 25 vakantiedagen per jaar [1]; thuiswerken levert 2,35 euro per dag op [2]."
        ),
    }
    assert example["meta"]["verdict"] == "hallucination" and example["meta"]["language"] == "nl"


def test_sft_skips_cases_it_cannot_build_faithfully(store: FeedbackStore, index: SQLiteBackend) -> None:
    flags = seed_review_queue(store, now=datetime.now(UTC))
    with store.session() as session:
        resolve_flag(session, flags["verlof"], verdict="hallucination", reviewer="a",
                     corrected_answer="Zie bron [7].")  # fmt: skip
        resolve_flag(
            session, flags["taxi"], verdict="correct", reviewer="a"
        )  # its source is not in the index
        cases = reviewed_cases(session)
    report = SftReport()
    assert sft_examples(cases, lookup=index.get_chunks, token_budget=1400, report=report) == []
    assert report.skipped == {"answer cites a source that is not in the prompt": 1,
                              "source no longer in the index": 1}  # fmt: skip


def test_parse_age() -> None:
    assert (
        parse_age("90d").days == 90
        and parse_age("2w").days == 14
        and parse_age(" 36h ").total_seconds() == 36 * 3600
    )
    for bad in ("90", "0d", "-3d", "3m"):
        with pytest.raises(StoreError):
            parse_age(bad)
