"""The evidence bar: Bron declines before generating when no chunk is close enough to the question."""

from retrieval.hybrid import SearchResult
from retrieval.types import Chunk, Hit
from serving.answer import AnswerPolicy, answer_question, evidence_is_weak, evidence_score, prompt_sources


def _hit(dense: float | None, language: str = "en", chunk_id: str = "c") -> Hit:
    chunk = Chunk(
        chunk_id=chunk_id, doc_id="d", title="t", heading_path=(), text="x", source="s", language=language
    )
    return Hit(chunk=chunk, score=0.1, rank=1, scores={} if dense is None else {"dense": dense})


def _weak(hits: list[Hit], policy: AnswerPolicy, language: str) -> bool:
    evidence = evidence_score(hits, language, cross_language_margin=policy.cross_language_margin)
    return evidence_is_weak(len(hits), evidence, policy)


def test_weak_below_the_bar_and_strong_at_it() -> None:
    policy = AnswerPolicy(min_dense_score=0.8675, cross_language_margin=0.03)
    assert _weak([_hit(0.84), _hit(0.85)], policy, "en")
    assert not _weak([_hit(0.84), _hit(0.8675)], policy, "en")
    assert _weak([], policy, "en")


def test_a_chunk_in_the_other_language_gets_the_margin() -> None:
    policy = AnswerPolicy(min_dense_score=0.8675, cross_language_margin=0.03)
    assert evidence_score([_hit(0.84, "nl")], "en", cross_language_margin=0.03) == 0.84 + 0.03
    assert not _weak([_hit(0.84, "nl")], policy, "en")
    assert _weak([_hit(0.84, "en")], policy, "en")


def test_bm25_only_hits_are_not_judged_by_the_dense_bar() -> None:
    assert evidence_score([_hit(None)], "en", cross_language_margin=0.0) is None
    assert not _weak([_hit(None)], AnswerPolicy(), "en")


def test_only_sources_near_the_bar_reach_the_prompt() -> None:
    hits = [
        _hit(0.90, chunk_id="a"),
        _hit(0.84, chunk_id="b"),
        _hit(None, chunk_id="c"),
        _hit(0.85, "nl", "d"),
    ]
    policy = AnswerPolicy(min_dense_score=0.87, cross_language_margin=0.03, source_margin=0.0)
    assert [h.chunk.chunk_id for h in prompt_sources(hits, "en", policy)] == ["a", "d"]
    wider = AnswerPolicy(min_dense_score=0.87, cross_language_margin=0.03, source_margin=0.04)
    assert [h.chunk.chunk_id for h in prompt_sources(hits, "en", wider)] == ["a", "b", "d"]
    every = AnswerPolicy(min_dense_score=0.87, source_margin=None)
    assert prompt_sources(hits, "en", every) == hits
    bm25_only = [_hit(None, chunk_id="x"), _hit(None, chunk_id="y")]
    assert prompt_sources(bm25_only, "en", policy) == bm25_only


class _RecordingRetriever:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def search(self, query: str, **_: object) -> SearchResult:
        self.queries.append(query)
        return SearchResult(hits=[])


def test_a_follow_up_is_searched_with_the_question_before_it() -> None:
    retriever = _RecordingRetriever()
    history = [("How many vacation days do I get?", "25 days [1].")]
    answer = answer_question(
        "And from age 55?",
        retriever=retriever,
        llm=None,
        policy=AnswerPolicy(),
        history=history,  # type: ignore[arg-type]
    )
    assert retriever.queries == ["How many vacation days do I get?\nAnd from age 55?"]
    assert answer.abstained and answer.model is None
    answer_question("And from age 55?", retriever=retriever, llm=None, policy=AnswerPolicy())  # type: ignore[arg-type]
    assert retriever.queries[-1] == "And from age 55?"


def test_an_empty_source_margin_setting_means_every_source() -> None:
    from serving.settings import ServingSettings

    assert ServingSettings(source_margin="").source_margin is None  # type: ignore[arg-type]
    assert ServingSettings().source_margin == 0.0
