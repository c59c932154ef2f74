"""Issue 22's four turns, typed into the terminal chat with the real local model.

Tried as a new user would, two of four answers were wrong although each question alone is answered or
declined correctly: the password question was answered with a marriage-leave table row from the
vacation page, and the laptop question with an invented rule cited to the password section. Each turn
must now be answered as when asked alone, or declined, in its own language.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console

import bot.terminal
from bot.asking import AskResult, ask
from bot.runtime import Runtime
from retrieval.analysis import detect_language
from serving.answer import evidence_score

pytestmark = pytest.mark.llm

TURNS = [
    ("Hoeveel vakantiedagen krijg ik per jaar?", "nl"),
    ("How long must my password be?", "en"),
    ("What is the CEO's favourite colour?", "en"),
    ("Mag ik mijn laptop mee naar huis nemen?", "nl"),
]


def _chat(bron: Runtime, lines: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[list[AskResult], str]:
    """Type `lines` into `bron chat`'s loop; returns each turn's result (the real `ask`, recorded) and
    what the chat printed."""
    results: list[AskResult] = []

    def recorded(*args: object, **kwargs: object) -> AskResult:
        result = ask(*args, **kwargs)  # type: ignore[arg-type]
        results.append(result)
        return result

    typed: Iterator[str] = iter([*lines, "/quit"])
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    monkeypatch.setattr(console, "input", lambda *_a, **_k: next(typed))
    monkeypatch.setattr(bot.terminal, "ask", recorded)
    bot.terminal.chat_loop(bron, console)
    return results, out.getvalue()


def test_four_turns_in_the_chat_are_each_answered_as_alone_or_declined(
    bron: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    results, printed = _chat(bron, [q for q, _ in TURNS], monkeypatch)
    assert len(results) == len(TURNS), printed
    for (question, language), turn in zip(TURNS, results, strict=True):
        a = turn.answer
        assert a.language == language
        assert a.turn is not None and not a.turn.dependent, f"{question!r} was read with the conversation"
        # read alone, the turn is searched, held to the bar and prompted exactly as when asked alone
        # (tests/integration/test_conversation.py shows the prompt is the same), so it gets that answer
        alone = bron.retriever.search(question, k=bron.policy.top_k).hits
        margin = bron.policy.cross_language_margin
        assert a.evidence == pytest.approx(evidence_score(alone, language, cross_language_margin=margin))
        assert a.hits[0].chunk.doc_id == alone[0].chunk.doc_id
        if not a.abstained:
            assert a.evidence is not None and a.evidence >= bron.policy.bar
            assert detect_language(a.text) == language, a.text
            assert a.citations, question
    vacation, password, ceo, laptop = (r.answer for r in results)
    assert not vacation.abstained and "25" in vacation.text
    assert "huwelijk" not in password.text.lower() and "|" not in password.text
    assert password.abstained or all(c.chunk.doc_id.endswith("it-security.md") for c in password.citations)
    assert ceo.abstained
    assert "niet mogelijk" not in laptop.text.lower()
    assert laptop.abstained or not any(c.chunk.doc_id.endswith("it-security.md") for c in laptop.citations)
    assert "Eigen huwelijk" not in printed and "niet mogelijk om een laptop" not in printed
