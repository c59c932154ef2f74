"""Marking unsupported sentences in an answer, and the inline SVG charts."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

from bot.review.charts import bar_chart, daily_charts, histogram, source_bars
from bot.review.marking import Segment, mark_unsupported
from feedback.stats import Bin, DayStats, SourceCount

SVG = "{http://www.w3.org/2000/svg}"


def test_unsupported_sentence_is_found_despite_renumbered_citations() -> None:
    answer = "Je hebt 25 vakantiedagen [1]. Je krijgt ook een extra week [2]. Vraag het je manager."
    segments, missing = mark_unsupported(answer, ["Je krijgt ook  een extra week [3].", "Dit staat er niet."])
    assert "".join(s.text for s in segments) == answer
    assert [s.text for s in segments if s.unsupported] == ["Je krijgt ook een extra week [2]."]
    assert missing == ["Dit staat er niet."]


def test_overlapping_and_empty_sentences() -> None:
    answer = "A b c. C d e."
    segments, missing = mark_unsupported(answer, ["A b c. C", "C d e.", "[1]"])
    assert "".join(s.text for s in segments) == answer
    assert [s.unsupported for s in segments] == [True]
    assert missing == ["[1]"]
    assert mark_unsupported("Plain.", []) == ([Segment("Plain.", False)], [])


def _parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))


def test_charts_are_well_formed_svg_with_one_mark_per_value() -> None:
    days = [DayStats(day=date(2026, 11, d), answers=a, thumbs_down=t, flagged=f)
            for d, a, t, f in [(1, 10, 1, 2), (2, 0, 0, 0), (3, 4, 2, 1), (4, 5, 0, 0)]]  # fmt: skip
    charts = daily_charts(days)
    bars = _parse(charts["answers"]).findall(f"{SVG}rect[@class='bar']")
    assert [b.find(f"{SVG}title").text for b in bars] == ["01 Nov: 10", "02 Nov: 0", "03 Nov: 4", "04 Nov: 5"]  # type: ignore[union-attr]
    rates = _parse(charts["rates"])
    # a day without answers has no rate: the line breaks there (no point, no false 0%)
    assert len(rates.findall(f"{SVG}polyline")) == 2
    points = [c.find(f"{SVG}title").text for c in rates.iter(f"{SVG}circle")]  # type: ignore[union-attr]
    assert len(points) == 6 and not any(p and "02 Nov" in p for p in points)
    assert "thumbs-down rate 03 Nov: 50.0%" in points
    hist = _parse(histogram("g", [Bin(0.0, 0.5, 3), Bin(0.5, 1.0, 7)], threshold=0.5))
    assert [r.get("fill") for r in hist.findall(f"{SVG}rect[@class='bar']")] == ["#c0392b", "#1e8449"]


def test_chart_text_is_escaped() -> None:
    svg = source_bars("top", [SourceCount(doc_id="x<script>", title="<b>Evil & co</b>", flags=2)])
    root = _parse(svg)
    assert "<script>" not in str(svg)
    assert any(t.text == "<b>Evil & co</b>" for t in root.iter(f"{SVG}text"))
    assert _parse(bar_chart("empty", [], [])).get("role") == "img"
    assert "no flags yet" in str(source_bars("top", []))
