"""Choosing the support margin: how far above the check's threshold a sentence must score to be shown
as plain fact.

The groundedness check calls a sentence supported at its threshold; a sentence just above it is as
likely wrong as right ("Het is niet mogelijk om een laptop mee naar huis te nemen", 0.42 against a
threshold of 0.421, cited to a password section). Bron marks a sentence that scores within the margin
of the threshold, and declines (or quotes) when no sentence clears threshold + margin. The margin is
chosen like the evidence bar, on a logged `bron eval answers --half tune` run: each answered
question's sentences are re-checked against the sources the model read, and the margin whose lower
share (answerable questions still answered, unanswerable ones declined) is highest wins; it is then
reported on the report half's log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retrieval.analysis import detect_language
from retrieval.hybrid import HybridRetriever
from serving.answer import AnswerPolicy, GroundingChecker, prompt_sources
from serving.context import source_text
from serving.quoting import QUOTE_LEAD

GRID = tuple(round(0.01 * i, 2) for i in range(0, 31))


def sentence_scores(
    log_path: Path, *, retriever: HybridRetriever, checker: GroundingChecker, policy: AnswerPolicy
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per answered question of the log (at the policy's bar, quotes left out): its sentences' scores;
    and how many answerable and unanswerable questions the log holds in all."""
    rows = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    totals = {
        "answerable": sum(r["answerable"] for r in rows),
        "unanswerable": sum(not r["answerable"] for r in rows),
    }
    out: list[dict[str, Any]] = []
    for r in rows:
        quoted = r.get("quoted") or any(r["answer"].startswith(lead) for lead in QUOTE_LEAD.values())
        if r["abstained"] or quoted or r.get("error") or (r.get("evidence") or 0.0) < policy.bar:
            continue
        language = detect_language(r["question"])
        hits = retriever.search(r["question"], k=policy.top_k).hits
        texts = [source_text(h.chunk) for h in prompt_sources(hits, language, policy)]
        report = checker.check(r["answer"], texts, question=r["question"])
        out.append(
            {
                "id": r["id"],
                "answerable": r["answerable"],
                "cited_gold": r["cited_gold"],
                "scores": [round(float(s.score), 4) for s in report.sentences],
            }
        )
    return out, totals


def outcome_at(
    rows: Sequence[dict[str, Any]], totals: dict[str, int], threshold: float, margin: float
) -> dict[str, float]:
    """Shares at one margin: an answer with no sentence at threshold + margin is declined; one with
    any sentence below it carries a mark."""
    firm = threshold + margin
    kept = [r for r in rows if r["scores"] and max(r["scores"]) >= firm]
    good = [r for r in rows if r["answerable"] and r["cited_gold"]]
    bad = [r for r in rows if not (r["answerable"] and r["cited_gold"])]

    def marked(answers: list[dict[str, Any]]) -> int:
        return sum(any(s < firm for s in r["scores"]) for r in answers if r in kept)

    answered = sum(r["answerable"] for r in kept) / max(totals["answerable"], 1)
    declined = 1 - sum(not r["answerable"] for r in kept) / max(totals["unanswerable"], 1)
    return {
        "margin": margin,
        "answered_share": round(answered, 4),
        "declined_share": round(declined, 4),
        "good_answers_marked": round(marked(good) / max(len(good), 1), 4),
        "wrong_answers_marked_or_declined": round(
            (marked(bad) + sum(r not in kept for r in bad)) / max(len(bad), 1), 4
        ),
    }


def choose_margin(rows: Sequence[dict[str, Any]], totals: dict[str, int], threshold: float) -> dict[str, Any]:
    """The margin whose lower share is highest; on a tie the one whose other share is higher, then the
    smaller margin."""
    sweep = [outcome_at(rows, totals, threshold, m) for m in GRID]

    def rank(o: dict[str, float]) -> tuple[float, float, float]:
        shares = sorted((o["answered_share"], o["declined_share"]))
        return shares[0], shares[1], -o["margin"]

    best = max(sweep, key=rank)
    return {
        "chosen": best["margin"],
        "at_chosen": best,
        "at_zero": sweep[0],
        "sweep": sweep,
        "answers": list(rows),
    }
