"""Reciprocal rank fusion, done in Bron because the server-side `rrf` retriever needs an Enterprise licence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from retrieval.types import Hit, ScoredChunk


def reciprocal_rank_fusion(
    runs: Mapping[str, Sequence[ScoredChunk]],
    *,
    k: int = 10,
    rank_constant: int = 60,
    weights: Mapping[str, float] | None = None,
) -> list[Hit]:
    """Fuse ranked runs: score = sum(weight / (rank_constant + rank)).

    Weights are per run because a much stronger retriever loses to equal-weight fusion (seen on Dutch data);
    ties break on the best single rank, then on chunk id, so the order is deterministic.
    """
    fused: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, dict[str, float]] = {}
    chunks = {}
    for name, run in runs.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, scored in enumerate(run, start=1):
            cid = scored.chunk.chunk_id
            if cid in ranks and name in ranks[cid]:
                continue
            chunks[cid] = scored.chunk
            fused[cid] = fused.get(cid, 0.0) + weight / (rank_constant + rank)
            ranks.setdefault(cid, {})[name] = rank
            scores.setdefault(cid, {})[name] = scored.score
    order = sorted(fused, key=lambda c: (-fused[c], min(ranks[c].values()), c))
    return [
        Hit(chunk=chunks[c], score=fused[c], rank=i, ranks=ranks[c], scores=scores[c])
        for i, c in enumerate(order[:k], start=1)
    ]
