"""The cross-language dev set names real pages, in the other language, at least 40 each way."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from retrieval.analysis import detect_language

RETRIEVAL = Path(__file__).parents[3] / "retrieval"


def test_cross_language_questions_ask_about_pages_in_the_other_language() -> None:
    pages = {p.name: p.read_text(encoding="utf-8") for p in (RETRIEVAL / "sample_handbook").glob("*.md")}
    rows = json.loads((RETRIEVAL / "sample_handbook_cross_language.json").read_text(encoding="utf-8"))
    directions: Counter[str] = Counter()
    for row in rows:
        assert row["doc"] in pages, row
        assert "collection: public" in pages[row["doc"]], row
        assert detect_language(row["question"]) == row["language"], row
        page_language = detect_language(pages[row["doc"]])
        assert page_language != row["language"], row
        directions[f"{row['language']}->{page_language}"] += 1
    assert directions["nl->en"] >= 40 and directions["en->nl"] >= 40
    known = {q["question"] for q in json.loads((RETRIEVAL / "sample_handbook_questions.json").read_text())}
    assert not known & {row["question"] for row in rows}
