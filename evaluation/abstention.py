"""Where should Bron stop answering? The evidence bar, chosen on one half of CLAPnq and checked on the other.

Bron declines before generating when no retrieved chunk is close enough to the question
(`serving.answer.evidence_score` against `serving.min_dense_score`, or the evidence model's
cosine against `serving.evidence_bar`). Unanswerable CLAPnq questions come
with on-topic passages that lack the answer, the hard case for such a bar. The bar chosen on the
"tune" half is the one whose lower share is highest (answered share of answerable questions, declined
share of unanswerable ones; see `choose_bar`); it is reported on the "report" half. No LLM is
involved, so this runs in minutes; `bron eval answers --half report` then measures the whole pipeline with that bar.

The model also declines by itself (no answer, or nothing it says is supported), so the best bar for
the whole pipeline is lower than the best bar for retrieval alone. Given the per-question log of an
end-to-end run on the tune half made with a low bar, the bar is chosen for the whole pipeline instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.answers import Case, half_of
from retrieval.analysis import detect_language
from retrieval.hybrid import HybridRetriever
from serving.answer import evidence_score
from serving.evidence_model import EvidenceModel, evidence_hits


@dataclass(frozen=True)
class Evidence:
    answerable: bool
    half: str
    score: float
    declined_later: bool = False  # known only from an end-to-end run: the pipeline declined after generating


def evidence_from_log(path: Path) -> tuple[list[Evidence], float]:
    """Evidence from `bron eval answers` per-question lines, run with a low bar so most questions reached
    the model; returns it with the lowest bar that the run can judge (no question above it was cut)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("evidence") is not None and not r.get("error")]
    generated = [r["evidence"] for r in rows if not r["declined_before_generation"]]
    evidence = [
        Evidence(
            answerable=r["answerable"],
            half=half_of(r["id"]),
            score=r["evidence"],
            declined_later=r["abstained"] and not r["declined_before_generation"],
        )
        for r in rows
    ]
    return evidence, min(generated, default=0.0)


def collect_evidence(
    cases: Sequence[Case],
    retriever: HybridRetriever,
    *,
    top_k: int,
    margin: float,
    evidence_model: EvidenceModel | None = None,
) -> list[Evidence]:
    out = []
    for case in cases:
        hits, key = evidence_hits(
            case.question, retriever.search(case.question, k=top_k).hits, evidence_model
        )
        score = evidence_score(hits, detect_language(case.question), cross_language_margin=margin, key=key)
        out.append(Evidence(case.answerable, half_of(case.case_id), score if score is not None else 0.0))
    return out


def rates(evidence: Sequence[Evidence], bar: float) -> tuple[float, float]:
    """(answered share of answerable, declined share of unanswerable) with the bar at `bar`."""
    pos = [e.score >= bar and not e.declined_later for e in evidence if e.answerable]
    neg = [e.score < bar or e.declined_later for e in evidence if not e.answerable]
    return sum(pos) / max(1, len(pos)), sum(neg) / max(1, len(neg))


def choose_bar(
    evidence: Sequence[Evidence], *, lo: float = 0.70, hi: float = 0.95, step: float = 0.0025
) -> float:
    """The bar that raises the lower of the answered and declined shares furthest.

    The aim is a floor on each share (both at least 80 %), so the lower one is what counts; their sum
    (Youden's J) would trade a few answered questions for more declines past the floor. Ties go to
    the higher sum, then to the lower bar, which answers more.
    """
    start = math.floor(lo / step + 1e-9) * step  # bars on a fixed grid, whatever the lowest one
    bars = [round(start + i * step, 4) for i in range(round((hi - start) / step) + 1)]

    def key(bar: float) -> tuple[float, float, float]:
        shares = rates(evidence, bar)
        return round(min(shares), 9), round(sum(shares), 9), -bar

    return max(bars, key=key)


def auc(evidence: Sequence[Evidence]) -> float:
    """Chance that an answerable question's evidence outscores an unanswerable one's."""
    pos = [e.score for e in evidence if e.answerable]
    neg = [e.score for e in evidence if not e.answerable]
    if not pos or not neg:
        return float("nan")
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def summarise_bar(evidence: Sequence[Evidence], *, current_bar: float, lo: float = 0.70) -> dict[str, object]:
    bar = choose_bar([e for e in evidence if e.half == "tune"], lo=lo)
    out: dict[str, object] = {"chosen_bar": bar, "current_bar": current_bar}
    for half in ("tune", "report"):
        part = [e for e in evidence if e.half == half]
        if not part:
            continue
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
