"""Issue 22: a follow-up keeps its topic, a new topic starts fresh.

Real retrieval (the sample handbook, e5, the embedded engine) and the real checker; the model is a
stand-in that records what it is shown and writes a fixed draft, so that what reaches it is the test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from retrieval.ingest import ingest_paths
from serving.answer import Answer, answer_question
from serving.llm import Completion

HANDBOOK = Path(__file__).resolve().parents[2] / "retrieval" / "sample_handbook"
VACATION = [("Hoeveel vakantiedagen krijg ik per jaar?", "Je krijgt 25 vakantiedagen per jaar [1].")]


class RecordingDraft:
    """Like an LLMClient: remembers every request and writes the same draft."""

    def __init__(self, text: str = "Dat staat in de bron [1].") -> None:
        self.text = text
        self.model = "recording"
        self.requests: list[list[Any]] = []

    def chat(self, messages: Sequence[Any], **_: Any) -> Completion:
        self.requests.append(list(messages))
        return Completion(text=self.text, model=self.model, first_token_ms=1.0, total_ms=2.0)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with open_runtime(Settings(data_dir=tmp_path_factory.mktemp("conversation")), with_llm=False) as rt:
        report = ingest_paths([HANDBOOK], backend=rt.backend, embedder=rt.embedder)
        assert not report.failed, report.failed
        yield rt


def _ask(runtime: Runtime, question: str, history: list[tuple[str, str]], llm: RecordingDraft) -> Answer:
    return answer_question(
        question, retriever=runtime.retriever, llm=llm, policy=runtime.policy,  # type: ignore[arg-type]
        history=history, checker=runtime.checker,
    )  # fmt: skip


def _docs(answer: Answer) -> list[str]:
    return [h.chunk.doc_id.rsplit("/", 1)[-1] for h in answer.hits]


def test_a_new_topic_is_retrieved_and_prompted_exactly_as_if_asked_alone(runtime: Runtime) -> None:
    question = "How long must my password be?"
    llm = RecordingDraft("Your password must be at least 14 characters long [1].")
    after = _ask(runtime, question, VACATION, llm)
    alone = _ask(runtime, question, [], llm)
    assert after.turn is not None and not after.turn.dependent
    assert [h.chunk.chunk_id for h in after.hits] == [h.chunk.chunk_id for h in alone.hits]
    assert after.evidence == alone.evidence
    assert llm.requests[0] == llm.requests[1], "the model must not see the earlier topic"
    assert "vakantie" not in str(llm.requests[0]).lower()
    assert not after.abstained and after.citations[0].chunk.doc_id.endswith("it-security.md")


@pytest.mark.parametrize(
    ("history", "question"),
    [
        (VACATION, "En voor parttimers?"),
        (VACATION, "En vanaf 55 jaar?"),
        (
            [("How many weeks of paid birth leave do partners get?", "One week [1].")],
            "And the additional weeks?",
        ),
    ],
)
def test_an_elliptical_follow_up_finds_its_topic_and_sees_the_history(
    runtime: Runtime, history: list[tuple[str, str]], question: str
) -> None:
    llm = RecordingDraft()
    answer = _ask(runtime, question, history, llm)
    assert answer.turn is not None and answer.turn.dependent
    assert history[-1][0] in answer.turn.text and question in answer.turn.text
    assert not answer.abstained or answer.model is not None, "the evidence bar must let it through"
    topic = "vakantie-en-verlof.md" if history is VACATION else "parental-leave.md"
    assert _docs(answer)[0] == topic
    user = str(llm.requests[0][-1]["content"])
    assert "<history>" in user and history[-1][0] in user.split("</history>")[0]
    assert user.split("</history>")[1].strip().startswith("Sources:")


def test_a_question_no_document_answers_is_declined_after_an_answered_one(runtime: Runtime) -> None:
    llm = RecordingDraft("The CEO's favourite colour is blue [1].")
    history = [("How long must my password be?", "At least 14 characters [1].")]
    answer = _ask(runtime, "What is the CEO's favourite colour?", history, llm)
    assert answer.turn is not None and not answer.turn.dependent
    assert answer.abstained and answer.model is None and not llm.requests


def test_the_old_way_searched_the_previous_topic(runtime: Runtime) -> None:
    """What `bron eval conversation` calls naive: the switch retrieves the vacation page."""
    from serving.conversation import read_turn

    policy = replace(runtime.policy)
    turn, result = read_turn(
        "How long must my password be?", VACATION, retriever=runtime.retriever, language="en",
        top_k=policy.top_k, cross_language_margin=policy.cross_language_margin, bar=policy.bar,
        mode="together",
    )  # fmt: skip
    assert turn.dependent
    assert any(h.chunk.doc_id.endswith("vakantie-en-verlof.md") for h in result.hits)


TWO_SENTENCES = (
    "Your password must be at least 14 characters long [1]. "
    "Every employee gets a 1Password account on their first day [1]."
)


def _with_margin(runtime: Runtime, draft: str, margin: float, quote_bar: float | None = None) -> Answer:
    policy = replace(runtime.policy, support_margin=margin, quote_bar=quote_bar)
    return answer_question(
        "How long must my password be?", retriever=runtime.retriever, llm=RecordingDraft(draft),  # type: ignore[arg-type]
        policy=policy, checker=runtime.checker,
    )  # fmt: skip


def test_a_sentence_supported_only_within_the_margin_is_marked_in_terminal_and_slack(
    runtime: Runtime,
) -> None:
    from bot.slack.blocks import answer_blocks, marked_text
    from bot.terminal import render_text
    from tests.fakeslack import check_blocks

    plain = _with_margin(runtime, TWO_SENTENCES, 0.0)
    assert not plain.abstained and plain.weak_sentences == []
    scores = sorted(float(s.score) for s in plain.grounding.sentences)
    assert len(scores) == 2 and all(s >= runtime.checker.threshold for s in scores)  # type: ignore[union-attr]
    margin = (scores[0] + scores[1]) / 2 - runtime.checker.threshold  # type: ignore[union-attr]

    answer = _with_margin(runtime, TWO_SENTENCES, margin)
    assert not answer.abstained
    [weak] = answer.weak_sentences
    firm = [s for s in answer.grounding.sentences if float(s.score) == scores[1]]
    assert firm and weak not in firm[0].sentence
    shown = render_text(answer)
    body = weak.rstrip(".")
    assert f"⚠ {body} [1]." in shown and "only weakly supported" in shown
    assert shown.count("⚠ ") == 2  # inline, and in the list under the check
    mrkdwn = marked_text(answer)
    assert f"⚠️ {body} [1]." in mrkdwn and mrkdwn.count("⚠️") == 1
    blocks = answer_blocks(answer, interaction_id="i-1")
    assert check_blocks(blocks) == []
    assert any("only weakly" in str(b) for b in blocks)


def test_an_answer_with_no_sentence_above_the_margin_is_declined_or_quoted(runtime: Runtime) -> None:
    single = "Your password must be at least 14 characters long [1]."
    assert not _with_margin(runtime, single, 0.0).abstained
    declined = _with_margin(runtime, single, 1.0)
    assert declined.abstained and declined.unsupported_draft == single
    quoted = _with_margin(runtime, single, 1.0, quote_bar=0.0)
    assert quoted.quoted and "14 characters" in quoted.text and quoted.weak_sentences == []
