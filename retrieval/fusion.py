"""Fusing the BM25 and dense runs, done in Bron because the server-side `rrf` retriever needs an
Enterprise licence.

Two methods. Reciprocal rank fusion (the default) uses ranks only, so it needs no calibration across
engines or embedders. Z-score fusion standardises each run's scores over its candidates and adds
them: it keeps how far ahead a result is, not only its place, and scored higher on SciFact train
(0.737 against 0.727 for the best RRF; `bench/retrieval/scifact-tuning.md`), as Bruch et al. (2023,
"An Analysis of Fusion Functions for Hybrid Retrieval") found for convex score fusion in general.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Literal

from retrieval.types import Chunk, Hit, ScoredChunk

FusionMethod = Literal["rrf", "zscore"]


def fused_scores(
    runs: Mapping[str, Sequence[tuple[str, float]]],
    *,
    method: FusionMethod = "rrf",
    rank_constant: int = 60,
    weights: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """One score per id from ranked (id, score) runs; an id repeated within a run counts once.

    rrf: sum(weight / (rank_constant + rank)). zscore: sum(weight * standardised score); an id
    missing from a run gets that run's lowest standardised score, as if it ranked just below it.
    """
    per_run: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        seen: dict[str, float] = {}
        for rank, (key, score) in enumerate(run, start=1):
            if key not in seen:
                seen[key] = 1.0 / (rank_constant + rank) if method == "rrf" else score
        if method == "zscore" and seen:
            mean = statistics.fmean(seen.values())
            spread = statistics.pstdev(seen.values()) or 1.0
            seen = {key: (score - mean) / spread for key, score in seen.items()}
        per_run[name] = seen
    fused = {key: 0.0 for seen in per_run.values() for key in seen}  # in order of first appearance
    for name, seen in per_run.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        floor = 0.0 if method == "rrf" else min(seen.values(), default=0.0)
        for key in fused:
            fused[key] += weight * seen.get(key, floor)
    return fused


def fuse(
    runs: Mapping[str, Sequence[ScoredChunk]],
    *,
    k: int = 10,
    method: FusionMethod = "rrf",
    rank_constant: int = 60,
    weights: Mapping[str, float] | None = None,
    question_language: str | None = None,
) -> list[Hit]:
    """The fused top `k` chunks, each keeping its rank and score in every run that found it.

    Weights are per run because a much stronger retriever loses to equal-weight fusion (seen on Dutch data);
    ties break on the best single rank, then on chunk id, so the order is deterministic.
    `question_language` (RRF only): a chunk in another language that BM25 did not return, which BM25 could
    not match across languages, takes its dense rank in place of the BM25 rank (bench/retrieval/cross-language.md).
    """
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, dict[str, float]] = {}
    chunks: dict[str, Chunk] = {}
    for name, run in runs.items():
        for rank, scored in enumerate(run, start=1):
            cid = scored.chunk.chunk_id
            if name not in ranks.setdefault(cid, {}):
                chunks[cid] = scored.chunk
                ranks[cid][name] = rank
                scores.setdefault(cid, {})[name] = scored.score
    fused = fused_scores(
        {name: [(s.chunk.chunk_id, s.score) for s in run] for name, run in runs.items()},
        method=method, rank_constant=rank_constant, weights=weights,
    )  # fmt: skip
    if question_language is not None and method == "rrf" and "bm25" in runs and "dense" in runs:
        weight = 1.0 if weights is None else weights.get("bm25", 1.0)
        for cid, found in ranks.items():
            if "bm25" not in found and "dense" in found and chunks[cid].language != question_language:
                fused[cid] += weight / (rank_constant + found["dense"])
    order = sorted(fused, key=lambda c: (-fused[c], min(ranks[c].values()), c))
    return [
        Hit(chunk=chunks[c], score=fused[c], rank=i, ranks=ranks[c], scores=scores[c])
        for i, c in enumerate(order[:k], start=1)
    ]
