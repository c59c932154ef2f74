"""Where should Bron stop answering? The evidence bar, chosen on one half of CLAPnq and checked on the other.

Bron declines before generating when no retrieved chunk is close enough to the question
(`serving.answer.evidence_score` against `serving.min_dense_score`). Unanswerable CLAPnq questions come
with on-topic passages that lack the answer, the hard case for such a bar. The bar chosen is the one
that best separates the two kinds (Youden's J: answered share of answerable plus declined share of
unanswerable) on the "tune" half; it is reported on the "report" half. No LLM is involved, so this
runs in minutes; `bron eval answers --half report` then measures the whole pipeline with that bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.answers import Case, half_of
from retrieval.analysis import detect_language
from retrieval.hybrid import HybridRetriever
from serving.answer import evidence_score


@dataclass(frozen=True)
class Evidence:
    answerable: bool
    half: str
    score: float


def collect_evidence(
    cases: Sequence[Case], retriever: HybridRetriever, *, top_k: int, margin: float
) -> list[Evidence]:
    out = []
    for case in cases:
        hits = retriever.search(case.question, k=top_k).hits
        score = evidence_score(hits, detect_language(case.question), cross_language_margin=margin)
        out.append(Evidence(case.answerable, half_of(case.case_id), score if score is not None else 0.0))
    return out


def rates(evidence: Sequence[Evidence], bar: float) -> tuple[float, float]:
    """(answered share of answerable, declined share of unanswerable) with the bar at `bar`."""
    pos = [e.score >= bar for e in evidence if e.answerable]
    neg = [e.score < bar for e in evidence if not e.answerable]
    return sum(pos) / max(1, len(pos)), sum(neg) / max(1, len(neg))


def choose_bar(
    evidence: Sequence[Evidence], *, lo: float = 0.70, hi: float = 0.95, step: float = 0.0025
) -> float:
    """The bar with the highest answered + declined share; on a tie the lower bar, which answers more."""
    bars = [round(lo + i * step, 4) for i in range(round((hi - lo) / step) + 1)]
    return max(bars, key=lambda bar: (round(sum(rates(evidence, bar)), 9), -bar))


def auc(evidence: Sequence[Evidence]) -> float:
    """Chance that an answerable question's evidence outscores an unanswerable one's."""
    pos = [e.score for e in evidence if e.answerable]
    neg = [e.score for e in evidence if not e.answerable]
    if not pos or not neg:
        return float("nan")
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def summarise_bar(evidence: Sequence[Evidence], *, current_bar: float) -> dict[str, object]:
    bar = choose_bar([e for e in evidence if e.half == "tune"])
    out: dict[str, object] = {"chosen_bar": bar, "current_bar": current_bar}
    for half in ("tune", "report"):
        part = [e for e in evidence if e.half == half]
        answered, declined = rates(part, bar)
        now_answered, now_declined = rates(part, current_bar)
        out[half] = {
            "questions": len(part),
            "auc": round(auc(part), 4),
            "answered_share": round(answered, 4),
            "declined_share": round(declined, 4),
            "with_current_bar": {
                "answered_share": round(now_answered, 4),
                "declined_share": round(now_declined, 4),
            },
        }
    return out
