"""200 signed events in 10 s through HTTP mode (uvicorn on 127.0.0.1:0), 10% of them Slack retries, from 20 channels.

Real: uvicorn, the ASGI app, signature checks, Bolt, the event_id dedupe in SQL, retrieval over the
indexed handbook, streaming to the fake Slack and recording every answer. Not real: the LLM — a tiny
local OpenAI-compatible server streams one fixed cited answer, because 180 answers from the local
0.5B model on 2 CPUs would take about 15 minutes. `bench/slack/load.py` prints the same figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.http_load import run_load

pytestmark = pytest.mark.slow


def test_every_event_is_acked_within_3_s_and_every_question_answered_exactly_once(tmp_path: Path) -> None:
    figures = run_load(tmp_path)
    print("\n".join(figures.lines()))

    assert figures.sent == 200 and figures.duplicates == 20
    assert figures.statuses == {200: 200}
    assert figures.ack_max_ms < 3000
    assert figures.answered == figures.unique == 180  # nothing lost
    assert figures.threads_answered_twice == 0  # nothing answered twice
    assert figures.recorded == 180
    assert figures.duplicates_ignored == 20
