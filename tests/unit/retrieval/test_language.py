"""The language guess on short Slack-style questions (bench/language/short_questions.json).

The set was written before any detector ran on it; the detector was chosen on its tune half. Both halves
must stay at or above 97 %, so a change that trades one language for the other shows here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.analysis import detect_language

SET = Path(__file__).parents[3] / "bench" / "language" / "short_questions.json"
ROWS = json.loads(SET.read_text(encoding="utf-8"))["questions"]


def test_the_set_is_large_and_balanced() -> None:
    assert len(ROWS) >= 100
    for language in ("nl", "en"):
        for split in ("tune", "report"):
            assert sum(r["language"] == language and r["split"] == split for r in ROWS) >= 40


@pytest.mark.parametrize("split", ["tune", "report"])
def test_at_least_97_percent_right(split: str) -> None:
    part = [r for r in ROWS if r["split"] == split]
    wrong = [r["text"] for r in part if detect_language(r["text"]) != r["language"]]
    assert 1 - len(wrong) / len(part) >= 0.97, wrong


@pytest.mark.parametrize(
    "question",
    [
        "Thuiswerkvergoeding per dag?",
        "Declaratie reiskosten",
        "Wachtwoordlengte?",
        "Ouderschapsverlof aanvragen",
    ],
)
def test_keyword_dutch_questions_are_dutch(question: str) -> None:
    assert detect_language(question) == "nl"


def test_function_words_still_decide_mixed_questions() -> None:
    assert detect_language("Is Koningsdag a day off?") == "en"
    assert detect_language("Wie is de product owner van het intranet?") == "nl"


@pytest.mark.parametrize("text", ["", "2025?", "   ", ":+1:"])
def test_text_without_letters_falls_to_the_default(text: str) -> None:
    assert detect_language(text, default="nl") == "nl"
    assert detect_language(text) == "en"
