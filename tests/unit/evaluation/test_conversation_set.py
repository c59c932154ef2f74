"""The committed conversation set is what the issue asks for, and the summary counts what it says."""

from pathlib import Path

import pytest

from evaluation.answers import load_clapnq
from evaluation.conversation import DEFAULT_SET, TurnOutcome, acceptance, load_conversations, summarise
from retrieval.analysis import detect_language

CLAPNQ = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "clapnq_dev"


@pytest.fixture(scope="module")
def gold() -> dict[str, tuple[str, ...]]:
    if not CLAPNQ.exists():
        pytest.skip(f"CLAPnq dev data not at {CLAPNQ}")
    _, cases = load_clapnq(CLAPNQ)
    return {c.case_id: c.gold_docs for c in cases if c.gold_docs}


def test_the_set_has_sixty_conversations_of_every_kind_in_both_languages(
    gold: dict[str, tuple[str, ...]],
) -> None:
    conversations = load_conversations(DEFAULT_SET, gold)
    assert len(conversations) >= 60
    assert all(2 <= len(c.turns) <= 4 for c in conversations)
    turns = [t for c in conversations for t in c.turns]
    assert {t.kind for t in turns} == {"first", "follow_up", "switch", "unanswerable", "repeat"}
    assert all(t.expect for t in turns if t.kind != "unanswerable")
    assert all(not t.expect for t in turns if t.kind == "unanswerable")
    assert {detect_language(t.question) for t in turns} == {"nl", "en"}
    handbook = {p.stem for p in (DEFAULT_SET.parents[2] / "retrieval" / "sample_handbook").glob("*.md")}
    names = {e for t in turns for e in t.expect if "/" not in e and e in handbook}
    assert len(names) >= 15
    assert any(e in gold.get(qid, ()) for qid in gold for t in turns for e in t.expect)
    switches = [
        (a, b)
        for c in conversations
        for a, b in zip(c.turns, c.turns[1:], strict=False)
        if b.kind == "switch"
    ]
    assert any(detect_language(a.question) != detect_language(b.question) for a, b in switches)
    assert {c.half for c in conversations} == {"tune", "report"}


def test_an_unknown_clapnq_question_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "set.json"
    bad.write_text(
        '{"conversations": [{"id": "x", "turns": [{"q": "?", "kind": "first", "expect": ["clapnq:1"]}]}]}'
    )
    with pytest.raises(ValueError, match="no CLAPnq question 1"):
        load_conversations(bad, {})


def _outcome(kind: str, **kw: object) -> TurnOutcome:
    base: dict[str, object] = dict(
        conversation_id="c", half="tune", index=1, kind=kind, question="q", expect=["d"], previous_topic=[],
        cited=[], declined=False, right_doc=False, contaminated=False, equal_to_alone=True, dependent=False,
        rewritten=False, searched="q", added_ms=0.0,
    )  # fmt: skip
    base.update(kw)
    return TurnOutcome(**base)  # type: ignore[arg-type]


def test_summary_and_acceptance_count_per_kind() -> None:
    outcomes = [
        *[_outcome("follow_up", right_doc=True, dependent=True, added_ms=100.0) for _ in range(9)],
        _outcome("follow_up", declined=True),
        _outcome("switch", right_doc=True),
        _outcome("switch", right_doc=True, contaminated=True, equal_to_alone=False),
        _outcome("unanswerable", expect=[], declined=True),
    ]
    summary = summarise(outcomes)
    assert summary["follow_up"] == {
        "turns": 10, "right_doc": 0.9, "declined": 0.1, "contaminated": 0, "equal_to_alone": 1.0,
        "read_with_conversation": 9,
    }  # fmt: skip
    assert summary["switch"]["contaminated"] == 1 and summary["switch"]["equal_to_alone"] == 0.5
    assert summary["unanswerable"]["right_doc"] is None and summary["unanswerable"]["declined"] == 1.0
    assert summary["added_ms"]["p50"] == 100.0
    verdict = acceptance(summary)
    assert verdict["follow_up_right_doc>=0.9"] and verdict["unanswerable_declined>=0.8"]
    assert not verdict["switch_contamination==0"] and not verdict["switch_equal_to_alone>=0.95"]
