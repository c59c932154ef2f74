"""`bron eval retrieval` chooses the fusion on training queries and keeps every setting's score."""

from evaluation.retrieval import RunSet, fuse_docs, tune_fusion
from retrieval.hybrid import FusionConfig


def test_the_fusion_that_ranks_the_relevant_document_first_wins() -> None:
    # BM25 puts `a` far ahead; dense puts it third by a hair: only score fusion keeps `a` on top
    runs = RunSet(
        bm25={"q": [("a", 10.0), ("b", 2.0), ("c", 1.0)]},
        dense={"q": [("b", 0.90), ("c", 0.89), ("a", 0.88), ("d", 0.10)]},
        latency_ms={},
    )
    qrels = {"q": {"a": 1}}
    rrf, zscore = FusionConfig.from_settings(rank_constant=60), FusionConfig.from_settings(method="zscore")
    assert fuse_docs(runs, "q", rrf)[0] == "b"
    ranking = tune_fusion(runs, qrels, [rrf, zscore])
    assert [cfg for cfg, _ in ranking] == [zscore, rrf]
    assert ranking[0][1] == 1.0 > ranking[1][1]
