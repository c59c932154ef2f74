"""Deciding when an answer is a possible hallucination that a person should review."""

from __future__ import annotations

from sqlalchemy.orm import Session

from feedback.models import Flag, Interaction
from feedback.settings import FlagRules


def flag_reasons(interaction: Interaction, rules: FlagRules, *, thumbs_down: bool = False) -> list[str]:
    reasons: list[str] = []
    if thumbs_down and rules.on_thumbs_down:
        reasons.append("thumbs_down")
    if interaction.abstained or interaction.error:
        return reasons
    if interaction.groundedness is not None and interaction.groundedness < rules.min_groundedness:
        reasons.append("low_groundedness")
    if rules.on_unsupported_sentence and interaction.grounding.get("unsupported"):
        reasons.append("unsupported_sentence")
    if rules.on_uncovered_question and interaction.grounding.get("uncovered_terms"):
        reasons.append("question_not_in_sources")
    if rules.on_quoted and interaction.grounding.get("quoted"):
        reasons.append("draft_rejected")
    if rules.on_no_citation and not any(c.citation for c in interaction.chunks):
        reasons.append("no_citation")
    return reasons


def raise_flag(session: Session, interaction: Interaction, reasons: list[str]) -> Flag | None:
    """Open a flag, or add reasons to the open one, so one answer has at most one open flag."""
    if not reasons:
        return None
    for flag in interaction.flags:
        if flag.status == "open":
            flag.reasons = sorted(set(flag.reasons) | set(reasons))
            return flag
    flag = Flag(interaction=interaction, reasons=sorted(set(reasons)))
    session.add(flag)
    session.flush()
    return flag
