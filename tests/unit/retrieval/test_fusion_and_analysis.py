from retrieval.analysis import analyze, analyze_query, detect_language, index_terms
from retrieval.fusion import fuse
from retrieval.types import Chunk, ScoredChunk


def _c(cid: str) -> Chunk:
    return Chunk(chunk_id=cid, doc_id=cid, title=cid, heading_path=(), text=cid, source=cid)


def test_rrf_rewards_agreement_and_keeps_input_ranks() -> None:
    bm25 = [ScoredChunk(_c("a"), 9.0), ScoredChunk(_c("b"), 5.0), ScoredChunk(_c("c"), 1.0)]
    dense = [ScoredChunk(_c("b"), 0.9), ScoredChunk(_c("c"), 0.8), ScoredChunk(_c("d"), 0.7)]
    hits = fuse({"bm25": bm25, "dense": dense}, k=4, rank_constant=60)
    assert hits[0].chunk.chunk_id == "b"
    assert hits[0].ranks == {"bm25": 2, "dense": 1}
    assert [h.rank for h in hits] == [1, 2, 3, 4]


def test_rrf_weights_let_the_stronger_run_lead() -> None:
    bm25 = [ScoredChunk(_c("a"), 9.0), ScoredChunk(_c("b"), 5.0)]
    dense = [ScoredChunk(_c("b"), 0.9), ScoredChunk(_c("a"), 0.8)]
    hits = fuse({"bm25": bm25, "dense": dense}, k=2, weights={"bm25": 1.0, "dense": 2.0})
    assert hits[0].chunk.chunk_id == "b"


def test_zscore_fusion_keeps_how_far_ahead_a_result_is() -> None:
    """BM25 puts `a` far ahead and dense barely behind: ranks alone prefer `b`, scores prefer `a`."""
    bm25 = [ScoredChunk(_c("a"), 10.0), ScoredChunk(_c("b"), 2.0), ScoredChunk(_c("c"), 1.0)]
    dense = [ScoredChunk(_c(x), s) for x, s in (("b", 0.90), ("c", 0.89), ("a", 0.88), ("d", 0.10))]
    runs = {"bm25": bm25, "dense": dense}
    assert fuse(runs, k=4, method="rrf")[0].chunk.chunk_id == "b"
    hits = fuse(runs, k=4, method="zscore")
    assert [h.chunk.chunk_id for h in hits] == ["a", "b", "c", "d"]
    assert hits[0].ranks == {"bm25": 1, "dense": 3} and hits[0].scores == {"bm25": 10.0, "dense": 0.88}
    # `d`, missing from BM25, counts as BM25's lowest result rather than as average
    assert hits[3].score < hits[2].score


def test_language_detection_dutch_and_english() -> None:
    assert detect_language("Hoeveel vakantiedagen krijg ik per jaar?") == "nl"
    assert detect_language("How many vacation days do I get per year?") == "en"


def test_stemming_matches_plural_and_singular() -> None:
    assert set(index_terms("vakantiedagen", "nl")) & set(analyze_query("vakantiedag"))
    assert set(index_terms("claims", "en")) & set(analyze_query("claim"))


def test_stemming_is_safe_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    text = "Medewerkers krijgen vijfentwintig vakantiedagen per kalenderjaar en vakantiegeld in mei. " * 20
    expected = analyze(text, "nl")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: analyze(text, "nl"), range(64)))
    assert all(r == expected for r in results)


def test_a_chunk_bm25_cannot_see_across_languages_takes_its_dense_rank_when_asked() -> None:
    """A Dutch question: BM25 finds Dutch chunks on common words; the English page it asks about is the
    embedder's first hit. Plain RRF puts it below them; with the question's language it comes first."""
    english = Chunk(
        chunk_id="en", doc_id="en", title="", heading_path=(), text="", source="en", language="en"
    )
    dutch = [Chunk(chunk_id=f"nl{i}", doc_id="nl", title="", heading_path=(), text="", source="nl", language="nl")
             for i in range(3)]  # fmt: skip
    bm25 = [ScoredChunk(c, 5.0 - i) for i, c in enumerate(dutch)]
    dense = [ScoredChunk(english, 0.9), *(ScoredChunk(c, 0.8 - i / 10) for i, c in enumerate(dutch))]
    runs = {"bm25": bm25, "dense": dense}
    assert fuse(runs, k=4, rank_constant=10)[0].chunk.chunk_id == "nl0"
    crossed = fuse(runs, k=4, rank_constant=10, question_language="nl")
    assert [h.chunk.chunk_id for h in crossed] == ["en", "nl0", "nl1", "nl2"]
    assert crossed[0].ranks == {"dense": 1}  # the stand-in rank is not reported as a BM25 hit
    # same-language chunks missing from BM25 get nothing extra, and English questions leave English alone
    assert fuse(runs, k=4, rank_constant=10, question_language="en")[0].chunk.chunk_id == "nl0"
