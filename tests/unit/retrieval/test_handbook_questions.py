"""The cross-language sets name real pages, in the other language: the dev set at least 40 each way, the
held-out set (written after the dev set's figures, to check an idea chosen on them) at least 20."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from retrieval.analysis import detect_language

RETRIEVAL = Path(__file__).parents[3] / "retrieval"


@pytest.mark.parametrize(
    ("name", "each_way"),
    [("sample_handbook_cross_language.json", 40), ("sample_handbook_cross_language_heldout.json", 20)],
)
def test_cross_language_questions_ask_about_pages_in_the_other_language(name: str, each_way: int) -> None:
    pages = {p.name: p.read_text(encoding="utf-8") for p in (RETRIEVAL / "sample_handbook").glob("*.md")}
    rows = json.loads((RETRIEVAL / name).read_text(encoding="utf-8"))
    directions: Counter[str] = Counter()
    for row in rows:
        assert row["doc"] in pages, row
        assert "collection: public" in pages[row["doc"]], row
        assert detect_language(row["question"]) == row["language"], row
        page_language = detect_language(pages[row["doc"]])
        assert page_language != row["language"], row
        directions[f"{row['language']}->{page_language}"] += 1
    assert directions["nl->en"] >= each_way and directions["en->nl"] >= each_way
    others = {"sample_handbook_questions.json", "sample_handbook_cross_language.json"} - {name}
    known = {q["question"] for other in others for q in json.loads((RETRIEVAL / other).read_text())}
    assert not known & {row["question"] for row in rows}
