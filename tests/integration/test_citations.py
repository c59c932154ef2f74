"""Citations through the whole pipeline among near-identical documents.

Real ingestion, retrieval (e5, the embedded engine) and checker over two versions of a leave policy that
differ in one figure. The model is the one stand-in: its drafts are fixed, so that it cites what a small
model often cites, the wrong version.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from bot.asking import AskContext, AskResult, grounding_dict, record
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.slack.blocks import SOURCES_ACTION
from bot.terminal import render_text, to_json
from retrieval.ingest import ingest_paths
from serving.answer import Answer, AnswerPolicy, answer_question
from serving.llm import Completion
from tests.fakeslack import FakeSlack, check_blocks, payloads
from tests.fakeslack.ids import CHANNEL_ID
from tests.scenario.harness import block_text, build, send

V2024 = """# Annual leave (2024)

Full-time employees receive 25 vacation days per calendar year. Unused days can be carried over
until 1 July of the following year. Requests must be approved by your team lead.
"""
V2025 = """# Annual leave (2025)

Full-time employees receive 27 vacation days per calendar year. Unused days can be carried over
until 1 July of the following year. Requests must be approved by your team lead.
"""


class FixedDraft:
    def __init__(self, text: str) -> None:
        self.text = text
        self.model = "fixed-draft"

    def chat(self, messages: Sequence[Any], **_: Any) -> Completion:
        return Completion(text=self.text, model=self.model, first_token_ms=1.0, total_ms=2.0)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    docs = tmp_path_factory.mktemp("docs") / "policies"
    docs.mkdir()
    (docs / "leave-2024.md").write_text(V2024, encoding="utf-8")
    (docs / "leave-2025.md").write_text(V2025, encoding="utf-8")
    with open_runtime(Settings(data_dir=tmp_path_factory.mktemp("citations")), with_llm=False) as rt:
        report = ingest_paths([docs], backend=rt.backend, embedder=rt.embedder)
        assert not report.failed, report.failed
        yield rt


def _ask(runtime: Runtime, draft: str) -> Answer:
    # both versions in the prompt, whatever their evidence
    policy: AnswerPolicy = replace(runtime.policy, bar=0.0, source_margin=None, quote_bar=None)
    return answer_question(
        "How many vacation days does a full-time employee get?", retriever=runtime.retriever,
        llm=FixedDraft(draft), policy=policy, checker=runtime.checker,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("marker", [" [1]", " [2]", " [1][2]", ""])
def test_the_changed_figure_is_cited_to_the_version_that_has_it(runtime: Runtime, marker: str) -> None:
    answer = _ask(runtime, f"Full-time employees receive 27 vacation days per calendar year{marker}.")
    assert not answer.abstained, answer
    assert [c.chunk.doc_id for c in answer.citations] == ["policies/leave-2025.md"]
    assert answer.text == "Full-time employees receive 27 vacation days per calendar year [1]."
    [sentence] = grounding_dict(answer)["sentences"]
    assert sentence["supported"] and sentence["cited"] == [1]
    assert sentence["span"] == "Full-time employees receive 27 vacation days per calendar year."


def test_a_sentence_both_versions_hold_keeps_the_model_citation(runtime: Runtime) -> None:
    both = _ask(runtime, "Unused days can be carried over until 1 July of the following year [1][2].")
    assert {c.chunk.doc_id for c in both.citations} == {"policies/leave-2024.md", "policies/leave-2025.md"}
    draft = "Full-time employees receive 25 vacation days per calendar year [1]. Requests need your team lead [2]."
    mixed = _ask(runtime, draft)
    cited = grounding_dict(mixed)["sentences"]
    first = mixed.citations[cited[0]["cited"][0] - 1]
    assert first.chunk.doc_id == "policies/leave-2024.md"


def test_the_supporting_sentence_is_shown_in_the_terminal_json_and_behind_the_sources_button(
    runtime: Runtime,
) -> None:
    answer = _ask(runtime, "Full-time employees receive 27 vacation days per calendar year [1].")
    span = "Full-time employees receive 27 vacation days per calendar year."
    assert "[1] Annual leave (2025)" in render_text(answer)
    assert f"    “{span}”" in render_text(answer).splitlines()
    interaction_id, _ = record(runtime, answer, AskContext(surface="slack", channel=CHANNEL_ID))
    assert interaction_id is not None
    shown = to_json(AskResult(answer=answer, interaction_id=interaction_id, flagged=[]))
    assert shown["citations"][0]["supporting_spans"] == [span]

    with FakeSlack() as fake:
        app = build(runtime, fake)
        url = fake.new_response_url()
        message = {"type": "message", "ts": payloads.unique_ts(), "text": answer.text, "blocks": []}
        click = payloads.button_action(SOURCES_ACTION, interaction_id, text="Sources")
        body = payloads.interactive_body(payloads.block_actions([click], message=message, response_url=url))
        assert send(app, fake, body).status == 200
        [post] = fake.wait_for_response(url=url)
    blocks = post.body["blocks"]
    assert check_blocks(blocks) == []
    assert f"_what the answer rests on:_\n>{span}" in block_text(blocks)
    assert "leave-2025.md" in block_text(blocks) and "leave-2024.md" not in block_text(blocks)
