"""The question-answering pipeline: retrieve, decide whether the evidence is enough, generate, check.

Knows nothing about Slack or SQL: it returns an `Answer` and the caller decides where it goes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from retrieval.analysis import detect_language
from retrieval.hybrid import HybridRetriever
from retrieval.settings import RetrievalSettings
from retrieval.types import Chunk, Hit, SearchFilters
from serving.answerability import uncovered_terms
from serving.citations import renumber_citations
from serving.context import build_context, max_question_chars
from serving.conversation import History, Turn, read_turn
from serving.evidence_model import DENSE, EvidenceModel, evidence_hits
from serving.llm import LLMClient, TokenCallback
from serving.quoting import quote_claim, readable, with_lead
from serving.settings import ServingSettings
from serving.verification import clean_draft, rewrite_citations, strip_markers

NOT_FOUND = "NOT_FOUND"

ABSTAIN_TEXT = {
    "en": "I could not find the answer in the sources. These are the closest sources I found:",
    "nl": "Ik kon het antwoord niet vinden in de bronnen. Dit zijn de bronnen die er het dichtst bij komen:",
}


class GroundingChecker(Protocol):
    """Scores each sentence against the numbered sources (serving.grounding is the real one)."""

    threshold: float  # the score at which a sentence counts as supported

    def check(self, answer: str, sources: Sequence[str], *, question: str = "") -> Any: ...

    def nearest(self, text: str, sources: Sequence[str]) -> tuple[int, str]:
        """(1-based source number, the sentence or two of it closest to `text`)."""
        ...


@dataclass(frozen=True)
class Citation:
    number: int
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class AnswerPolicy:
    """When Bron answers, declines or quotes. Its defaults live in the settings only: build it with
    `from_settings`, the one place that maps settings to policy."""

    top_k: int
    context_tokens: int
    # the evidence bar in force (`ServingSettings.bar`): held to the index embedder's cosine, or to the
    # evidence model's where one is used
    bar: float
    cross_language_margin: float
    min_sources: int
    # a hit goes into the prompt only if its own evidence reaches the bar less this; None: every hit
    source_margin: float | None
    # a draft the check rejects is replaced by a quote of the sources when the evidence reaches this;
    # None: it is declined (serving.quoting)
    quote_bar: float | None
    # a follow-up with a cue is first rewritten by the model into a standalone question
    # (serving.conversation); False: it is searched together with the conversation's topic
    condense: bool
    # a supported sentence scoring below the check's threshold plus this is shown marked, and an answer
    # with no sentence above it is quoted or declined (evaluation/support_margin.py)
    support_margin: float

    @classmethod
    def from_settings(
        cls,
        serving: ServingSettings | None = None,
        retrieval: RetrievalSettings | None = None,
        **overrides: Any,
    ) -> AnswerPolicy:
        """The policy the settings describe (the defaults where None), with `overrides` for a test or a sweep."""
        s = serving or ServingSettings()
        r = retrieval or RetrievalSettings()
        policy = cls(
            top_k=r.top_k,
            context_tokens=s.context_tokens,
            bar=s.bar,
            cross_language_margin=s.cross_language_margin,
            min_sources=s.min_sources,
            source_margin=s.source_margin,
            quote_bar=s.quote_floor,
            condense=s.condense,
            support_margin=s.support_margin,
        )
        return replace(policy, **overrides)


@dataclass
class Answer:
    question: str
    language: str
    text: str
    citations: list[Citation]
    hits: list[Hit]
    abstained: bool
    model: str | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    grounding: Any = None
    invalid_citations: list[int] = field(default_factory=list)
    uncovered_terms: list[str] = field(default_factory=list)
    source_numbers: dict[int, int] = field(default_factory=dict)
    unsupported_draft: str | None = None  # the model's draft, when the check rejected it
    evidence: float | None = None  # best question-chunk cosine, the score the evidence bar is held to
    quoted: bool = False  # the text quotes the sources because the check rejected the draft
    turn: Turn | None = None  # how the turn was read: alone, or with the conversation before it
    # supported sentences within the support margin of the threshold: shown marked, never as plain fact
    weak_sentences: list[str] = field(default_factory=list)

    @property
    def groundedness(self) -> float | None:
        return None if self.grounding is None else float(self.grounding.score)


class QuestionError(ValueError):
    """The question cannot be answered as asked; the message says why and what to do."""


class EmptyQuestionError(QuestionError):
    """Asked with nothing to answer."""


class QuestionTooLongError(QuestionError):
    """A question that would leave the prompt no room for sources (it overflowed the model's window,
    and the user was told the LLM was unreachable)."""


def hit_evidence(hit: Hit, language: str, *, cross_language_margin: float, key: str = DENSE) -> float | None:
    """The question-chunk cosine (`key`: DENSE or EVIDENCE); None when the hit has none (BM25 alone,
    or ranked below what the evidence model re-scores).

    A chunk in the other language gets `cross_language_margin` added, since the embedder scores a
    translation lower than the same text.
    """
    if key not in hit.scores:
        return None
    other_language = hit.chunk.language not in ("", language)
    return hit.scores[key] + (cross_language_margin if other_language else 0.0)


def evidence_score(
    hits: list[Hit], language: str, *, cross_language_margin: float, key: str = DENSE
) -> float | None:
    """Best cosine of the question and a retrieved chunk; None when no dense run took part."""
    scores = [hit_evidence(h, language, cross_language_margin=cross_language_margin, key=key) for h in hits]
    dense = [s for s in scores if s is not None]
    return max(dense) if dense else None


def prompt_sources(hits: list[Hit], language: str, policy: AnswerPolicy, *, key: str = DENSE) -> list[Hit]:
    """The hits the model reads: those whose own evidence is near the bar, in rank order.

    A small model mixes whatever it is shown into its answer. On CLAPnq the gold passage ranks first
    for 284 of the 300 answerable questions, yet given five passages the 0.5B model wrote
    "Sweet Frog is of Celtiberian origin", taken from a passage on the surname Segovia. A passage too
    far from the question to pass the evidence bar would not have been answered from on its own, so
    it is left out. Without dense scores (a BM25-only search) every hit stays.
    """
    if policy.source_margin is None:
        return hits
    floor = policy.bar - policy.source_margin
    margin = policy.cross_language_margin
    scored = [(h, hit_evidence(h, language, cross_language_margin=margin, key=key)) for h in hits]
    if all(s is None for _, s in scored):
        return hits
    return [h for h, s in scored if s is not None and s >= floor]


def evidence_is_weak(n_hits: int, evidence: float | None, policy: AnswerPolicy) -> bool:
    """Too few hits, or none close enough to the question (`evidence` from `evidence_score`).

    The bar is where answerable and unanswerable questions part best on a tuning half of CLAPnq
    (`bron eval abstention`); below it Bron shows the closest sources instead of guessing.
    """
    return n_hits < policy.min_sources or (evidence is not None and evidence < policy.bar)


def answer_question(
    question: str,
    *,
    retriever: HybridRetriever,
    llm: LLMClient,
    policy: AnswerPolicy,
    filters: SearchFilters | None = None,
    history: History | None = None,
    checker: GroundingChecker | None = None,
    on_token: TokenCallback | None = None,
    evidence_model: EvidenceModel | None = None,
) -> Answer:
    """`history`: the conversation's earlier (question, answer) turns, oldest first. A turn that names
    its own topic is answered exactly as if asked alone; a follow-up is searched, held to the bar,
    checked and quoted as its standalone reading, and only then does the model see the history."""
    question = question.strip()
    if not question:
        raise EmptyQuestionError("ask a question: the text was empty")
    limit = max_question_chars(policy.context_tokens)
    if len(question) > limit:
        raise QuestionTooLongError(
            f"the question is {len(question):,} characters; at most {limit:,} fit beside the sources: "
            "please ask it in fewer words"
        )
    start = time.perf_counter()
    language = detect_language(question)
    turn, result = read_turn(
        question, history, retriever=retriever, language=language, top_k=policy.top_k,
        cross_language_margin=policy.cross_language_margin, bar=policy.bar, filters=filters,
        evidence_model=evidence_model, llm=llm if policy.condense else None,
    )  # fmt: skip
    standalone = turn.text
    timings = {**result.timings_ms, **turn.timings_ms}
    timings["retrieve_ms"] = (time.perf_counter() - start) * 1000
    t = time.perf_counter()
    hits, key = evidence_hits(standalone, result.hits, evidence_model)
    if evidence_model is not None:
        timings["evidence_ms"] = (time.perf_counter() - t) * 1000
    evidence = evidence_score(hits, language, cross_language_margin=policy.cross_language_margin, key=key)
    decline = partial(_abstain, question, language, hits, timings, evidence=evidence, turn=turn)
    if evidence_is_weak(len(hits), evidence, policy):
        return decline(model=None)
    context = build_context(
        question,
        prompt_sources(hits, language, policy, key=key),
        language=language,
        token_budget=policy.context_tokens,
        history=list(history or []) if turn.dependent else None,
    )
    completion = llm.chat(context.messages, on_token=on_token)
    timings["first_token_ms"] = completion.first_token_ms
    timings["generate_ms"] = completion.total_ms
    raw = clean_draft(completion.text)
    if not raw or NOT_FOUND in raw:
        return decline(model=completion.model)
    draft, report, quoted = raw, None, False
    if checker is not None:
        t = time.perf_counter()
        texts = context.texts  # as the prompt showed them: a source cut to fit is checked as cut
        report = checker.check(raw, texts, question=standalone)
        timings["grounding_ms"] = (time.perf_counter() - t) * 1000
        firm = checker.threshold + policy.support_margin
        if report.sentences and not any(s.supported and s.score >= firm for s in report.sentences):
            quote = _quote(standalone, context.sources, texts, checker, evidence, policy, language, key)
            if quote is None:
                return decline(model=completion.model, unsupported_draft=raw)
            raw, report, quoted = quote[0], quote[1], True
            timings["grounding_ms"] = (time.perf_counter() - t) * 1000
        elif report.sentences:
            raw = rewrite_citations(report.sentences)
    cited = renumber_citations(raw, n_sources=len(context.sources))
    if not strip_markers(cited.text):
        return decline(model=completion.model, unsupported_draft=raw)
    citations = [
        Citation(number=i + 1, chunk=context.sources[n - 1].chunk, score=context.sources[n - 1].score)
        for i, n in enumerate(cited.cited)
    ]
    answer = Answer(
        question=question,
        language=language,
        text=with_lead(cited.text, language) if quoted else cited.text,
        citations=citations,
        hits=hits,
        abstained=False,
        model=completion.model,
        timings_ms=timings,
        invalid_citations=cited.invalid,
        grounding=report,
        source_numbers={n: i + 1 for i, n in enumerate(cited.cited)},
        evidence=evidence,
        quoted=quoted,
        turn=turn,
        weak_sentences=[]
        if report is None or quoted
        else [
            strip_markers(s.sentence)
            for s in report.sentences
            if s.supported and s.score < checker.threshold + policy.support_margin  # type: ignore[union-attr]
        ],
        unsupported_draft=draft if quoted else None,
        uncovered_terms=[
            term
            for term in uncovered_terms(
                question, cited.text, [(h.chunk.text, h.chunk.language) for h in context.sources]
            )
            # a word used somewhere in the permitted documents is a paraphrase, not a topic gap
            if not retriever.backend.search_bm25(term, k=1, filters=filters)
        ],
    )
    timings["total_ms"] = (time.perf_counter() - start) * 1000
    return answer


def _quote(
    question: str,
    sources: Sequence[Hit],
    texts: Sequence[str],
    checker: GroundingChecker,
    evidence: float | None,
    policy: AnswerPolicy,
    language: str,
    key: str,
) -> tuple[str, Any] | None:
    """(the quote, cited, and its check) when the evidence reaches the quote bar and the check supports
    the quote; None: decline. A quote is checked like any answer (against `texts`, the sources as the
    model read them), so its score is stored with it; it is taken from the chunk text alone, without
    the title and section lines, as a reader would say it (serving.quoting.readable).

    Only a source that itself reaches the evidence bar for `question` (the standalone reading) is
    quoted: the window nearest the question in a source that is off the question's topic is a
    sentence on something else ("Eigen huwelijk …: 2 dagen" for a password question)."""
    if policy.quote_bar is None or evidence is None or evidence < policy.quote_bar or not sources:
        return None
    margin = policy.cross_language_margin
    own = [hit_evidence(h, language, cross_language_margin=margin, key=key) for h in sources]
    quotable = [i for i, e in enumerate(own) if e is not None and e >= policy.bar]
    if not quotable:
        return None
    k, window = checker.nearest(question, [readable(sources[i].chunk.text) for i in quotable])
    text = quote_claim(window, quotable[k - 1] + 1)
    report = checker.check(text, texts, question=question)
    if not report.sentences or not all(s.supported for s in report.sentences):
        return None
    return text, report


def _abstain(
    question: str,
    language: str,
    hits: list[Hit],
    timings: dict[str, float],
    *,
    model: str | None,
    unsupported_draft: str | None = None,
    evidence: float | None = None,
    turn: Turn | None = None,
) -> Answer:
    return Answer(
        question=question,
        language=language,
        text=ABSTAIN_TEXT.get(language, ABSTAIN_TEXT["en"]),
        citations=[Citation(number=i + 1, chunk=h.chunk, score=h.score) for i, h in enumerate(hits[:3])],
        hits=hits,
        abstained=True,
        model=model,
        timings_ms=timings,
        unsupported_draft=unsupported_draft,
        evidence=evidence,
        turn=turn,
    )
