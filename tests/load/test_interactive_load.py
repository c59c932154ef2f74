"""Acks never wait behind answers: 10 slow answers in flight while 120 interactive requests arrive.

Through HTTP mode with the fake Slack enforcing rate tiers and trigger_id expiry; the LLM stand-in
takes 20 s per answer and the answer pool has 10 workers, so every worker is busy throughout. Before
answers had their own pool, Bolt's 5 listener threads were all answering and every command, click and
submit in this test timed out. `bench/slack/interactive.py` prints the same figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.interactive_load import run_interactive_load

pytestmark = pytest.mark.slow


def test_commands_clicks_and_submits_are_acked_while_every_answer_worker_is_busy(tmp_path: Path) -> None:
    figures = run_interactive_load(
        tmp_path, questions=10, commands=50, clicks=50, submits=20, llm_seconds=20, workers=10, queue=40
    )
    print("\n".join(figures.lines()))

    assert figures.requests == {"question": 10, "command": 50, "click": 50, "submit": 20}
    assert figures.statuses == {200: 130}
    assert figures.late_acks == 0
    # the benchmark's figure is in bench/slack/RESULTS.md (0.08 s; 0.93 s with 35 questions at once); CI's
    # loaded 2 cores measured 1.08 s, so the test holds the bar a person would notice, not that figure
    assert figures.status_max_s < 2.0
    assert figures.modals_opened == 20 and figures.modals_refused == []
    assert figures.details_stored == 20
    assert figures.commands_answered == 50 and figures.clicks_answered == 30
    assert (figures.answered, figures.answered_twice, figures.busy_replies) == (10, 0, 0)
    assert figures.unhandled_429 == 0


def test_questions_beyond_the_queue_get_the_busy_reply_and_none_is_lost(tmp_path: Path) -> None:
    figures = run_interactive_load(
        tmp_path, questions=35, commands=10, clicks=10, submits=4, llm_seconds=20, workers=10, queue=10
    )
    print("\n".join(figures.lines()))

    assert figures.late_acks == 0
    assert figures.answered == 20 and figures.answered_twice == 0
    assert figures.busy_replies == 15
    assert figures.unanswered == 0
    assert figures.modals_opened == 4 and figures.details_stored == 4
    assert figures.unhandled_429 == 0
