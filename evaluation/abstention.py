"""Where should Bron stop answering? The evidence bar, chosen on one half of CLAPnq and checked on the other.

Bron declines before generating when no retrieved chunk is close enough to the question
(`serving.answer.evidence_score` against `serving.min_dense_score`, or the evidence model's
cosine against `serving.evidence_bar`). Unanswerable CLAPnq questions come
with on-topic passages that lack the answer, the hard case for such a bar. The bar chosen on the
"tune" half is the one whose lower share is highest (answered share of answerable questions, declined
share of unanswerable ones; see `choose_bars`); it is reported on the "report" half. No LLM is
involved, so this runs in minutes; `bron eval answers --half report` then measures the whole pipeline with that bar.

The model also declines by itself (no answer, or nothing it says is supported), so the best bar for
the whole pipeline is lower than the best bar for retrieval alone. Given the per-question log of an
end-to-end run on the tune half made with a low bar, the bar is chosen for the whole pipeline instead,
together with the quote bar (`serving.quoting`): above it a draft the check rejects is replaced by a
quote of the sources rather than declined. The log says which drafts were rejected and how strong
their evidence was, so one run decides both bars.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    declined_later: bool = False  # known only from an end-to-end run: declined after generating, for
    # another reason than a rejected draft
    rejected: bool = False  # the check rejected the draft: quoted at or above the quote bar, else declined


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
            declined_later=(
                r["abstained"] and not r["declined_before_generation"] and not r.get("unsupported_draft")
            ),
            rejected=bool(r.get("unsupported_draft")),
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


def answers(e: Evidence, bar: float, quote_bar: float | None = None) -> bool:
    """Whether the pipeline answers (with the model's words or a quote) at these bars."""
    if e.score < bar or e.declined_later:
        return False
    return not e.rejected or (quote_bar is not None and e.score >= quote_bar)


def rates(evidence: Sequence[Evidence], bar: float, quote_bar: float | None = None) -> tuple[float, float]:
    """(answered share of answerable, declined share of unanswerable) with the bars at `bar`, `quote_bar`."""
    pos = [answers(e, bar, quote_bar) for e in evidence if e.answerable]
    neg = [not answers(e, bar, quote_bar) for e in evidence if not e.answerable]
    return sum(pos) / max(1, len(pos)), sum(neg) / max(1, len(neg))


def _grid(lo: float, hi: float, step: float) -> list[float]:
    start = math.floor(lo / step + 1e-9) * step  # bars on a fixed grid, whatever the lowest one
    return [round(start + i * step, 4) for i in range(round((hi - start) / step) + 1)]


def choose_bars(
    evidence: Sequence[Evidence],
    *,
    lo: float = 0.70,
    hi: float = 0.95,
    step: float = 0.0025,
    bar: float | None = None,
) -> tuple[float, float | None]:
    """(evidence bar, quote bar or None for "never quote") that raise the lower of the answered and
    declined shares furthest.

    The aim is a floor on each share (both at least 80 %), so the lower one is what counts; their sum
    (Youden's J) would trade a few answered questions for more declines past the floor. Ties go to
    the higher sum, then to the lower bars, which answer more. Without rejected drafts in `evidence`
    (a retrieval-only run) there is nothing to quote, and the quote bar is None. With `bar` given,
    only the quote bar is chosen.
    """
    quotable = any(e.rejected for e in evidence)
    top = max(hi, max((e.score for e in evidence), default=hi))

    def key(bars: tuple[float, float | None]) -> tuple[float, float, float, float]:
        shares = rates(evidence, *bars)
        quote = math.inf if bars[1] is None else bars[1]
        return round(min(shares), 9), round(sum(shares), 9), -bars[0], -quote

    candidates: list[tuple[float, float | None]] = []
    for b in _grid(lo, hi, step) if bar is None else [bar]:
        candidates.append((b, None))
        if quotable:
            candidates += [(b, q) for q in _grid(b, top + step, step) if q >= b]
    return max(candidates, key=key)


def choose_bar(
    evidence: Sequence[Evidence], *, lo: float = 0.70, hi: float = 0.95, step: float = 0.0025
) -> float:
    """The evidence bar alone, never quoting (see `choose_bars`)."""
    plain = [replace(e, rejected=False, declined_later=e.declined_later or e.rejected) for e in evidence]
    return choose_bars(plain, lo=lo, hi=hi, step=step)[0]


def auc(evidence: Sequence[Evidence]) -> float:
    """Chance that an answerable question's evidence outscores an unanswerable one's."""
    pos = [e.score for e in evidence if e.answerable]
    neg = [e.score for e in evidence if not e.answerable]
    if not pos or not neg:
        return float("nan")
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def summarise_bar(
    evidence: Sequence[Evidence],
    *,
    current_bar: float,
    current_quote_bar: float | None = None,
    lo: float | None = None,
    hold_bar: float | None = None,
) -> dict[str, object]:
    """`hold_bar`: keep the evidence bar there and choose only the quote bar. `lo`: the lowest bar
    tried; unset, 0.70 or the lowest tune score if lower (another embedder's cosines, e.g.
    EmbeddingGemma's, live far below e5's)."""
    tune = [e for e in evidence if e.half == "tune"]
    if lo is None:  # a question with no hits scores 0.0 and says nothing about the scale
        lo = min([0.70, *(e.score for e in tune if e.score > 0)])
    bar, quote_bar = choose_bars(tune, lo=lo, bar=hold_bar)
    out: dict[str, object] = {
        "chosen_bar": bar, "chosen_quote_bar": quote_bar,
        "current_bar": current_bar, "current_quote_bar": current_quote_bar,
    }  # fmt: skip
    for half in ("tune", "report"):
        part = [e for e in evidence if e.half == half]
        if not part:
            continue
        answered, declined = rates(part, bar, quote_bar)
        now_answered, now_declined = rates(part, current_bar, current_quote_bar)
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
