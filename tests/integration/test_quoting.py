"""A draft the check rejects is replaced by a quote of the sources when the evidence is strong.

Real retrieval (the sample handbook, e5, the embedded engine) and the real checker. The model is the
one stand-in: its drafts are fixed so that the check has to reject them, which a real small model
does only now and then.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.asking import grounding_dict
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.slack.blocks import answer_blocks, answer_footer
from retrieval.hybrid import SearchResult
from retrieval.ingest import ingest_paths
from retrieval.types import Hit
from serving.answer import Answer, AnswerPolicy, answer_question
from serving.llm import Completion
from serving.quoting import readable
from tests.fakeslack import check_blocks

HANDBOOK = Path(__file__).resolve().parents[2] / "retrieval" / "sample_handbook"


class FixedDraft:
    """Writes the same draft whatever it is asked, like an LLMClient."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.model = "fixed-draft"

    def chat(self, messages: Sequence[Any], **_: Any) -> Completion:
        return Completion(text=self.text, model=self.model, first_token_ms=1.0, total_ms=2.0)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with open_runtime(Settings(data_dir=tmp_path_factory.mktemp("quote")), with_llm=False) as rt:
        report = ingest_paths([HANDBOOK], backend=rt.backend, embedder=rt.embedder)
        assert not report.failed, report.failed
        yield rt


def _ask(runtime: Runtime, question: str, draft: str, policy: AnswerPolicy) -> Answer:
    return answer_question(
        question, retriever=runtime.retriever, llm=FixedDraft(draft), policy=policy,  # type: ignore[arg-type]
        checker=runtime.checker,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("question", "draft", "wrong", "figure", "document", "lead"),
    [
        ("How long must my password be?", "Your password must be at least 8 characters long [1].",
         "8", "14", "it-security", "The sources say:"),
        ("Hoeveel vakantiedagen krijgt een fulltime medewerker per jaar?", "Je krijgt 30 vakantiedagen per jaar [1].",
         "30", "25", "vakantie-en-verlof", "De bronnen zeggen:"),
    ],
)  # fmt: skip
def test_a_rejected_draft_is_quoted_at_the_quote_bar_and_declined_below_it(
    runtime: Runtime, question: str, draft: str, wrong: str, figure: str, document: str, lead: str
) -> None:
    bar = replace(runtime.policy, bar=0.0)
    declined = _ask(runtime, question, draft, replace(bar, quote_bar=None))
    assert declined.abstained and not declined.quoted
    assert declined.unsupported_draft is not None and wrong in declined.unsupported_draft.split()
    assert declined.evidence is not None

    quoted = _ask(runtime, question, draft, replace(bar, quote_bar=declined.evidence))
    assert not quoted.abstained and quoted.quoted
    assert quoted.text.startswith(lead)
    assert figure in quoted.text.split() and wrong not in quoted.text.split()
    assert quoted.unsupported_draft == declined.unsupported_draft
    [citation] = quoted.citations
    assert citation.number == 1 and citation.chunk.doc_id.endswith(f"/{document}.md")
    # the quoted window is the source's own words, and the check that ran on it is what is stored
    window = quoted.text.removeprefix(lead).strip().removesuffix("[1]").strip().strip("“”")
    assert window in " ".join(citation.chunk.text.split())
    stored = grounding_dict(quoted)
    assert stored["quoted"] is True and stored["unsupported_draft"] == quoted.unsupported_draft
    assert stored["unsupported"] == [] and stored["score"] >= runtime.checker.threshold  # type: ignore[union-attr]

    above = _ask(runtime, question, draft, replace(bar, quote_bar=declined.evidence + 1e-4))
    assert above.abstained and not above.quoted


def test_a_quote_says_so_in_slack(runtime: Runtime) -> None:
    policy = replace(runtime.policy, bar=0.0, quote_bar=0.0)
    answer = _ask(runtime, "How long must my password be?", "At least 8 characters [1].", policy)
    assert answer.quoted
    context = [b for b in answer_footer(answer, interaction_id="i-1") if b["type"] == "context"]
    assert "Quoted word for word" in context[0]["elements"][0]["text"]
    blocks = answer_blocks(answer, interaction_id="i-1")
    assert check_blocks(blocks) == []
    assert "The sources say:" in blocks[0]["text"]["text"]


def test_a_supported_draft_is_not_replaced(runtime: Runtime) -> None:
    policy = replace(runtime.policy, bar=0.0, quote_bar=0.0)
    draft = "Your password must be at least 14 characters long [1]."
    answer = _ask(runtime, "How long must my password be?", draft, policy)
    assert not answer.abstained and not answer.quoted and answer.unsupported_draft is None
    assert answer.text == draft


class FixedHits:
    """The real index behind a search that returns chosen chunks with chosen question-chunk cosines."""

    def __init__(self, runtime: Runtime, hits: list[Hit]) -> None:
        self.backend, self.embedder, self.hits = runtime.backend, runtime.embedder, hits

    def search(self, query: str, **_: Any) -> SearchResult:
        return SearchResult(hits=list(self.hits))


def _chunk(runtime: Runtime, query: str, contains: str) -> Hit:
    [hit] = [h for h in runtime.retriever.search(query, k=10).hits if contains in h.chunk.text][:1]
    return hit


@pytest.mark.parametrize("table_evidence", [0.80, 0.90])
def test_a_quote_reads_as_text_and_comes_only_from_a_source_that_reaches_the_bar(
    runtime: Runtime, table_evidence: float
) -> None:
    table = _chunk(
        runtime, "Eigen huwelijk of geregistreerd partnerschap bijzonder verlof", "| Eigen huwelijk"
    )
    password = _chunk(runtime, "How long must my password be?", "at least 14 characters")
    hits = [
        replace(table, rank=1, scores={"dense": table_evidence}),
        replace(password, rank=2, scores={"dense": 0.90}),
    ]
    policy = replace(runtime.policy, bar=0.8625, quote_bar=0.88, source_margin=None)
    answer = answer_question(
        "Hoeveel dagen bijzonder verlof krijg ik voor mijn eigen huwelijk?",
        retriever=FixedHits(runtime, hits), llm=FixedDraft("Je krijgt 5 dagen verlof [1]."),  # type: ignore[arg-type]
        policy=policy, checker=runtime.checker,
    )  # fmt: skip
    if table_evidence < policy.bar:
        # the table is in the prompt but is not on the question's topic by the bar: never quoted from
        assert "huwelijk" not in answer.text.lower() and "|" not in answer.text
        assert answer.abstained or all(c.chunk.chunk_id == password.chunk.chunk_id for c in answer.citations)
    else:
        assert answer.quoted, answer.text
        assert "Eigen huwelijk of geregistreerd partnerschap: 2 dagen" in answer.text
        assert "|" not in answer.text and "---" not in answer.text
        assert answer.citations[0].chunk.chunk_id == table.chunk.chunk_id


def test_markdown_is_read_as_a_reader_says_it() -> None:
    text = (
        "## Kosten\n\n| Kostensoort | Maximum |\n|---|---|\n| Lunch | €15 per persoon |\n\n"
        "- **Cafés:** zie [de roosters](https://x.example/r) en `PlekVrij`.\n\n"
        "| Course | For whom | Duration |\n| --- | :---: | ---: |\n| Latte Art | Baristas | 4 sessions |\n"
    )
    assert readable(text).splitlines() == [
        "Kosten",
        "Lunch: €15 per persoon.",
        "Cafés: zie de roosters en PlekVrij.",
        "Latte Art — For whom: Baristas; Duration: 4 sessions.",
    ]
